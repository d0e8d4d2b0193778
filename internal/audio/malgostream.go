package audio

import (
	"encoding/hex"
	"fmt"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// OpenCapture opens a capture stream on dev (a microphone, or a monitor
// source) and starts it. The zero Device means the system's default
// capture device. Read the samples with the returned stream's Read; close
// it when done.
func (s *System) OpenCapture(dev Device, cfg StreamConfig) (CaptureStream, error) {
	return s.openStream(KindCapture, dev, cfg)
}

// OpenPlayback opens a playback stream on dev and starts it. The zero
// Device means the system's default playback device. Write the samples
// to the returned stream; close it when done.
func (s *System) OpenPlayback(dev Device, cfg StreamConfig) (PlaybackStream, error) {
	return s.openStream(KindPlayback, dev, cfg)
}

// malgoStream is a capture or playback stream on a miniaudio device. Its
// worker goroutine owns a miniaudio context and device of its own (so a
// stream that hangs its backend never blocks the System's listing) and
// makes every backend call: init, start, stop and uninit.
//
//	open ──► worker: init context, init device, start ──► ready
//	Close ──► stop ──► worker: uninit device, uninit context ──► done
//	          (waited for at most StopTimeout; a hung uninit is abandoned)
type malgoStream struct {
	*streamCore
	// cdev is set when the device's data callback is C's (cdevice.go);
	// the worker goroutine owns it.
	cdev *cDevice
	stop chan struct{} // closed by Close: the worker tears down
	done chan struct{} // closed when the worker has returned
}

func (s *System) openStream(kind Kind, dev Device, cfg StreamConfig) (*malgoStream, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if dev.Kind != KindUnknown && dev.Kind != kind {
		return nil, fmt.Errorf("%w: device %q is a %s device, not %s", ErrBadStreamConfig, dev.ID, dev.Kind, kind)
	}
	select {
	case <-s.stop:
		return nil, ErrClosed
	default:
	}
	b := s.currentBackend()
	id, err := encodeID(b, dev.ID)
	if err != nil {
		return nil, err
	}
	st := &malgoStream{
		streamCore: newStreamCore(kind, cfg, s.log.With("stream", kind.String(), "device", dev.ID)),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	ready := make(chan error, 1)
	go st.work(b, id, ready)
	timer := time.NewTimer(s.opts.CallTimeout)
	defer timer.Stop()
	select {
	case err := <-ready:
		if err != nil {
			<-st.done
			return nil, err
		}
	case <-timer.C:
		// The worker tears the device down itself if init ever returns.
		close(st.stop)
		return nil, fmt.Errorf("%w: open %s stream on %q", ErrBackendHung, kind, dev.ID)
	}
	st.startWatchdog()
	return st, nil
}

func (s *System) currentBackend() backend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// work is the stream's worker goroutine.
func (st *malgoStream) work(b backend, id []byte, ready chan<- error) {
	defer close(st.done)
	mctx, dev, err := st.init(b, id)
	ready <- err
	if err != nil {
		return
	}
	<-st.stop
	// Stop before Uninit: miniaudio's uninit does not wake the PulseAudio
	// main loop, which on a stream the server has killed (its device was
	// unplugged) never wakes by itself, so uninit would wait for the audio
	// thread forever. Stop wakes it. Close still waits at most StopTimeout.
	if err := dev.Stop(); err != nil {
		st.log.Debug("audio: stream: stop device", "err", err)
	}
	dev.Uninit()
	if st.cdev != nil {
		st.cdev.uninstall()
	}
	if err := mctx.Uninit(); err != nil {
		st.log.Warn("audio: stream: close context", "err", err)
	}
	mctx.Free()
}

// init opens a context on backend b and a started device on id (nil: the
// default device).
func (st *malgoStream) init(b backend, id []byte) (*malgo.AllocatedContext, *malgo.Device, error) {
	mb, err := malgoBackend(b)
	if err != nil {
		return nil, nil, err
	}
	mctx, unguarded, untuned, err := initContext(mb)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s stream: %v", ErrNoBackend, b, err)
	}
	freeCtx := func() {
		_ = mctx.Uninit()
		mctx.Free()
	}
	if unguarded {
		st.log.Warn("audio: cannot guard this PulseAudio context against a device vanishing while a stream opens")
	}
	if untuned && st.kind == KindPlayback {
		st.log.Warn("audio: cannot set this PulseAudio playback stream's buffering (the sound server will wake it every 5 ms)")
	}
	cfg := st.cfg
	dc := malgo.DefaultDeviceConfig(malgo.Capture)
	sub := &dc.Capture
	if st.kind == KindPlayback {
		dc = malgo.DefaultDeviceConfig(malgo.Playback)
		sub = &dc.Playback
	}
	dc.SampleRate = uint32(cfg.SampleRate)
	dc.PeriodSizeInFrames = uint32(cfg.PeriodFrames())
	if st.kind == KindPlayback {
		// The data callback takes what the sound server asks for (a
		// PulseAudio request is a quarter of a period or less) straight
		// from the ring: miniaudio's own buffer of a whole period in
		// between would hold up to a period more on the receive path.
		dc.NoFixedSizedCallback = 1
	}
	sub.Format = malgo.FormatS16
	sub.Channels = uint32(cfg.Channels)
	if id != nil {
		var mid malgo.DeviceID
		copy(mid[:len(mid)-1], id)
		// miniaudio wants the id in C memory; it copies it during init.
		sub.DeviceID = mid.Pointer()
		defer freeC(sub.DeviceID)
	}
	cb := malgo.DeviceCallbacks{Data: st.capture}
	if st.kind == KindPlayback {
		cb.Data = st.playback
	}
	st.start = time.Now()
	dev, err := malgo.InitDevice(mctx.Context, dc, cb)
	if err != nil {
		freeCtx()
		return nil, nil, fmt.Errorf("audio: %s: open %s device: %w", b, st.kind, err)
	}
	st.cdev = installCallback(dev, st.sh, st.ring)
	if st.cdev == nil {
		st.log.Warn("audio: the device's data callback stays in Go (it costs more CPU)")
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		if st.cdev != nil {
			st.cdev.uninstall()
		}
		freeCtx()
		return nil, nil, fmt.Errorf("audio: %s: start %s device: %w", b, st.kind, err)
	}
	return mctx, dev, nil
}

// capture and playback are miniaudio's data callbacks, on its audio
// thread: they only copy into or out of the ring.
func (st *malgoStream) capture(_, in []byte, _ uint32) {
	if len(in) >= 2 {
		st.onCapture(unsafe.Slice((*int16)(unsafe.Pointer(&in[0])), len(in)/2))
	}
}

func (st *malgoStream) playback(out, _ []byte, _ uint32) {
	if len(out) >= 2 {
		st.onPlayback(unsafe.Slice((*int16)(unsafe.Pointer(&out[0])), len(out)/2))
	}
}

// Close implements Stream.Close.
func (st *malgoStream) Close() error {
	if !st.shut() {
		return nil
	}
	close(st.stop)
	timer := time.NewTimer(st.cfg.StopTimeout)
	defer timer.Stop()
	select {
	case <-st.done:
		return nil
	case <-timer.C:
		st.log.Error("audio: stream did not stop in time: device abandoned", "waited", st.cfg.StopTimeout)
		return fmt.Errorf("%w: stop %s stream", ErrBackendHung, st.kind)
	}
}

func malgoBackend(b backend) (malgo.Backend, error) {
	switch b {
	case backendPulse:
		return malgo.BackendPulseaudio, nil
	case backendALSA:
		return malgo.BackendAlsa, nil
	case backendNull:
		return malgoNull, nil
	default:
		return 0, fmt.Errorf("%w: cannot open backend %s", ErrUnknownBackend, b)
	}
}

// encodeID is the inverse of decodeID: the bytes of a device id, or nil
// for the empty id (the default device).
func encodeID(b backend, id string) ([]byte, error) {
	if id == "" {
		return nil, nil
	}
	if b == backendPulse || b == backendALSA {
		if len(id) >= len(malgo.DeviceID{}) {
			return nil, fmt.Errorf("%w: device id %q too long", ErrBadStreamConfig, id)
		}
		return []byte(id), nil
	}
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) > len(malgo.DeviceID{}) {
		return nil, fmt.Errorf("%w: device id %q is not a %s id", ErrBadStreamConfig, id, b)
	}
	return raw, nil
}

var _ CaptureStream = (*malgoStream)(nil)
var _ PlaybackStream = (*malgoStream)(nil)
