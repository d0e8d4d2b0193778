package phone

import (
	"encoding/json"
	"sync"
	"time"
)

// hub fans events out to subscribers. Each subscriber has its own queue
// that grows as needed, so a slow reader delays only itself and never loses
// an event; the queue is dropped when the subscriber cancels.
type hub struct {
	mu     sync.Mutex
	seq    uint64
	subs   map[*subscriber]struct{}
	closed bool
	now    func() time.Time
}

type subscriber struct {
	out    chan Event
	mu     sync.Mutex
	queue  []Event
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

func newHub(now func() time.Time) *hub {
	return &hub{subs: map[*subscriber]struct{}{}, now: now}
}

// publish queues an event of the given type for every subscriber.
func (h *hub) publish(typ EventType, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		raw = json.RawMessage(`null`)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.seq++
	ev := Event{Seq: h.seq, Time: h.now(), Type: typ.String(), Data: raw}
	for s := range h.subs {
		s.push(ev)
	}
}

// subscribe returns a channel of events from now on and a cancel function.
// The channel is closed after cancel or when the hub closes.
func (h *hub) subscribe() (<-chan Event, func()) { return h.subscribeWith(EventUnknown, nil) }

// subscribeWith is subscribe whose first event, when typ is not unknown, is
// one for this subscriber only (the current state, so a client needs no
// separate request and misses nothing in between).
func (h *hub) subscribeWith(typ EventType, first any) (<-chan Event, func()) {
	s := &subscriber{out: make(chan Event), wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(s.out)
		return s.out, func() {}
	}
	h.subs[s] = struct{}{}
	if typ != EventUnknown {
		raw, err := json.Marshal(first)
		if err != nil {
			raw = json.RawMessage(`null`)
		}
		h.seq++
		s.push(Event{Seq: h.seq, Time: h.now(), Type: typ.String(), Data: raw})
	}
	h.mu.Unlock()
	go s.run()
	var once sync.Once
	return s.out, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.mu.Unlock()
			s.close()
		})
	}
}

// close ends every subscription.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	subs := h.subs
	h.subs = map[*subscriber]struct{}{}
	h.mu.Unlock()
	for s := range subs {
		s.close()
	}
}

func (s *subscriber) push(ev Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
}

// run hands queued events to the reader in order until stopped.
func (s *subscriber) run() {
	defer close(s.done)
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.stop:
				return
			}
		}
		ev := s.queue[0]
		s.queue[0] = Event{} // the backing array must not keep a sent event alive
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil // a burst's queue is freed once it drains
		}
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.stop:
			return
		}
	}
}
