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
// tick.Clock where the system has one (one thread switch a look instead
// of about five: internal/tick).
type watchdogSet struct {
	mu      sync.Mutex
	streams map[*streamCore]struct{}
	running bool
	// clock is the goroutine's clock while it runs on a tick.Clock; a
	// stream that joins makes it expire, as its interval may be
	// shorter than the one waited for. Without one, joined gets a token
	// (never blocking) instead.
	clock  *tick.Clock
	joined chan struct{}
	looked []*streamCore // the goroutine's list of streams to look at
}

var watchdogs = watchdogSet{streams: map[*streamCore]struct{}{}, joined: make(chan struct{}, 1)}

// add watches c.
func (s *watchdogSet) add(c *streamCore) {
	s.mu.Lock()
	s.streams[c] = struct{}{}
	start := !s.running
	s.running = true
	if s.clock != nil {
		s.clock.Expire()
	}
	s.mu.Unlock()
	if start {
		go s.run()
		return
	}
	select {
	case s.joined <- struct{}{}:
	default:
	}
}

// run is the watchdog goroutine: it ends when no stream is watched.
func (s *watchdogSet) run() {
	clock, err := tick.New(time.Hour)
	if err != nil {
		s.runTimer()
		return
	}
	defer clock.Stop()
	s.mu.Lock()
	s.clock = clock
	s.mu.Unlock()
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
		if err := clock.Wait(context.Background()); err != nil {
			// Only Stop ends a wait, and only this goroutine stops
			// the clock: a wait that fails says the descriptor went.
			s.runTimer()
			return
		}
		s.look(time.Now())
	}
}

// runTimer is run on a Go timer, where the system has no tick.Clock.
func (s *watchdogSet) runTimer() {
	s.mu.Lock()
	s.clock = nil
	s.mu.Unlock()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		every, ok := s.interval()
		if !ok {
			return
		}
		t.Reset(every)
		select {
		case <-s.joined:
			continue
		case now := <-t.C:
			s.look(now)
		}
	}
}

// interval is the shortest of the watched streams' intervals; false (and
// the goroutine is over) when none is watched.
func (s *watchdogSet) interval() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.streams) == 0 {
		s.running, s.clock = false, nil
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
