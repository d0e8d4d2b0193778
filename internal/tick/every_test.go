package tick

import (
	"context"
	"testing"
	"time"
)

// TestEvery: f runs every period until it says stop, or until the context
// ends, and never after; on each kind of Clock.
func TestEvery(t *testing.T) {
	clockKinds(t, func(t *testing.T, newClock func(time.Duration) *Clock) {
		const d = 5 * time.Millisecond
		start := time.Now()
		n := 0
		every(t.Context(), newClock(d), func(now time.Time) bool {
			n++
			if now.Before(start.Add(time.Duration(n) * d)) {
				t.Errorf("call %d at %v, before its period", n, now.Sub(start))
			}
			return n < 3
		})
		if n != 3 {
			t.Errorf("f ran %d times, want 3 (it said stop at the third)", n)
		}

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		calls := 0
		go func() {
			defer close(done)
			every(ctx, newClock(d), func(time.Time) bool {
				calls++
				if calls == 2 {
					cancel()
				}
				return true
			})
		}()
		<-done
		if calls != 2 {
			t.Errorf("f ran %d times, want 2: the context ended at the second", calls)
		}
	})
	called := false
	Every(t.Context(), 0, func(time.Time) bool { called = true; return false })
	if called {
		t.Error("Every with no period called f")
	}
}
