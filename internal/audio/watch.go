package audio

import (
	"context"
	"errors"
)

// failuresBeforeEmpty is how many enumerations in a row must fail before
// Watch stops trusting the last device list and reports an empty one: a
// sound server that went away takes its devices with it.
const failuresBeforeEmpty = 2

// Watch reports the devices to onChange: once with the first snapshot,
// then whenever the set of devices, a device's flags or a system default
// changes (not on every poll). It polls every Options.PollInterval and
// blocks until ctx is done (then it returns nil) or the System is closed
// (then it returns ErrClosed). onChange runs on Watch's goroutine.
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
	tick, stopTick := s.opts.ticker(s.opts.PollInterval)
	defer stopTick()
	w := watcher{s: s, onChange: onChange}
	for {
		if err := w.poll(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return ErrClosed
		case <-tick:
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
