package voice

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/audio"
)

// RingerOptions configure a Ringer.
type RingerOptions struct {
	// Devices opens the playback streams. Required.
	Devices Devices
	// Outputs are the devices to ring on (the headset, and speakers when
	// the agent may have taken the headset off). Required.
	Outputs []audio.Device
	// Cadence is the ringing tone; the zero value means DefaultCadence.
	Cadence Cadence
	// DeviceRate is the streams' sample rate; 0 means DefaultDeviceRate.
	DeviceRate int
	// StopTimeout bounds Stop; 0 means DefaultCloseTimeout.
	StopTimeout time.Duration
	// Logger receives the ringer's log lines; nil discards them.
	Logger *slog.Logger
}

// Ringer plays a ring cadence on one or more playback devices until
// stopped. Each device has its own goroutine, paced by its stream; a
// device that is lost stops ringing, the others go on.
type Ringer struct {
	log     *slog.Logger
	timeout time.Duration
	streams []audio.PlaybackStream
	devs    []audio.Device
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	err     error
}

// StartRinger opens every output and starts ringing. Outputs that cannot
// be opened are logged and left out; only when none opens does it fail
// (ErrNoOutput, wrapping the reasons).
func StartRinger(o RingerOptions) (*Ringer, error) {
	if o.Devices == nil || len(o.Outputs) == 0 {
		return nil, fmt.Errorf("%w: ringer needs a device opener and outputs", ErrBadOptions)
	}
	if o.Cadence.Freqs == nil && o.Cadence.On == 0 {
		o.Cadence = DefaultCadence()
	}
	if o.DeviceRate == 0 {
		o.DeviceRate = DefaultDeviceRate
	}
	if err := o.Cadence.Validate(o.DeviceRate); err != nil {
		return nil, err
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultCloseTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Ringer{log: o.Logger, timeout: o.StopTimeout, stop: make(chan struct{})}
	cfg := audio.StreamConfig{SampleRate: o.DeviceRate, Channels: 1, Period: DefaultDevicePeriod,
		BufferPeriods: playbackBufferPeriods}
	var errs []error
	for _, d := range o.Outputs {
		st, err := o.Devices.OpenPlayback(d, cfg)
		if err != nil {
			r.log.Warn("voice: ringer: open output", "device", d.ID, "err", err)
			errs = append(errs, fmt.Errorf("%q: %w", d.ID, err))
			continue
		}
		r.streams = append(r.streams, st)
		r.devs = append(r.devs, d)
	}
	if len(r.streams) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoOutput, errors.Join(errs...))
	}
	for i, st := range r.streams {
		r.wg.Add(1)
		go r.ring(st, r.devs[i], o.Cadence, o.DeviceRate)
	}
	return r, nil
}

// Outputs returns the devices the ringer rings on.
func (r *Ringer) Outputs() []audio.Device { return append([]audio.Device(nil), r.devs...) }

// ring is one device's goroutine.
func (r *Ringer) ring(st audio.PlaybackStream, dev audio.Device, c Cadence, rate int) {
	defer r.wg.Done()
	seq := c.sequence()
	buf := make([]int16, st.Config().PeriodSamples())
	for {
		select {
		case <-r.stop:
			return
		case <-st.Lost():
			r.log.Warn("voice: ringer: output lost", "device", dev.ID, "err", st.Err())
			return
		default:
		}
		seq.render(buf, rate)
		if _, err := st.Write(buf); err != nil {
			select {
			case <-r.stop:
			default:
				r.log.Warn("voice: ringer: output stopped", "device", dev.ID, "err", err)
			}
			return
		}
	}
}

// Stop stops ringing and closes the streams, waiting at most StopTimeout.
// It is idempotent.
func (r *Ringer) Stop() error {
	r.once.Do(func() {
		close(r.stop)
		errc := make(chan error, len(r.streams))
		for _, st := range r.streams {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				errc <- st.Close()
			}()
		}
		done := make(chan struct{})
		go func() {
			r.wg.Wait()
			close(done)
		}()
		timer := time.NewTimer(r.timeout)
		defer timer.Stop()
		var errs []error
		select {
		case <-done:
			for range r.streams {
				if err := <-errc; err != nil {
					errs = append(errs, fmt.Errorf("voice: ringer: close stream: %w", err))
				}
			}
		case <-timer.C:
			errs = append(errs, fmt.Errorf("%w: ringer after %s", ErrCloseTimeout, r.timeout))
		}
		r.err = errors.Join(errs...)
	})
	return r.err
}
