package tick

import "errors"

var (
	// ErrStopped is Wait's answer once the clock is stopped.
	ErrStopped = errors.New("tick: clock stopped")
	// ErrUnsupported is New's answer where the system has no such
	// clock: use time.Ticker.
	ErrUnsupported = errors.New("tick: no pollable clock on this system")
)
