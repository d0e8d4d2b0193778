package audio

import (
	"context"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/tick"
)

// watchdogSet looks at the frame counters of every watched stream of the
// process on one goroutine, at the shortest of their intervals; the
// goroutine runs while a stream is watched.
//
// Why one goroutine: a goroutine of each stream's own, woken every 75 ms
// at the default stall timeout, made two of a call's streams 27 timer
// wake-ups a second, about a fifth of the events that woke a call's Go
// side; every one of them costs the Go scheduler several thread wake-ups
// on an otherwise idle machine. For the same reason it waits on a
// tick.Clock (on Linux a timerfd: one thread switch a look instead of
// about five, internal/tick).
type watchdogSet struct {
	mu      sync.Mutex
	streams map[*streamCore]struct{}
	// clock is the goroutine's clock while it runs (nil: none runs); a
	// stream that joins makes it expire, as its interval may be shorter
	// than the one waited for.
	clock  *tick.Clock
	looked []*streamCore // the goroutine's list of streams to look at
}

var watchdogs = watchdogSet{streams: map[*streamCore]struct{}{}}

// add watches c.
func (s *watchdogSet) add(c *streamCore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[c] = struct{}{}
	if s.clock != nil {
		s.clock.Expire()
		return
	}
	clock, err := tick.New(c.watchdogInterval())
	if err != nil {
		// A stream's interval is never zero (watchdogInterval): a
		// clock that cannot be is a bug.
		panic(err)
	}
	s.clock = clock
	go s.run(clock)
}

// run is the watchdog goroutine, on its clock: it ends (and stops the
// clock) when no stream is watched.
func (s *watchdogSet) run(clock *tick.Clock) {
	defer clock.Stop()
	var every time.Duration
	for {
		next, ok := s.interval()
		if !ok {
			return
		}
		if next != every {
			clock.Reset(next)
			every = next
		}
		// Only Stop ends a wait, and only this goroutine stops the
		// clock.
		_ = clock.Wait(context.Background())
		s.look(time.Now())
	}
}

// interval is the shortest of the watched streams' intervals; false (and
// the goroutine is over) when none is watched.
func (s *watchdogSet) interval() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.streams) == 0 {
		s.clock = nil
		return 0, false
	}
	every := time.Duration(0)
	for c := range s.streams {
		if d := c.watchdogInterval(); every == 0 || d < every {
			every = d
		}
	}
	return every, true
}

// look has every watched stream looked at, outside the set's lock (a
// stream found lost runs its OnLost, which may close streams), and drops
// the streams no longer watched: lost, or closed since (shut).
func (s *watchdogSet) look(now time.Time) {
	s.mu.Lock()
	s.looked = s.looked[:0]
	for c := range s.streams {
		s.looked = append(s.looked, c)
	}
	s.mu.Unlock()
	for i, c := range s.looked {
		if !c.watch(now) {
			s.mu.Lock()
			delete(s.streams, c)
			s.mu.Unlock()
		}
		s.looked[i] = nil
	}
}
