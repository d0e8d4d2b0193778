package tick

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStopped is Wait's answer once the clock is stopped.
var ErrStopped = errors.New("tick: clock stopped")

// errNoPeriod is New's answer to a period that is not positive.
var errNoPeriod = errors.New("tick: non-positive interval")

// Clock is a periodic clock one goroutine waits on: the system's
// pollable clock where there is one (a timerfd on Linux), else a
// time.Ticker behind the same methods. Its methods may be called from any
// goroutine.
type Clock struct {
	sys    *sysClock    // nil: the clock is the Go timer below
	period atomic.Int64 // ns

	t *time.Ticker
	// rephase is the period the Go timer takes up again at its next
	// tick, after Phase gave it a first interval of its own; 0 none.
	rephase atomic.Int64
	expired chan struct{} // Expire's tick, one at most
	stopped chan struct{}
	once    sync.Once
}

// New starts a clock expiring every d from now, as time.NewTicker does.
// Its one error is a period that is not positive.
func New(d time.Duration) (*Clock, error) {
	if d <= 0 {
		return nil, errNoPeriod
	}
	var c *Clock
	if s, err := newSysClock(d); err == nil {
		c = &Clock{sys: s}
	} else {
		c = newTimerClock(d)
	}
	c.period.Store(int64(d))
	return c, nil
}

// newTimerClock is a Clock on a time.Ticker.
func newTimerClock(d time.Duration) *Clock {
	c := &Clock{t: time.NewTicker(d), expired: make(chan struct{}, 1), stopped: make(chan struct{})}
	c.period.Store(int64(d))
	return c
}

// OnGoTimer reports whether a Go timer wakes the clock's waits (no
// pollable clock on this system).
func (c *Clock) OnGoTimer() bool { return c.sys == nil }

// Wait returns at the clock's next expiry, or at once when one is due.
// Expiries missed while nobody waited count as one, as time.Ticker drops
// the ticks its channel has no room for. It returns ctx's cause when ctx
// ends first (a tick already due is still served), ErrStopped once Stop
// was called.
func (c *Clock) Wait(ctx context.Context) error {
	if c.sys != nil {
		return c.sys.wait(ctx)
	}
	select {
	case <-c.stopped:
		return ErrStopped
	default:
	}
	// An ended context is ready at once: its case serves a tick due.
	select {
	case <-c.t.C:
		c.rephased()
		return nil
	case <-c.expired:
		return nil
	case <-ctx.Done():
		if c.due() {
			return nil
		}
		return context.Cause(ctx)
	case <-c.stopped:
		return ErrStopped
	}
}

// rephased has the Go timer take up its period again after the first
// interval Phase gave it.
func (c *Clock) rephased() {
	if d := c.rephase.Swap(0); d > 0 {
		c.t.Reset(time.Duration(d))
	}
}

// due takes a tick of the Go timer's already due, never waiting.
func (c *Clock) due() bool {
	select {
	case <-c.t.C:
		c.rephased()
		return true
	case <-c.expired:
		return true
	default:
		return false
	}
}

// Reset rearms the clock to expire every d from now; a d that is not
// positive leaves it as it was.
func (c *Clock) Reset(d time.Duration) {
	if d <= 0 {
		return
	}
	c.period.Store(int64(d))
	if c.sys != nil {
		c.sys.reset(d, d)
		return
	}
	c.rephase.Store(0)
	c.t.Reset(d)
}

// Phase rearms the clock so that its ticks fall at at plus whole
// periods, the first of them after now; the period is unchanged. On the
// Go timer the ticks after the first count their period from the moment
// the first was taken.
func (c *Clock) Phase(at time.Time) {
	d := time.Duration(c.period.Load())
	first := time.Until(at) % d
	if first <= 0 {
		first += d
	}
	if c.sys != nil {
		c.sys.reset(first, d)
		return
	}
	c.rephase.Store(int64(d))
	c.t.Reset(first)
}

// Expire makes the clock expire at once (a Wait under way returns), its
// period unchanged.
func (c *Clock) Expire() {
	if c.sys != nil {
		c.sys.expire()
		return
	}
	select {
	case c.expired <- struct{}{}:
	default:
	}
}

// Stop stops the clock: a Wait under way or to come returns ErrStopped.
// It is safe to call more than once.
func (c *Clock) Stop() {
	if c.sys != nil {
		c.sys.stop()
		return
	}
	c.once.Do(func() {
		c.t.Stop()
		close(c.stopped)
	})
}
