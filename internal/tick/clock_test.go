package tick

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// clockKinds runs test on each kind of Clock: the system's (where there
// is one) and the Go timer that New falls back to.
func clockKinds(t *testing.T, test func(t *testing.T, newClock func(time.Duration) *Clock)) {
	for _, k := range []struct {
		name string
		new  func(time.Duration) *Clock
	}{
		{"system", func(d time.Duration) *Clock {
			c, err := New(d)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"timer", newTimerClock},
	} {
		t.Run(k.name, func(t *testing.T) {
			test(t, func(d time.Duration) *Clock {
				c := k.new(d)
				t.Cleanup(c.Stop)
				return c
			})
		})
	}
}

// TestClockKinds: New gives the system's clock on Linux, a Go timer
// elsewhere.
func TestClockKinds(t *testing.T) {
	c, err := New(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if got, want := c.OnGoTimer(), runtime.GOOS != "linux"; got != want {
		t.Errorf("OnGoTimer %v on %s, want %v", got, runtime.GOOS, want)
	}
	if !newTimerClock(time.Hour).OnGoTimer() {
		t.Error("a time.Ticker clock says it is not on a Go timer")
	}
}

// TestClockTicks: the clock never ticks before its time, and expiries
// missed while nobody waits count as one tick, as time.Ticker's do.
func TestClockTicks(t *testing.T) {
	clockKinds(t, func(t *testing.T, newClock func(time.Duration) *Clock) {
		const d = 10 * time.Millisecond
		start := time.Now()
		c := newClock(d)
		ctx := t.Context()
		for i := 1; i <= 5; i++ {
			if err := c.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if e := time.Since(start); e < time.Duration(i)*d {
				t.Fatalf("tick %d after %v, before its time", i, e)
			}
		}
		// Ten expiries pass unread: one tick at once, the next at its time.
		time.Sleep(10 * d)
		before := time.Since(start)
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		next := (before/d + 1) * d
		if e := time.Since(start); e < next {
			t.Errorf("second tick after the pause at %v, before the next expiry %v: missed expiries were ticks of their own", e, next)
		}
	})
}

// TestClockContext: a context's end interrupts a wait with its cause, a
// tick already due is served even then, and a later wait with another
// context is not interrupted by the first one's end.
func TestClockContext(t *testing.T) {
	clockKinds(t, func(t *testing.T, newClock func(time.Duration) *Clock) {
		c := newClock(time.Hour)
		ctx, cancel := context.WithCancelCause(t.Context())
		cause := errors.New("call ended")
		got := make(chan error, 1)
		go func() { got <- c.Wait(ctx) }()
		cancel(cause)
		if err := <-got; !errors.Is(err, cause) {
			t.Fatalf("wait on an ended context: %v, want %v", err, cause)
		}
		c.Expire()
		if err := c.Wait(ctx); err != nil {
			t.Errorf("a tick due on an ended context: %v, want it served", err)
		}
		if err := c.Wait(ctx); !errors.Is(err, cause) {
			t.Errorf("no tick due, ended context: %v, want %v", err, cause)
		}
		c.Reset(5 * time.Millisecond)
		for i := range 3 {
			if err := c.Wait(t.Context()); err != nil {
				t.Fatalf("wait %d with a live context after an ended one: %v", i, err)
			}
		}
	})
}

// TestClockExpire: Expire ends a wait under way at once; the period goes
// on as it was.
func TestClockExpire(t *testing.T) {
	clockKinds(t, func(t *testing.T, newClock func(time.Duration) *Clock) {
		c := newClock(time.Hour)
		got := make(chan error, 1)
		go func() { got <- c.Wait(t.Context()) }()
		c.Expire()
		if err := <-got; err != nil {
			t.Fatalf("wait under Expire: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("after Expire, an hour's clock ticked again: %v", err)
		}
	})
}

// TestClockStop: Stop ends a wait under way and every one after.
func TestClockStop(t *testing.T) {
	clockKinds(t, func(t *testing.T, newClock func(time.Duration) *Clock) {
		c := newClock(time.Hour)
		got := make(chan error, 1)
		go func() { got <- c.Wait(t.Context()) }()
		// Stop whether or not the goroutine waits yet: both must end.
		c.Stop()
		if err := <-got; !errors.Is(err, ErrStopped) {
			t.Errorf("wait under Stop: %v, want ErrStopped", err)
		}
		if err := c.Wait(t.Context()); !errors.Is(err, ErrStopped) {
			t.Errorf("wait after Stop: %v, want ErrStopped", err)
		}
		c.Stop() // twice is harmless
	})
}

// TestNewRefusesNoPeriod: a clock needs a period.
func TestNewRefusesNoPeriod(t *testing.T) {
	if _, err := New(0); err == nil {
		t.Error("New(0) made a clock")
	}
}

// TestClockPhase: Phase moves the ticks to a given instant plus whole
// periods, the first after now, and leaves the period as it was.
func TestClockPhase(t *testing.T) {
	clockKinds(t, func(t *testing.T, newClock func(time.Duration) *Clock) {
		c := newClock(time.Hour)
		at := time.Now().Add(10 * time.Millisecond)
		c.Phase(at)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("an hour's clock phased 10 ms ahead did not tick: %v", err)
		}
		if now := time.Now(); now.Before(at) {
			t.Errorf("tick %v before the instant phased to", at.Sub(now))
		}
		short, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel2()
		if err := c.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("after the phased tick, an hour's clock ticked again: %v", err)
		}

		// An instant in the past: the next of its periods.
		const d = 100 * time.Millisecond
		c.Reset(d)
		past := time.Now().Add(-d + 5*time.Millisecond)
		c.Phase(past)
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); now.Before(past.Add(d)) {
			t.Errorf("tick %v before the first period after the instant", past.Add(d).Sub(now))
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); now.Before(past.Add(2 * d)) {
			t.Errorf("second tick %v before its period", past.Add(2*d).Sub(now))
		}
	})
}
