package audio

import (
	"testing"
	"time"
	"unsafe"
)

// TestSettle: at the end of a window of callbacks, a playback stream's
// standing queue is trimmed down to the margin when the least any
// callback of the window left is at least twice the margin; a callback
// that found samples written less than the lead before it counts what it
// left without them (a later write would not have been there in time).
// What goes is counted as trimmed.
func TestSettle(t *testing.T) {
	const (
		keep   = 24 // samples: 3 ms at 8 kHz
		lead   = 3 * time.Millisecond
		window = 50
		period = int64(20 * time.Millisecond)
	)
	type callback struct {
		lead time.Duration // since the last write; -1: no write since the last callback
		left uint64
	}
	steady := func(lead time.Duration, left uint64) []callback {
		cb := make([]callback, window)
		for i := range cb {
			cb[i] = callback{lead, left}
		}
		return cb
	}
	with := func(cb []callback, i int, c callback) []callback { cb[i] = c; return cb }
	for _, tt := range []struct {
		name string
		cbs  []callback
		drop uint64
	}{
		{"writes well ahead, a frame standing", steady(5*time.Millisecond, 160), 160 - keep},
		{"least left counts", with(steady(5*time.Millisecond, 160), 17, callback{5 * time.Millisecond, 100}), 100 - keep},
		{"callbacks without a write between", with(steady(5*time.Millisecond, 160), 30, callback{-1, 150}), 150 - keep},
		{"a write too close to its callback", with(steady(5*time.Millisecond, 160), 49, callback{2 * time.Millisecond, 160}), 0},
		{"a write too close, more standing", with(steady(5*time.Millisecond, 160), 49, callback{2 * time.Millisecond, 300}), 140 - keep},
		{"an underrun", with(steady(5*time.Millisecond, 160), 3, callback{5 * time.Millisecond, 0}), 0},
		{"little standing", steady(5*time.Millisecond, 2*keep-1), 0},
		{"just enough standing", steady(5*time.Millisecond, 2*keep), keep},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newShared(640, 1, false, 0, keep, lead)
			now, w := int64(1e9), uint64(0)
			for round := range 2 {
				var dropped uint64
				for i, c := range tt.cbs {
					now += period
					if c.lead >= 0 {
						w += 160
						*(*int64)(unsafe.Pointer(&s.written_ns)) = now - int64(c.lead)
					}
					d := settleStep(s, now, w, c.left)
					if d != 0 && i != window-1 {
						t.Fatalf("round %d: dropped %d at callback %d, before the window's end", round, d, i)
					}
					dropped += d
				}
				if dropped != tt.drop {
					t.Errorf("round %d: dropped %d, want %d", round, dropped, tt.drop)
				}
				if got := uint64(s.trimmed); got != uint64(round+1)*tt.drop {
					t.Errorf("round %d: trimmed counter %d, want %d", round, got, uint64(round+1)*tt.drop)
				}
			}
		})
	}
}
