package audio

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultBackstopInterval is how often Watch lists the devices while
	// the sound server reports its changes.
	DefaultBackstopInterval = 3 * time.Second
	// DefaultDebounce is how long Watch waits after a server event before
	// it lists the devices, so a burst of events costs one listing.
	DefaultDebounce    = 30 * time.Millisecond
	DefaultCallTimeout = 3 * time.Second
	// defaultRetryInterval is how often an "auto" System that fell back to
	// the null backend looks for a real sound system again: a restarted
	// sound server is back in the daemon's device list within this. A
	// failed try is a refused socket connect.
	defaultRetryInterval = 2 * time.Second
	defaultSoundDir      = "/dev/snd"
)

// Options configure a System. The zero value is usable.
type Options struct {
	// Backend is "auto" (the default when empty), "pulseaudio", "alsa"
	// or "null".
	Backend string
	// PollInterval is how often Watch lists the devices when it has no
	// change events from the sound server; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// BackstopInterval is how often Watch lists the devices while the
	// sound server reports its changes (in case one was missed); 0 means
	// DefaultBackstopInterval.
	BackstopInterval time.Duration
	// NoServerEvents makes Watch poll every PollInterval instead of
	// following the sound server's change events.
	NoServerEvents bool
	// Logger receives the package's log lines; nil discards them.
	Logger *slog.Logger
	// OnError, when set, is called by Watch with every failed
	// enumeration (from Watch's goroutine). Errors are also logged.
	OnError func(error)
	// CallTimeout bounds every call into the backend (open, enumerate,
	// close); 0 means DefaultCallTimeout. A call that takes longer
	// returns ErrBackendHung.
	CallTimeout time.Duration

	// soundDir replaces /dev/snd in tests.
	soundDir string
	// open replaces the malgo backends in tests.
	open openFunc
	// ticker replaces time.NewTicker in tests.
	ticker func(time.Duration) (<-chan time.Time, func())
	// retryInterval replaces defaultRetryInterval in tests.
	retryInterval time.Duration
	// subscribeArgv is the server-event command (pactl subscribe).
	subscribeArgv []string
	// debounce replaces DefaultDebounce in tests.
	debounce time.Duration
}

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.soundDir == "" {
		o.soundDir = defaultSoundDir
	}
	if o.open == nil {
		o.open = openMalgo
	}
	if o.ticker == nil {
		o.ticker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if o.retryInterval <= 0 {
		o.retryInterval = defaultRetryInterval
	}
	if o.BackstopInterval <= 0 {
		o.BackstopInterval = DefaultBackstopInterval
	}
	if o.subscribeArgv == nil {
		o.subscribeArgv = []string{"pactl", "subscribe"}
	}
	if o.debounce <= 0 {
		o.debounce = DefaultDebounce
	}
	return o
}

// System is an open connection to the machine's sound system. Its methods
// are safe for concurrent use. All backend calls run on one worker
// goroutine owned by the System, so a backend call that hangs never blocks
// a caller for longer than Options.CallTimeout.
type System struct {
	opts Options
	want backend // as asked: backendAuto or a forced backend
	log  *slog.Logger

	reqs chan request
	stop chan struct{}
	done chan struct{} // closed when the worker has returned

	mu      sync.Mutex
	current backend                    // the backend in use
	subs    map[*subscription]struct{} // Watch's server-event children; nil once closed

	closeOnce sync.Once
	closeErr  error
}

type request struct {
	reply chan result // buffered: a late worker never blocks on it
}

type result struct {
	snap Snapshot
	err  error
}

// Open connects to the sound system. With Backend "auto" it tries
// PulseAudio (which also covers PipeWire's PulseAudio server), then ALSA
// when the machine has a sound card (a PCM device node in /dev/snd), then
// miniaudio's null backend, so Open succeeds on a machine without any
// sound system; Snapshot then says Null=true and Backend "null". A forced
// backend that cannot be opened is an error wrapping ErrNoBackend.
// The first Open tags every PulseAudio stream the process opens with
// StreamProperties (media.role "phone").
func Open(o Options) (*System, error) {
	want, err := parseBackend(o.Backend)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	tagStreams()
	s := &System{
		opts: o,
		want: want,
		log:  o.Logger,
		reqs: make(chan request),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		subs: map[*subscription]struct{}{},
	}
	opened := make(chan error, 1)
	go s.work(opened)
	timer := time.NewTimer(o.CallTimeout)
	defer timer.Stop()
	select {
	case err := <-opened:
		if err != nil {
			<-s.done
			return nil, err
		}
	case <-timer.C:
		close(s.stop)
		return nil, fmt.Errorf("%w: open %s", ErrBackendHung, want)
	}
	return s, nil
}

// Backend returns the name of the backend in use: "pulseaudio", "alsa" or
// "null".
func (s *System) Backend() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current.String()
}

func (s *System) setCurrent(b backend) {
	s.mu.Lock()
	s.current = b
	s.mu.Unlock()
}

// Snapshot lists the capture and playback devices now. It returns
// ErrBackendHung when the backend does not answer within
// Options.CallTimeout and ErrClosed after Close.
func (s *System) Snapshot() (Snapshot, error) {
	req := request{reply: make(chan result, 1)}
	timer := time.NewTimer(s.opts.CallTimeout)
	defer timer.Stop()
	select {
	case s.reqs <- req:
	case <-s.stop:
		return Snapshot{}, ErrClosed
	case <-timer.C:
		return Snapshot{}, fmt.Errorf("%w: an earlier call on %s is still running", ErrBackendHung, s.Backend())
	}
	select {
	case r := <-req.reply:
		return r.snap, r.err
	case <-timer.C:
		return Snapshot{}, fmt.Errorf("%w: listing devices on %s", ErrBackendHung, s.Backend())
	}
}

// Close frees the backend's context and ends Watch's server-event child
// (killed and reaped before Close returns). It is idempotent: later calls return
// nil. When a backend call is stuck, Close gives up after
// Options.CallTimeout and returns ErrBackendHung; the context is then
// freed by the worker if the stuck call ever returns.
func (s *System) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		close(s.stop)
		s.stopSubs()
		timer := time.NewTimer(s.opts.CallTimeout)
		defer timer.Stop()
		select {
		case <-s.done:
		case <-timer.C:
			s.closeErr = fmt.Errorf("%w: close %s", ErrBackendHung, s.Backend())
		}
	})
	if !first {
		return nil
	}
	return s.closeErr
}

// work is the System's worker goroutine: it owns the lister, serves
// requests one at a time until stop is closed, and closes the lister on
// the way out. Its result of the first open goes to opened.
func (s *System) work(opened chan<- error) {
	defer close(s.done)
	l, fellBack, err := s.openBackend()
	opened <- err
	if err != nil {
		return
	}
	lastTry := time.Now()
	defer func() {
		if l != nil {
			if err := l.close(); err != nil {
				s.log.Warn("audio: close backend", "err", err)
			}
		}
	}()
	for {
		select {
		case <-s.stop:
			return
		case req := <-s.reqs:
			// An "auto" System that fell back to the null backend looks
			// for a real sound system again now and then, so a sound
			// server started after the daemon is picked up.
			if fellBack && time.Since(lastTry) >= s.opts.retryInterval {
				lastTry = time.Now()
				if nl, fb, err := s.openBackend(); err == nil && !fb {
					if l != nil {
						_ = l.close()
					}
					l, fellBack = nl, false
					s.log.Info("audio: sound system found", "backend", s.Backend())
				} else if err == nil {
					_ = nl.close()
				}
			}
			if l == nil {
				// The last enumeration failed: reconnect (a restarted
				// sound server needs a new context).
				nl, fb, err := s.openBackend()
				if err != nil {
					req.reply <- result{err: err}
					continue
				}
				l, fellBack = nl, fb
			}
			snap, err := l.list()
			if err != nil {
				_ = l.close()
				l = nil
			}
			req.reply <- result{snap: snap, err: err}
		}
	}
}

// openBackend opens the wanted backend; for "auto" it applies the
// fallback order and reports whether it ended on the null backend.
func (s *System) openBackend() (lister, bool, error) {
	if s.want != backendAuto {
		l, err := s.opts.open(s.want)
		if err != nil {
			return nil, false, err
		}
		s.setCurrent(s.want)
		return l, false, nil
	}
	var reasons []error
	l, err := s.opts.open(backendPulse)
	if err == nil {
		s.setCurrent(backendPulse)
		return l, false, nil
	}
	reasons = append(reasons, err)
	card, err := hasSoundCard(s.opts.soundDir)
	switch {
	case err != nil:
		reasons = append(reasons, err)
	case !card:
		reasons = append(reasons, fmt.Errorf("audio: alsa: no sound card (no PCM device in %s)", s.opts.soundDir))
	default:
		l, err := s.opts.open(backendALSA)
		if err == nil {
			s.setCurrent(backendALSA)
			return l, false, nil
		}
		reasons = append(reasons, err)
	}
	l, err = s.opts.open(backendNull)
	if err != nil {
		reasons = append(reasons, err)
		return nil, false, errors.Join(reasons...)
	}
	if s.current != backendNull {
		s.log.Warn("audio: no sound server or sound card: using the null backend (no real devices)",
			"reasons", errors.Join(reasons...).Error())
	}
	s.setCurrent(backendNull)
	return l, true, nil
}
