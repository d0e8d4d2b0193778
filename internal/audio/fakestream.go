package audio

import (
	"log/slog"
	"sync"
	"time"
)

// FakeOptions shape a FakeStream.
type FakeOptions struct {
	// Source makes each period of a fake capture stream (it is handed a
	// zeroed period to fill); nil captures silence.
	Source func(period []int16)
	// Sink sees each period a fake playback stream plays (the slice is
	// reused after Sink returns); nil discards them.
	Sink func(period []int16)
	// Ticks, when set, drives the stream instead of a real ticker every
	// Period: each receive is one period. Tests use it to step a stream.
	Ticks <-chan time.Time
	// Logger receives the stream's log lines; nil discards them.
	Logger *slog.Logger
}

// FakeStream is a capture or playback stream without a device, for tests
// of the layers above: it moves one period through the same ring buffer
// and counters as a real stream every time it ticks (every Period of real
// time unless FakeOptions.Ticks drives it). Unplug makes it behave like
// a stream whose device vanished. It implements CaptureStream and
// PlaybackStream (Read only works on a capture stream, Write only on a
// playback stream).
type FakeStream struct {
	*streamCore
	opts FakeOptions
	stop chan struct{}
	wg   sync.WaitGroup

	unplugOnce sync.Once
	unplug     chan struct{}
}

// NewFakeCapture starts a fake capture stream.
func NewFakeCapture(cfg StreamConfig, o FakeOptions) (*FakeStream, error) {
	return newFake(KindCapture, cfg, o)
}

// NewFakePlayback starts a fake playback stream.
func NewFakePlayback(cfg StreamConfig, o FakeOptions) (*FakeStream, error) {
	return newFake(KindPlayback, cfg, o)
}

func newFake(kind Kind, cfg StreamConfig, o FakeOptions) (*FakeStream, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := &FakeStream{
		streamCore: newStreamCore(kind, cfg, o.Logger),
		opts:       o,
		stop:       make(chan struct{}),
		unplug:     make(chan struct{}),
	}
	ticks, stopTicks := o.Ticks, func() {}
	if ticks == nil {
		t := time.NewTicker(cfg.Period)
		ticks, stopTicks = t.C, t.Stop
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer stopTicks()
		f.run(ticks)
	}()
	return f, nil
}

// run is the fake's device side: one period per tick.
func (f *FakeStream) run(ticks <-chan time.Time) {
	period := make([]int16, f.cfg.PeriodSamples())
	for {
		select {
		case <-f.stop:
			return
		case <-f.unplug:
			f.declareLost("fake device unplugged")
			<-f.stop
			return
		case <-ticks:
		}
		if f.kind == KindCapture {
			clear(period)
			if f.opts.Source != nil {
				f.opts.Source(period)
			}
			f.onCapture(period)
			continue
		}
		f.onPlayback(period)
		if f.opts.Sink != nil {
			f.opts.Sink(period)
		}
	}
}

// Unplug makes the fake device vanish: it stops ticking and the stream
// reports ErrDeviceLost (Lost, Err, OnLost) as a real one would once its
// watchdog fires.
func (f *FakeStream) Unplug() {
	f.unplugOnce.Do(func() { close(f.unplug) })
}

// Close implements Stream.Close.
func (f *FakeStream) Close() error {
	if !f.shut() {
		return nil
	}
	close(f.stop)
	if !f.inOnLost.Load() { // Close from OnLost runs on the fake's goroutine
		f.wg.Wait()
	}
	return nil
}

var _ CaptureStream = (*FakeStream)(nil)
var _ PlaybackStream = (*FakeStream)(nil)
