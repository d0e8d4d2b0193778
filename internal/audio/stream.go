package audio

import (
	"fmt"
	"time"
)

// Defaults for StreamConfig.
const (
	DefaultSampleRate    = 48000
	DefaultChannels      = 1
	DefaultPeriod        = 20 * time.Millisecond
	DefaultBufferPeriods = 10
	// DefaultStallTimeout is how long a started stream may go without a
	// frame before its watchdog declares the device lost. PulseAudio
	// hands frames over at least every few tens of milliseconds once a
	// stream runs.
	DefaultStallTimeout = 300 * time.Millisecond
	// DefaultStartGrace is how long a new stream may take to deliver its
	// first steady frames (playback into a PulseAudio null sink pauses
	// for about 1.5 s after the first period; see the package doc).
	DefaultStartGrace = 3 * time.Second
	// DefaultStopTimeout bounds Close's wait for the backend to stop and
	// uninitialise the device.
	DefaultStopTimeout = time.Second
)

// StreamConfig is the format and timing of a capture or playback stream.
// The zero value asks for 48 kHz mono S16 with 20 ms periods.
type StreamConfig struct {
	// SampleRate in Hz; 0 means DefaultSampleRate. The backend converts
	// from the device's own rate.
	SampleRate int
	// Channels is 1 or 2 (samples interleaved); 0 means DefaultChannels.
	Channels int
	// Period is the device's period (the size of one data callback);
	// 0 means DefaultPeriod.
	Period time.Duration
	// BufferPeriods is the size of the stream's ring buffer in periods;
	// 0 means DefaultBufferPeriods. It bounds the latency a slow reader
	// or an eager writer can build up.
	BufferPeriods int
	// StallTimeout, StartGrace and StopTimeout: 0 means the defaults
	// above.
	StallTimeout, StartGrace, StopTimeout time.Duration
	// MaxQueued bounds the latency of a playback stream: when more than
	// this is queued behind the samples a data callback takes, the oldest
	// excess is dropped there (a backlog left by a device that stalled, or
	// a writer running slightly faster than the device). 0 means no bound.
	// Capture streams ignore it.
	MaxQueued time.Duration
	// OnLost, when set, is called once (from the stream's watchdog
	// goroutine) when the watchdog finds the device gone; the error
	// wraps ErrDeviceLost. Lost() and Err() report the same.
	OnLost func(error)
}

func (c StreamConfig) withDefaults() (StreamConfig, error) {
	if c.SampleRate == 0 {
		c.SampleRate = DefaultSampleRate
	}
	if c.Channels == 0 {
		c.Channels = DefaultChannels
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	if c.BufferPeriods == 0 {
		c.BufferPeriods = DefaultBufferPeriods
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.StartGrace == 0 {
		c.StartGrace = DefaultStartGrace
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	switch {
	case c.SampleRate < 8000 || c.SampleRate > 192000:
		return c, fmt.Errorf("%w: sample rate %d (want 8000..192000)", ErrBadStreamConfig, c.SampleRate)
	case c.Channels < 1 || c.Channels > 2:
		return c, fmt.Errorf("%w: %d channels (want 1 or 2)", ErrBadStreamConfig, c.Channels)
	case c.Period < time.Millisecond || c.Period > time.Second:
		return c, fmt.Errorf("%w: period %s (want 1ms..1s)", ErrBadStreamConfig, c.Period)
	case c.BufferPeriods < 2:
		return c, fmt.Errorf("%w: %d buffer periods (want at least 2)", ErrBadStreamConfig, c.BufferPeriods)
	case c.StallTimeout < 0 || c.StartGrace < 0 || c.StopTimeout < 0:
		return c, fmt.Errorf("%w: negative timeout", ErrBadStreamConfig)
	}
	return c, nil
}

// PeriodFrames is the number of frames in one period.
func (c StreamConfig) PeriodFrames() int {
	return int(int64(c.SampleRate) * int64(c.Period) / int64(time.Second))
}

// PeriodSamples is the number of samples (frames × channels) in one
// period: the size of one Read or Write the media path makes per ptime
// when Period is the ptime.
func (c StreamConfig) PeriodSamples() int { return c.PeriodFrames() * c.Channels }

// StreamStats count what a stream has moved so far.
type StreamStats struct {
	// Frames is the number of frames the device processed (captured or
	// played), counted in the data callback.
	Frames uint64
	// Callbacks is the number of data callbacks.
	Callbacks uint64
	// Overruns counts samples captured while the ring buffer was full
	// (the reader is too slow): they were dropped.
	Overruns uint64
	// Underruns counts samples the device wanted while the ring buffer
	// was empty (the writer is too slow): silence was played instead.
	Underruns uint64
	// Trimmed counts queued samples dropped to keep a playback stream
	// within MaxQueued.
	Trimmed uint64
	// RealTime reports that the device's audio thread runs with a
	// real-time priority (see realtimePriority), known from its first
	// callback on.
	RealTime bool
	// FirstFrame is the time from Start to the first data callback, and
	// Steady the time from Start until frames flowed steadily (the
	// watchdog armed); zero until then.
	FirstFrame, Steady time.Duration
}

// Stream is what capture and playback streams have in common.
type Stream interface {
	// Kind is KindCapture or KindPlayback.
	Kind() Kind
	// Config is the stream's config with the defaults filled in.
	Config() StreamConfig
	// Lost is closed when the watchdog finds the device gone.
	Lost() <-chan struct{}
	// Err is nil while the stream runs, an error wrapping ErrDeviceLost
	// once it is lost, and ErrStreamClosed after Close.
	Err() error
	// Stats returns the counters so far.
	Stats() StreamStats
	// Close stops the stream and frees the device. It is idempotent and
	// never blocks longer than StopTimeout: a backend that does not stop
	// in time is abandoned (and logged) and Close returns an error
	// wrapping ErrBackendHung.
	Close() error
}

// CaptureStream delivers the frames a capture device records.
type CaptureStream interface {
	Stream
	// Read fills p with the next captured samples (interleaved when
	// Channels is 2), waiting until len(p) samples are there. It returns
	// early with an error when the stream is lost or closed.
	Read(p []int16) (int, error)
	// ReadReady fills p with the next captured samples when len(p) of
	// them are there, and reports whether it did, without waiting. It
	// returns an error when the stream is lost or closed.
	ReadReady(p []int16) (bool, error)
}

// PlaybackStream plays the samples written to it.
type PlaybackStream interface {
	Stream
	// Write queues p for playback, waiting while the ring buffer is full
	// (so a writer is paced by the device). It returns early with an
	// error when the stream is lost or closed. When nothing is queued
	// the device plays silence (counted as underruns).
	Write(p []int16) (int, error)
	// WriteWithin is Write waiting at most d for room (not at all when d
	// is 0, without a bound when it is negative): what does not fit by
	// then is not queued, and n < len(p).
	WriteWithin(p []int16, d time.Duration) (int, error)
}
