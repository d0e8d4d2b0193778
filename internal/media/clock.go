package media

import (
	"time"

	"github.com/softphone/softphone/internal/tick"
)

// playoutClock is the sessions' default playout clock: a tick.Clock,
// which ReadFrame waits on directly (waitClock), so that a tick wakes one
// thread instead of the five a Go timer's costs (internal/tick).
type playoutClock struct{ *tick.Clock }

// C is nil: a playoutClock is waited on, not read from a channel.
func (playoutClock) C() <-chan time.Time { return nil }

// newPlayoutClock is the sessions' default PlayoutTicker: a tick.Clock
// firing every d, or time.Ticker where the system has none.
func newPlayoutClock(d time.Duration) Ticker {
	if c, err := tick.New(d); err == nil {
		return playoutClock{c}
	}
	return NewTimeTicker(d)
}
