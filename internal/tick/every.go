package tick

import (
	"context"
	"time"
)

// Every calls f every d until ctx ends or f returns false, and then
// returns. f is never called once ctx has ended. A d that is not
// positive returns at once.
func Every(ctx context.Context, d time.Duration, f func(now time.Time) bool) {
	c, err := New(d)
	if err != nil {
		return
	}
	every(ctx, c, f)
}

// every is Every on the clock c, which it stops.
func every(ctx context.Context, c *Clock, f func(now time.Time) bool) {
	defer c.Stop()
	for c.Wait(ctx) == nil && ctx.Err() == nil {
		if !f(time.Now()) {
			return
		}
	}
}
