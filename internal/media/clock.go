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
// firing every d.
func newPlayoutClock(d time.Duration) Ticker {
	c, err := tick.New(d)
	if err != nil {
		// A ptime is never zero (ptimeOf): a clock that cannot be
		// is a bug, not a condition to live with.
		panic(err)
	}
	return playoutClock{c}
}
