package audio

import (
	"sync"
	"time"
)

// watchdogSet looks at the frame counters of every watched stream of the
// process on one goroutine, at the shortest of their intervals; the
// goroutine runs while a stream is watched.
//
// Why one goroutine: a goroutine of each stream's own, woken every 75 ms
// at the default stall timeout, made two of a call's streams 27 timer
// wake-ups a second, about a fifth of the events that woke a call's Go
// side; every one of them costs the Go scheduler several thread wake-ups
// on an otherwise idle machine.
type watchdogSet struct {
	mu      sync.Mutex
	streams map[*streamCore]struct{}
	running bool
	// joined gets a token (never blocking) when a stream joins: its
	// interval may be shorter than the one waited for.
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
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		if len(s.streams) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		every := time.Duration(0)
		for c := range s.streams {
			if d := c.watchdogInterval(); every == 0 || d < every {
				every = d
			}
		}
		s.mu.Unlock()
		t.Reset(every)
		select {
		case <-s.joined:
			continue
		case now := <-t.C:
			s.look(now)
		}
	}
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
