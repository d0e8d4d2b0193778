package audio

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// streamCore is the part of a stream that does not depend on the backend:
// the ring buffer between the device side (miniaudio's audio thread, or
// the fake's ticker) and the caller's Read or Write, the counters, and
// the watchdog.
//
//	capture:  device ──► onCapture ──► ring ──► Read
//	playback: Write ──► ring ──► onPlayback ──► device
//
// The device side never blocks: it copies into or out of the ring and
// bumps atomic counters, in C (cdevice.go) whether a real device's
// callback calls it there or the fake's goroutine through onCapture and
// onPlayback, which also poke a one-slot channel. A real device's
// callback pokes nothing: the Read or Write side looks again when the
// next callback is due.
type streamCore struct {
	kind Kind
	cfg  StreamConfig
	log  *slog.Logger
	ring *ring
	// sh holds the ring's positions and the counters, shared with the
	// device side.
	sh *streamShared

	start     time.Time
	startMono int64        // monoNow at start
	steady    atomic.Int64 // ns after start; 0 = not yet

	// moved gets a token (never blocking) after every data callback in
	// Go: the Read or Write side waits on it.
	moved chan struct{}
	// timer paces the Read or Write side's looks (one side per stream).
	timer *time.Timer

	lost     chan struct{} // closed by declareLost
	lostOnce sync.Once
	closed   chan struct{} // closed by shut
	shutOnce sync.Once

	mu  sync.Mutex
	err error

	// wdMu is held while the watchdog looks at the stream; wd is its
	// state, nil when the stream is not watched.
	wdMu sync.Mutex
	wd   *watchdog
	// inOnLost is set while OnLost runs on the watchdog goroutine, so a
	// Close called from OnLost does not wait for the watchdog's look.
	inOnLost atomic.Bool
}

// callbackSlack is how long after a device callback is due wait looks:
// the callback's own run and the timer's lateness.
const callbackSlack = 500 * time.Microsecond

func newStreamCore(kind Kind, cfg StreamConfig, log *slog.Logger) *streamCore {
	maxQueued := int(int64(cfg.SampleRate)*int64(cfg.MaxQueued)/int64(time.Second)) * cfg.Channels
	sh, r := newShared(cfg.PeriodSamples()*cfg.BufferPeriods, cfg.Channels, kind == KindCapture, maxQueued)
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &streamCore{
		kind:      kind,
		cfg:       cfg,
		log:       log,
		sh:        sh,
		ring:      r,
		start:     time.Now(),
		startMono: monoNow(),
		moved:     make(chan struct{}, 1),
		timer:     t,
		lost:      make(chan struct{}),
		closed:    make(chan struct{}),
	}
}

func (c *streamCore) Kind() Kind            { return c.kind }
func (c *streamCore) Config() StreamConfig  { return c.cfg }
func (c *streamCore) Lost() <-chan struct{} { return c.lost }

func (c *streamCore) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *streamCore) Stats() StreamStats {
	return StreamStats{
		Frames:     atomic.LoadUint64(u64(&c.sh.frames)),
		Callbacks:  atomic.LoadUint64(u64(&c.sh.callbacks)),
		Overruns:   atomic.LoadUint64(u64(&c.sh.overruns)),
		Underruns:  atomic.LoadUint64(u64(&c.sh.underruns)),
		Trimmed:    atomic.LoadUint64(u64(&c.sh.trimmed)),
		RealTime:   realtimeOf(c.sh),
		FirstFrame: firstFrameSince(c.sh, c.startMono),
		Steady:     time.Duration(c.steady.Load()),
	}
}

// onCapture takes one callback's worth of captured samples (the device
// side, in Go) and wakes the Read side.
func (c *streamCore) onCapture(in []int16) {
	deviceCapture(c.sh, c.ring, in, c.cfg.Channels)
	c.poke()
}

// onPlayback fills one callback's worth of samples to play (the device
// side, in Go) and wakes the Write side.
func (c *streamCore) onPlayback(out []int16) {
	devicePlayback(c.sh, c.ring, out, c.cfg.Channels)
	c.poke()
}

func (c *streamCore) poke() {
	select {
	case c.moved <- struct{}{}:
	default:
	}
}

// Read implements CaptureStream.Read. One goroutine at a time may read.
func (c *streamCore) Read(p []int16) (int, error) {
	if c.kind != KindCapture {
		return 0, fmt.Errorf("audio: read from a %s stream", c.kind)
	}
	return c.move(p, c.ring.read, time.Time{})
}

// ReadReady implements CaptureStream.ReadReady.
func (c *streamCore) ReadReady(p []int16) (bool, error) {
	if c.kind != KindCapture {
		return false, fmt.Errorf("audio: read from a %s stream", c.kind)
	}
	if err := c.ended(); err != nil {
		return false, err
	}
	if c.ring.readable() < len(p) {
		return false, nil
	}
	c.ring.read(p)
	return true, nil
}

// Write implements PlaybackStream.Write. One goroutine at a time may
// write.
func (c *streamCore) Write(p []int16) (int, error) {
	return c.WriteWithin(p, -1)
}

// WriteWithin implements PlaybackStream.WriteWithin.
func (c *streamCore) WriteWithin(p []int16, d time.Duration) (int, error) {
	if c.kind != KindPlayback {
		return 0, fmt.Errorf("audio: write to a %s stream", c.kind)
	}
	var until time.Time
	if d >= 0 {
		until = time.Now().Add(d)
	}
	return c.move(p, c.ring.write, until)
}

// ended is the error of a lost or closed stream, nil while it runs.
func (c *streamCore) ended() error {
	select {
	case <-c.lost:
		return c.Err()
	case <-c.closed:
		return ErrStreamClosed
	default:
		return nil
	}
}

// move moves all of p through the ring with op (its read or write),
// waiting for the device side in between, until the time until when it is
// not zero (then it returns what it moved by then).
func (c *streamCore) move(p []int16, op func([]int16) int, until time.Time) (int, error) {
	n := 0
	for {
		n += op(p[n:])
		if n == len(p) {
			return n, nil
		}
		limit := c.cfg.Period
		if !until.IsZero() {
			if limit = min(limit, time.Until(until)); limit <= 0 {
				return n, nil
			}
		}
		if err := c.wait(len(p)-n, limit); err != nil {
			return n, err
		}
	}
}

// wait blocks until the device side moved samples (a callback in Go),
// a callback in C (which pokes nothing) has had time to, the stream
// ended, or limit (at most a period) passed. The next C callback is
// expected when the last one's frames have played (nextCallback); before
// the first, or when it is late, wait looks again after the time the need
// samples take at the stream's rate (at least a millisecond).
func (c *streamCore) wait(need int, limit time.Duration) error {
	d := time.Duration(int64(need/c.cfg.Channels) * int64(time.Second) / int64(c.cfg.SampleRate))
	d = min(max(d, time.Millisecond), limit)
	if next, ok := nextCallback(c.sh, c.cfg.SampleRate); ok && next > 0 {
		d = min(next+callbackSlack, limit)
	}
	c.timer.Reset(d)
	defer c.timer.Stop()
	select {
	case <-c.timer.C:
		return nil
	case <-c.moved:
		return nil
	case <-c.lost:
		return c.Err()
	case <-c.closed:
		return ErrStreamClosed
	}
}

// declareLost marks the stream lost once: Err, Lost and OnLost report it.
func (c *streamCore) declareLost(why string) {
	c.lostOnce.Do(func() {
		err := fmt.Errorf("%w: %s", ErrDeviceLost, why)
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
		close(c.lost)
		c.log.Warn("audio: stream device lost", "kind", c.kind, "why", why)
		if c.cfg.OnLost != nil {
			c.inOnLost.Store(true)
			c.cfg.OnLost(err)
			c.inOnLost.Store(false)
		}
	})
}

// shut marks the stream closed and stops the watchdog; it reports
// whether this was the first call.
func (c *streamCore) shut() bool {
	first := false
	c.shutOnce.Do(func() {
		first = true
		c.mu.Lock()
		c.err = ErrStreamClosed
		c.mu.Unlock()
		close(c.closed)
		// The watchdog drops the stream at its next look (watch).
		if !c.inOnLost.Load() {
			c.wdMu.Lock()
			c.wd = nil
			c.wdMu.Unlock()
		}
	})
	return first
}

// watchdog states what the frame counter has shown so far.
type watchdog struct {
	cfg          StreamConfig
	start        time.Time
	lastFrames   uint64
	lastProgress time.Time
	steadyChecks int // checks in a row that saw frames move
	armed        bool
}

// steadyChecksToArm is how many checks in a row must see frames move
// before the watchdog trusts the stream to be running steadily.
const steadyChecksToArm = 3

// check looks at the frame counter at time now. It returns armedNow when
// the stream has just been found steady, and lost when an armed stream
// has not moved for StallTimeout. Before the stream is steady, StartGrace
// is allowed; after it the watchdog arms regardless.
func (w *watchdog) check(now time.Time, frames uint64) (armedNow, lost bool) {
	if frames != w.lastFrames {
		w.lastFrames, w.lastProgress = frames, now
		w.steadyChecks++
	} else {
		w.steadyChecks = 0
	}
	if !w.armed && (w.steadyChecks >= steadyChecksToArm || now.Sub(w.start) >= w.cfg.StartGrace) {
		w.armed, armedNow = true, w.steadyChecks >= steadyChecksToArm
	}
	return armedNow, w.armed && now.Sub(w.lastProgress) >= w.cfg.StallTimeout
}

// watchdogInterval is how often the watchdog looks at the counter.
func (c *streamCore) watchdogInterval() time.Duration {
	return max(min(c.cfg.StallTimeout/4, 100*time.Millisecond), 5*time.Millisecond)
}

// startWatchdog puts the stream under the frame-counter watchdog until
// shut (watchdogs.go). PulseAudio kills a stream pinned to a device that
// goes away and miniaudio's stop callback does not fire: the data
// callbacks just stop, so a counter that no longer moves is the only sign.
func (c *streamCore) startWatchdog() {
	c.wdMu.Lock()
	c.wd = &watchdog{cfg: c.cfg, start: c.start, lastProgress: c.start}
	c.wdMu.Unlock()
	watchdogs.add(c)
}

// watch is the watchdog's look at the stream at now; it reports whether
// the stream is still watched.
func (c *streamCore) watch(now time.Time) bool {
	c.wdMu.Lock()
	defer c.wdMu.Unlock()
	w := c.wd
	if w == nil {
		return false
	}
	armedNow, lost := w.check(now, atomic.LoadUint64(u64(&c.sh.frames)))
	if armedNow {
		c.steady.Store(max(int64(now.Sub(c.start)), 1))
	}
	if lost {
		c.wd = nil
		c.declareLost(fmt.Sprintf("no frames for %s", now.Sub(w.lastProgress).Round(time.Millisecond)))
		return false
	}
	return true
}
