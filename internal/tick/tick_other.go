//go:build !linux

package tick

import (
	"context"
	"errors"
	"time"
)

// sysClock: elsewhere than Linux there is no pollable clock, and a Clock
// is a time.Ticker (New).
type sysClock struct{}

func newSysClock(time.Duration) (*sysClock, error) {
	return nil, errors.New("tick: no pollable clock on this system")
}

func (*sysClock) wait(context.Context) error { return ErrStopped }
func (*sysClock) reset(_, _ time.Duration)   {}
func (*sysClock) expire()                    {}
func (*sysClock) stop()                      {}
