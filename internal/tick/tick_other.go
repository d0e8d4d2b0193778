//go:build !linux

package tick

import (
	"context"
	"time"
)

// Clock is a periodic clock; elsewhere than Linux there is none (New).
type Clock struct{}

// New returns ErrUnsupported: only Linux has the clock.
func New(time.Duration) (*Clock, error) { return nil, ErrUnsupported }

// Wait returns ErrStopped.
func (*Clock) Wait(context.Context) error { return ErrStopped }

// Reset does nothing.
func (*Clock) Reset(time.Duration) {}

// Stop does nothing.
func (*Clock) Stop() {}
