package tick

import (
	"context"
	"time"
)

// Every calls f every d until ctx ends or f returns false, and then
// returns: on a Clock where the system has one, on a time.Ticker
// elsewhere. f is never called once ctx has ended.
func Every(ctx context.Context, d time.Duration, f func(now time.Time) bool) {
	c, err := New(d)
	if err != nil {
		everyTicker(ctx, d, f)
		return
	}
	defer c.Stop()
	for c.Wait(ctx) == nil && ctx.Err() == nil {
		if !f(time.Now()) {
			return
		}
	}
}

// everyTicker is Every on a time.Ticker.
func everyTicker(ctx context.Context, d time.Duration, f func(now time.Time) bool) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if ctx.Err() != nil || !f(now) {
				return
			}
		}
	}
}
