package audio

import (
	"context"
	"errors"
	"time"
)

// failuresBeforeEmpty is how many enumerations in a row must fail before
// Watch stops trusting the last device list and reports an empty one: a
// sound server that went away takes its devices with it.
const failuresBeforeEmpty = 2

// Watch reports the devices to onChange: once with the first snapshot,
// then whenever the set of devices, a device's flags or a system default
// changes (not on every listing). It blocks until ctx is done (then it
// returns nil) or the System is closed (then it returns ErrClosed).
// onChange runs on Watch's goroutine.
//
// On PulseAudio, Watch runs `pactl subscribe` as a child process and
// lists the devices DefaultDebounce after the server reports a sink,
// source or server change, and every BackstopInterval in case an event
// was missed. Without pactl, with NoServerEvents, on other backends, or
// once the child has died, it lists every PollInterval instead (and logs
// why); it tries to subscribe again every few seconds. The child is
// killed and reaped when Watch returns and on Close.
//
// A failed enumeration never stops the watch: it goes to Options.OnError
// and the log, and after failuresBeforeEmpty failures in a row Watch
// reports an empty snapshot (same Backend, no devices) once. A backend call
// that hangs is bounded by Options.CallTimeout.
func (s *System) Watch(ctx context.Context, onChange func(Snapshot)) error {
	select {
	case <-s.stop:
		return ErrClosed
	default:
	}
	w := watcher{s: s, onChange: onChange}
	defer w.unsubscribe()
	w.subscribe()
	tick, stopTick := s.opts.ticker(w.interval())
	defer func() { stopTick() }()
	var debounce <-chan time.Time
	due := true // list the devices at the top of the loop
	for {
		if due {
			if err := w.poll(); err != nil {
				return err
			}
			due = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return ErrClosed
		case <-tick:
			due = true
			if w.sub == nil && time.Since(w.lastTry) >= s.opts.retryInterval && w.subscribe() {
				stopTick()
				tick, stopTick = s.opts.ticker(w.interval())
			}
		case <-w.events():
			// Collect the burst a change makes (a headset is a sink, its
			// monitor and a source) into one listing.
			if debounce == nil {
				debounce = time.After(s.opts.debounce)
			}
		case <-debounce:
			debounce, due = nil, true
		case <-w.subDone():
			s.log.Warn("audio: pactl subscribe ended: polling for device changes",
				"why", w.sub.exitReason(), "every", s.opts.PollInterval)
			w.unsubscribe()
			stopTick()
			tick, stopTick = s.opts.ticker(w.interval())
			due = true // the server may have gone with it
		}
	}
}

// watcher holds what one Watch call has reported so far.
type watcher struct {
	s        *System
	onChange func(Snapshot)
	last     Snapshot
	have     bool // last was reported
	fails    int  // enumerations failed in a row

	sub      *subscription // nil when polling fast
	lastTry  time.Time     // last attempt to subscribe
	warnedNo bool          // "no server events" was logged at Warn
}

// interval is the time between listings: the backstop while subscribed,
// the poll interval otherwise.
func (w *watcher) interval() time.Duration {
	if w.sub != nil {
		return w.s.opts.BackstopInterval
	}
	return w.s.opts.PollInterval
}

func (w *watcher) events() <-chan struct{} {
	if w.sub == nil {
		return nil
	}
	return w.sub.events
}

func (w *watcher) subDone() <-chan struct{} {
	if w.sub == nil {
		return nil
	}
	return w.sub.done
}

// subscribe starts the server-event child when the backend has one; it
// reports whether a subscription now runs.
func (w *watcher) subscribe() bool {
	s := w.s
	if s.opts.NoServerEvents || s.Backend() != BackendPulseAudio {
		return false
	}
	w.lastTry = time.Now()
	sub, err := startSubscription(s.opts.subscribeArgv)
	if err != nil {
		if !w.warnedNo {
			s.log.Warn("audio: no sound server events: polling for device changes",
				"err", err, "every", s.opts.PollInterval)
			w.warnedNo = true
		} else {
			s.log.Debug("audio: still no sound server events", "err", err)
		}
		return false
	}
	if !s.addSub(sub) { // the System was closed meanwhile
		sub.stop()
		return false
	}
	w.sub, w.warnedNo = sub, false
	s.log.Debug("audio: watching sound server events", "pid", sub.pid(), "backstop", s.opts.BackstopInterval)
	return true
}

// unsubscribe kills and reaps the child, if one runs. The child leaves
// the System's set only once reaped: a Close racing with this finds it
// there and waits for the same stop, so Close never returns before it.
func (w *watcher) unsubscribe() {
	if w.sub == nil {
		return
	}
	w.sub.stop()
	w.s.removeSub(w.sub)
	w.sub = nil
}

// poll lists the devices once and reports a change; it returns an error
// only when the System is closed.
func (w *watcher) poll() error {
	snap, err := w.s.Snapshot()
	if errors.Is(err, ErrClosed) {
		return err
	}
	if err != nil {
		w.fails++
		w.s.reportError(err, w.fails)
		if w.fails >= failuresBeforeEmpty && (!w.have || !w.last.empty()) {
			empty := Snapshot{Backend: w.s.Backend()}
			empty.Null = empty.Backend == BackendNull
			w.report(empty)
		}
		return nil
	}
	if w.fails > 0 {
		w.s.log.Info("audio: device listing works again", "backend", snap.Backend)
	}
	w.fails = 0
	if !w.have || !snap.Equal(w.last) {
		w.report(snap)
	}
	return nil
}

func (w *watcher) report(snap Snapshot) {
	w.last, w.have = snap, true
	w.onChange(snap)
}

func (s Snapshot) empty() bool { return len(s.Capture) == 0 && len(s.Playback) == 0 }

// reportError hands a failed enumeration to Options.OnError and logs it:
// at Warn on the first failure of a run, at Debug after that.
func (s *System) reportError(err error, inARow int) {
	if s.opts.OnError != nil {
		s.opts.OnError(err)
	}
	if inARow == 1 {
		s.log.Warn("audio: device listing failed", "err", err)
	} else {
		s.log.Debug("audio: device listing failed", "err", err, "in_a_row", inARow)
	}
}

// addSub records a running subscription so Close can end it; it reports
// false when the System is already closed.
func (s *System) addSub(sub *subscription) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		return false
	}
	s.subs[sub] = struct{}{}
	return true
}

func (s *System) removeSub(sub *subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.subs, sub)
}

// stopSubs kills and reaps every running subscription and refuses new
// ones; Close calls it.
func (s *System) stopSubs() {
	s.mu.Lock()
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for sub := range subs {
		sub.stop()
	}
}
