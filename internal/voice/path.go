package voice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/dsp"
	"github.com/softphone/softphone/internal/media"
)

// Devices opens device streams; *audio.System implements it.
type Devices interface {
	OpenCapture(audio.Device, audio.StreamConfig) (audio.CaptureStream, error)
	OpenPlayback(audio.Device, audio.StreamConfig) (audio.PlaybackStream, error)
}

// Media is the call's RTP session as the path uses it; *media.Session
// implements it. WriteFrame takes one packet time of PCM at
// Negotiated().Codec.SampleRate (interleaved when Codec.Channels is 2);
// ReadFrame returns one, paced by the session's playout clock.
type Media interface {
	WriteFrame(samples []int16) error
	ReadFrame(ctx context.Context) ([]int16, error)
	Negotiated() media.Negotiated
}

// silenceWriter is implemented by media.Session: WriteSilence advances the
// RTP clock over frames that are not sent (mute, hold), so the timestamps
// keep counting real time (RFC 3550 §5.1) and the next packet starts a
// talkspurt (RFC 3551 §4.1).
type silenceWriter interface {
	WriteSilence(samples int) error
}

// mutedWriter is implemented by media.Session: WriteMuted stands for a
// frame of a muted microphone, sending comfort noise (RFC 3389) at level
// or encoded silence, so the peer keeps receiving RTP. A Media without it
// gets frames of digital silence through WriteFrame.
type mutedWriter interface {
	WriteMuted(samples int, level uint8) error
}

// Defaults for Options.
const (
	DefaultDeviceRate = 48000
	// DefaultDevicePeriod is one packet time. Half of it (10 ms) took
	// 14 ms off the receive path (4a: 37 against 51 ms; the send path is
	// 6 ms either way), but PulseAudio then wakes the phone and itself
	// four times as often: with twelve agents on a 2-core host, each in
	// a call through a sound server of its own, the host was 44-49 %
	// busy and calls had dropouts, against 28-29 % and none with 20 ms
	// (BENCHMARKS.md, figure 9). Both directions stay within their goals
	// with 20 ms (4a, 4b).
	DefaultDevicePeriod = 20 * time.Millisecond
	DefaultCloseTimeout = 3 * time.Second
	// DefaultPlaybackLatency keeps one packet time (at the usual 20 ms
	// ptime) queued behind the period playing: frames arrive a packet at
	// a time, so a smaller bound would drop audio whenever a packet
	// lands just before a device callback.
	DefaultPlaybackLatency = 20 * time.Millisecond
	// captureBufferPeriods bounds what the capture ring holds (200 ms at
	// 20 ms periods) and playbackBufferPeriods the playback queue (80 ms;
	// beyond PlaybackLatency it is dropped at the device).
	captureBufferPeriods  = 10
	playbackBufferPeriods = 4
	// defaultPTime is the packet time when the negotiation gave none.
	defaultPTime = 20
)

// Options configure a Path.
type Options struct {
	// Devices opens the streams; it may be nil only when Input and
	// Output are nil and SwitchDevices is never called with a device.
	Devices Devices
	// Media is the call's RTP session. Required.
	Media Media
	// Input and Output are the devices to use; nil means none: the path
	// runs without (see the package doc) and Stats says so.
	Input, Output *audio.Device
	// Logger receives the path's log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock of the gap and latency figures; nil means
	// time.Now.
	Now func() time.Time
	// DeviceRate is the sample rate the device streams run at; 0 means
	// DefaultDeviceRate (48 kHz). The devices run mono.
	DeviceRate int
	// DevicePeriod is the device streams' period; 0 means
	// DefaultDevicePeriod.
	DevicePeriod time.Duration
	// CloseTimeout bounds Close; 0 means DefaultCloseTimeout.
	CloseTimeout time.Duration
	// PlaybackLatency bounds what waits for the playback device: older
	// queued audio is dropped at the device (a backlog left by its
	// start-up stall, or a session clock slightly faster than the
	// device's). 0 means DefaultPlaybackLatency; negative means no bound.
	PlaybackLatency time.Duration
	// OnDeviceLost, when set, is called once for every device found lost
	// (its stream's Lost channel closed), on the path's goroutine: it must return quickly and must not call Close. The path
	// goes on without the device until SwitchDevices.
	OnDeviceLost func(kind audio.Kind, dev audio.Device, err error)
	// OnSent, when set, is called for every frame handed to
	// Media.WriteFrame: captured is when the frame's last samples were
	// taken from the capture stream (or the silence was due), sent
	// when WriteFrame returned. It runs on the path's goroutine.
	OnSent func(captured, sent time.Time)
	// OnPlayed, when set, is called for every frame written to a
	// playback device: decoded is when Media.ReadFrame returned it,
	// played when the playback stream took it. It runs on the path's
	// goroutine.
	OnPlayed func(decoded, played time.Time)
	// Processing says which parts of the voice processing stage run on
	// the captured audio: echo cancellation (fed with what the playback
	// device is handed), noise suppression, gain control. The zero value
	// runs none and the stage is left out (see processing.go).
	Processing dsp.Settings
}

// Stats are a Path's counters.
type Stats struct {
	// Input and Output say what each side runs on now.
	Input, Output DeviceState
	// FramesSent counts frames handed to Media.WriteFrame; FramesSilent
	// those among them that were silence because no capture device was
	// there; FramesWithheld the frames of the microphone not sent because
	// of mute or hold; FramesMuted the muted ones among them for which
	// silence or comfort noise went out instead (a muted call keeps
	// sending, so that the peer's RTP timeout does not end it; a held one
	// sends nothing, RTCP goes on).
	FramesSent, FramesSilent, FramesWithheld, FramesMuted uint64
	// FramesPlayed counts frames written to a playback device;
	// FramesDropped those received while no playback device was there.
	FramesPlayed, FramesDropped uint64
	// DTMFDigits counts digits sent in band.
	DTMFDigits uint64
	// DevicesLost counts devices found lost.
	DevicesLost uint64
	// Switches counts SwitchDevices calls that changed a device.
	Switches uint64
	// OutputGap is the audio gap of the last output switch: from the last
	// frame handed to the old device to the first frame handed to the new
	// one; OutputMaxGap the largest so far. InputGap and InputMaxGap are
	// the same for capture (last frame read from the old device, first
	// from the new one). Zero until measured.
	OutputGap, OutputMaxGap, InputGap, InputMaxGap time.Duration
	// InputFramesMissed is the number of packet times left without
	// captured audio by input switches, in total.
	InputFramesMissed uint64
	// OutputTrimmed is the received audio the playback devices dropped
	// to keep within PlaybackLatency (a backlog after a device stalled);
	// OutputUnderrun the silence they played because nothing was queued
	// in time. Both in total over the path's devices, as audio time.
	OutputTrimmed, OutputUnderrun time.Duration
}

// side is one direction's device: the stream, the device it runs on and a
// generation that changes with every swap or loss.
type side struct {
	kind   audio.Kind
	dev    audio.Device
	state  DeviceState
	gen    uint64
	last   time.Time // last frame moved with this side's device
	gapSet bool      // a switch happened: measure the gap at the next frame
	gapOf  time.Time // last frame of the old device
	// exactly one of cap and play is used, by kind
	cap  audio.CaptureStream
	play audio.PlaybackStream
}

func (s *side) stream() audio.Stream {
	if s.cap != nil {
		return s.cap
	}
	if s.play != nil {
		return s.play
	}
	return nil
}

// Path is the audio of one call between the agent's devices and the call's
// RTP session. Its methods are safe for concurrent use.
type Path struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	in, out side
	stats   Stats // gap, switch and loss fields; counters below
	dtmf    []*dtmfJob
	zip     *zipJob
	closed  bool

	muted, held     atomic.Bool
	micGain         atomic.Int32 // volume 0-100
	spkGain         atomic.Int32
	sent, silent    atomic.Uint64
	withheld        atomic.Uint64
	mutedSent       atomic.Uint64
	played, dropped atomic.Uint64
	// outTrimmed and outUnderrun count samples at the device rate: see
	// Stats.OutputTrimmed and OutputUnderrun.
	outTrimmed, outUnderrun atomic.Uint64
	digits                  atomic.Uint64

	stop   chan struct{} // closed by Close
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the path's goroutine
	bg     sync.WaitGroup // background closes of replaced streams

	closeOnce sync.Once
	closeErr  error

	// dsp is the voice processing stage; nil when off. Its capture side
	// is the path goroutine's, which closes it; see processing.go.
	dsp *dsp.Processor
}

// dtmfJob is digits waiting to be sent in band.
type dtmfJob struct {
	seq      *toneSeq
	n        int
	done     chan struct{}
	canceled atomic.Bool
}

// zipJob is a zip tone waiting to be played.
type zipJob struct {
	seq     *toneSeq
	done    chan struct{}
	at      time.Time // when it was asked for
	started bool      // its first samples are out: it plays to the end
}

// Start opens the devices and starts the path's goroutine. It fails
// when Media is missing or a device cannot be opened; nothing is left
// running then.
func Start(o Options) (*Path, error) {
	if o.Media == nil {
		return nil, fmt.Errorf("%w: no media session", ErrBadOptions)
	}
	if o.Devices == nil && (o.Input != nil || o.Output != nil) {
		return nil, fmt.Errorf("%w: devices given without a device opener", ErrBadOptions)
	}
	if o.DeviceRate == 0 {
		o.DeviceRate = DefaultDeviceRate
	}
	if o.DeviceRate < 8000 || o.DeviceRate > 192000 {
		return nil, fmt.Errorf("%w: device rate %d", ErrBadOptions, o.DeviceRate)
	}
	if o.DevicePeriod <= 0 {
		o.DevicePeriod = DefaultDevicePeriod
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Path{
		opts: o,
		log:  o.Logger,
		now:  o.Now,
		in:   side{kind: audio.KindCapture, state: DeviceNone},
		out:  side{kind: audio.KindPlayback, state: DeviceNone},
		stop: make(chan struct{}),
	}
	p.micGain.Store(100)
	p.spkGain.Store(100)
	dp, err := newProcessing(o)
	if err != nil {
		return nil, err
	}
	capSt, playSt, err := p.open(o.Input, o.Output)
	if err != nil {
		dp.Close()
		return nil, err
	}
	p.dsp = dp
	if capSt != nil {
		p.in.cap, p.in.dev, p.in.state = capSt, *o.Input, DeviceOpen
	} else {
		p.log.Info("voice: no capture device: sending silence")
	}
	if playSt != nil {
		p.out.play, p.out.dev, p.out.state = playSt, *o.Output, DeviceOpen
	} else {
		p.log.Info("voice: no playback device: received audio is dropped")
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// streamConfig is the config of a device stream of kind k.
func (p *Path) streamConfig(k audio.Kind) audio.StreamConfig {
	c := audio.StreamConfig{SampleRate: p.opts.DeviceRate, Channels: 1, Period: p.opts.DevicePeriod,
		BufferPeriods: captureBufferPeriods}
	if k == audio.KindPlayback {
		c.BufferPeriods = playbackBufferPeriods
		switch l := p.opts.PlaybackLatency; {
		case l == 0:
			c.MaxQueued = DefaultPlaybackLatency
		case l > 0:
			c.MaxQueued = l
		}
	}
	return c
}

// open opens the streams of the devices given (nil: none); on failure
// the ones opened are closed again.
func (p *Path) open(in, out *audio.Device) (audio.CaptureStream, audio.PlaybackStream, error) {
	var c audio.CaptureStream
	var pl audio.PlaybackStream
	if (in != nil || out != nil) && p.opts.Devices == nil {
		return nil, nil, fmt.Errorf("%w: no device opener", ErrBadOptions)
	}
	if in != nil {
		var err error
		if c, err = p.opts.Devices.OpenCapture(*in, p.streamConfig(audio.KindCapture)); err != nil {
			return nil, nil, fmt.Errorf("voice: open capture device %q: %w", in.ID, err)
		}
	}
	if out != nil {
		var err error
		if pl, err = p.opts.Devices.OpenPlayback(*out, p.streamConfig(audio.KindPlayback)); err != nil {
			if c != nil {
				p.closeLater(c)
			}
			return nil, nil, fmt.Errorf("voice: open playback device %q: %w", out.ID, err)
		}
	}
	return c, pl, nil
}

// closeLater closes a stream off the audio path; audio's Close is bounded
// by the stream's StopTimeout.
func (p *Path) closeLater(st audio.Stream) {
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		if err := st.Close(); err != nil {
			p.log.Warn("voice: close replaced stream", "kind", st.Kind(), "err", err)
		}
	}()
}

// SwitchDevices moves the path to new devices mid-call: in and out are
// opened first, then swapped in between two frames; the old streams are
// closed in the background. A nil device leaves that side as it is. When
// a device cannot be opened nothing changes and the error says which. The
// RTP session is not touched.
func (p *Path) SwitchDevices(in, out *audio.Device) error {
	if in == nil && out == nil {
		return nil
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return ErrClosed
	}
	c, pl, err := p.open(in, out)
	if err != nil {
		return err
	}
	var old []audio.Stream
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		for _, st := range []audio.Stream{c, pl} {
			if st != nil {
				p.closeLater(st)
			}
		}
		return ErrClosed
	}
	if c != nil {
		if st := p.in.stream(); st != nil {
			old = append(old, st)
		}
		p.swap(&p.in, *in)
		p.in.cap = c
	}
	if pl != nil {
		if st := p.out.stream(); st != nil {
			old = append(old, st)
		}
		p.swap(&p.out, *out)
		p.out.play = pl
	}
	p.stats.Switches++
	p.mu.Unlock()
	for _, st := range old {
		p.closeLater(st)
	}
	p.log.Info("voice: devices switched", "input", devID(in), "output", devID(out))
	return nil
}

// swap makes s ready for a new device; p.mu is held.
func (p *Path) swap(s *side, dev audio.Device) {
	s.gen++
	p.dsp.Reset() // a new device pair is a new echo path
	if s.kind == audio.KindPlayback {
		p.dsp.ResetReference()
	}
	s.cap, s.play = nil, nil
	s.dev, s.state = dev, DeviceOpen
	s.gapSet = !s.last.IsZero()
	s.gapOf = s.last
}

func devID(d *audio.Device) string {
	if d == nil {
		return "(unchanged)"
	}
	return d.ID
}

// current returns a side's stream and generation.
func (p *Path) current(s *side) (audio.Stream, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.stream(), s.gen
}

// lost takes a lost stream out of the path, if it is still the side's
// current one, and reports it.
func (p *Path) lost(s *side, st audio.Stream, gen uint64, err error) {
	p.mu.Lock()
	if s.gen != gen || p.closed {
		p.mu.Unlock()
		return
	}
	s.gen++
	s.cap, s.play = nil, nil
	s.state = DeviceLost
	dev := s.dev
	p.stats.DevicesLost++
	p.mu.Unlock()
	if err == nil {
		err = audio.ErrDeviceLost
	}
	p.log.Warn("voice: device lost: going on without it", "kind", s.kind, "device", dev.ID, "err", err)
	p.closeLater(st)
	if p.opts.OnDeviceLost != nil {
		p.opts.OnDeviceLost(s.kind, dev, err)
	}
}

// moved notes a frame moved with the device of generation gen at t, and
// closes a pending gap measurement. It returns the gap, if one was closed.
func (p *Path) moved(s *side, gen uint64, t time.Time) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.gen != gen {
		return 0, false
	}
	s.last = t
	if !s.gapSet {
		return 0, false
	}
	s.gapSet = false
	gap := t.Sub(s.gapOf)
	if s.kind == audio.KindCapture {
		p.stats.InputGap, p.stats.InputMaxGap = gap, max(p.stats.InputMaxGap, gap)
	} else {
		p.stats.OutputGap, p.stats.OutputMaxGap = gap, max(p.stats.OutputMaxGap, gap)
	}
	return gap, true
}

// Stats returns the path's counters.
func (p *Path) Stats() Stats {
	p.mu.Lock()
	st := p.stats
	st.Input, st.Output = p.in.state, p.out.state
	p.mu.Unlock()
	st.FramesSent, st.FramesSilent, st.FramesWithheld = p.sent.Load(), p.silent.Load(), p.withheld.Load()
	st.FramesMuted = p.mutedSent.Load()
	st.FramesPlayed, st.FramesDropped = p.played.Load(), p.dropped.Load()
	st.DTMFDigits = p.digits.Load()
	st.OutputTrimmed = p.samplesTime(p.outTrimmed.Load())
	st.OutputUnderrun = p.samplesTime(p.outUnderrun.Load())
	return st
}

// EchoCanceller is the echo canceller that runs on the capture path
// (dsp.EngineCombined, dsp.EngineWebRTC or dsp.EngineSpeex), or "" with
// echo cancellation off.
func (p *Path) EchoCanceller() string {
	if p.dsp == nil || !p.opts.Processing.EchoCancellation {
		return ""
	}
	return p.dsp.Engine()
}

// EchoDelay is the echo's delay past the speaker as the capture path's
// stage measured it (the sound servers' buffering, the room, a relay),
// and whether it has found one: the echo canceller's reference is held
// back by it. None is found without an echo (a headset).
func (p *Path) EchoDelay() (time.Duration, bool) {
	if p.dsp == nil {
		return 0, false
	}
	return p.dsp.EchoDelay()
}

// Devices returns the devices in use now and whether each side has one.
func (p *Path) Devices() (in audio.Device, inOK bool, out audio.Device, outOK bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.in.dev, p.in.state == DeviceOpen, p.out.dev, p.out.state == DeviceOpen
}

// SetMute mutes or unmutes the microphone: while muted the microphone's
// audio is not sent; silence or comfort noise is, so the call's RTP keeps
// flowing and a peer's media timeout does not end it (RFC 3389, see
// media.Session.WriteMuted). In-band DTMF is still sent.
func (p *Path) SetMute(on bool) { p.muted.Store(on) }

// Muted reports whether the microphone is muted.
func (p *Path) Muted() bool { return p.muted.Load() }

// SetHold holds or resumes the path: while held nothing is sent and the
// caller's audio is not played. The phone renegotiates the direction
// (RFC 3264 §8.4) on its own. On resume one packet of silence goes out at
// once rather than at the next capture period: a peer that checks its RTP
// timeout the moment its stream turns sendrecv again (baresip does) finds
// a fresh packet instead of the last one from before the hold.
func (p *Path) SetHold(on bool) {
	if was := p.held.Swap(on); !was || on {
		return
	}
	if mw, ok := p.opts.Media.(mutedWriter); ok {
		f := formatOf(p.opts.Media.Negotiated())
		_ = mw.WriteMuted(f.samples(f.rate)*f.channels, media.NoiseLevelSilence)
	}
}

// Held reports whether the path is on hold.
func (p *Path) Held() bool { return p.held.Load() }

// SetMicVolume sets the microphone volume, 0-100: a linear gain of
// volume/100 applied before encoding (100 leaves the samples as they are).
func (p *Path) SetMicVolume(v int) error {
	if err := checkVolume(v); err != nil {
		return err
	}
	p.micGain.Store(int32(v))
	return nil
}

// SetSpeakerVolume sets the speaker volume, 0-100, like SetMicVolume.
func (p *Path) SetSpeakerVolume(v int) error {
	if err := checkVolume(v); err != nil {
		return err
	}
	p.spkGain.Store(int32(v))
	return nil
}

// Volumes returns the microphone and speaker volumes.
func (p *Path) Volumes() (mic, speaker int) {
	return int(p.micGain.Load()), int(p.spkGain.Load())
}

func checkVolume(v int) error {
	if v < 0 || v > 100 {
		return fmt.Errorf("%w: %d (want 0-100)", ErrBadVolume, v)
	}
	return nil
}

// applyGain scales samples by volume/100, saturating.
func applyGain(s []int16, volume int32) {
	if volume >= 100 {
		return
	}
	if volume <= 0 {
		clear(s)
		return
	}
	for i, v := range s {
		s[i] = int16(int32(v) * volume / 100)
	}
}

// SendDTMF sends digits as in-band tones (ITU-T Q.23 pairs, DTMFTone on,
// DTMFPause off), in place of the microphone's audio, for
// dtmf_method = inband. It returns when they are sent, or with ctx's
// cause, or ErrClosed. Digits are sent while muted too, not while held.
func (p *Path) SendDTMF(ctx context.Context, digits string) error {
	seq, err := dtmfSequence(digits)
	if err != nil {
		return err
	}
	job := &dtmfJob{seq: seq, n: len([]rune(digits)), done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.dtmf = append(p.dtmf, job)
	p.mu.Unlock()
	select {
	case <-job.done:
		return nil
	case <-ctx.Done():
		job.canceled.Store(true)
		return context.Cause(ctx)
	case <-p.stop:
		return ErrClosed
	}
}

// PlayZipTone plays the zip tone (two ZipToneBeep beeps of
// ZipToneFrequency Hz, ZipToneGap apart) on the path's output, in place of
// the caller's audio, and returns a channel closed once it has been played
// (or the path closed). On a playback stream that has not started to
// consume frames yet (a device's start-up), the tone waits until it has,
// so the stream's latency bound does not drop it (see zipGate). Without a
// playback device the tone is used up unheard. A zip tone still playing
// is replaced.
func (p *Path) PlayZipTone() <-chan struct{} {
	job := &zipJob{seq: zipSequence(), done: make(chan struct{}), at: p.now()}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		close(job.done)
		return job.done
	}
	if p.zip != nil {
		close(p.zip.done)
	}
	p.zip = job
	return job.done
}

// Close stops both directions, closes the device streams and waits for
// all of it, at most CloseTimeout (then ErrCloseTimeout, and what did not
// stop is abandoned). It neither hangs up nor closes the Media session.
// It is idempotent.
func (p *Path) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		streams := []audio.Stream{p.in.stream(), p.out.stream()}
		p.in.cap, p.out.play = nil, nil
		p.in.gen++
		p.out.gen++
		if p.zip != nil {
			close(p.zip.done)
			p.zip = nil
		}
		p.mu.Unlock()
		close(p.stop)
		p.cancel()
		errc := make(chan error, len(streams))
		n := 0
		for _, st := range streams {
			if st == nil {
				continue
			}
			n++
			p.bg.Add(1)
			go func() {
				defer p.bg.Done()
				errc <- st.Close()
			}()
		}
		all := make(chan struct{})
		go func() {
			p.wg.Wait()
			p.bg.Wait()
			close(all)
		}()
		timer := time.NewTimer(p.opts.CloseTimeout)
		defer timer.Stop()
		var errs []error
		select {
		case <-all:
			for range n {
				if err := <-errc; err != nil {
					errs = append(errs, fmt.Errorf("voice: close stream: %w", err))
				}
			}
		case <-timer.C:
			errs = append(errs, fmt.Errorf("%w: path after %s", ErrCloseTimeout, p.opts.CloseTimeout))
			p.log.Error("voice: path did not stop in time: abandoned", "waited", p.opts.CloseTimeout)
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

func (p *Path) stopping() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// The real device opener and RTP session fit the path's interfaces.
var (
	_ Devices       = (*audio.System)(nil)
	_ Media         = (*media.Session)(nil)
	_ silenceWriter = (*media.Session)(nil)
	_ mutedWriter   = (*media.Session)(nil)
)

// samplesTime is the audio time of n mono samples at the device rate.
func (p *Path) samplesTime(n uint64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(p.opts.DeviceRate)
}
