package dsp

/*
#cgo pkg-config: speexdsp webrtc-audio-processing
#cgo LDFLAGS: -lstdc++
#include <stdlib.h>
#include "apm.h"
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

static int sp_ctl_int(SpeexPreprocessState *st, int req, int v) { return speex_preprocess_ctl(st, req, &v); }
static int sp_ctl_float(SpeexPreprocessState *st, int req, float v) { return speex_preprocess_ctl(st, req, &v); }
static int sp_set_echo(SpeexPreprocessState *st, SpeexEchoState *e) { return speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_ECHO_STATE, e); }
static int se_set_rate(SpeexEchoState *st, int rate) { return speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &rate); }
*/
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Settings say which parts of the stage run; the zero value runs none
// (the stage is then not built at all: see Settings.Any).
type Settings struct {
	// EchoCancellation removes the far end's voice picked up from the
	// speaker ([policy.session] echo_cancellation).
	EchoCancellation bool
	// NoiseSuppression removes stationary background noise
	// ([policy.session] noise_suppression).
	NoiseSuppression bool
	// AGC levels the agent's voice ([policy.session] agc_mode = 1).
	AGC bool
	// Engine is the echo canceller: EngineSpeex (also for ""),
	// EngineWebRTC or EngineCombined ([policy.session] echo_canceller,
	// whose default is speex+webrtc). Noise suppression and gain control
	// are speexdsp's preprocessor with any (it takes 8-10 dB more noise
	// off than WebRTC's suppressor on the echo bed, speech kept alike).
	Engine string
}

// The echo cancellers (Settings.Engine). See the package doc for how they
// compare.
const (
	// EngineSpeex is speexdsp's MDF echo canceller, followed by the
	// preprocessor's residual echo suppressor.
	EngineSpeex = "speex"
	// EngineWebRTC is the echo canceller of WebRTC's audio processing
	// module (0.3: delay-agnostic, extended filter, low suppression). It
	// works at 8, 16, 32 or 48 kHz; at another device rate the stage
	// falls back to EngineSpeex (Processor.Engine says which runs).
	EngineWebRTC = "webrtc"
	// EngineCombined is speexdsp's MDF filter followed by WebRTC's
	// canceller on what it leaves, both fed the same reference: the
	// WebRTC module removes the echo within a second of the call's start
	// while the MDF filter learns the path, and once the filter has
	// taken the echo off the module's suppressor sees the agent's voice
	// for what it is and leaves it nearly whole during double talk. It
	// costs both cancellers' CPU. At a rate WebRTC's module does not take
	// it falls back to EngineSpeex.
	EngineCombined = "speex+webrtc"
)

// Any reports whether any part of the stage is on.
func (s Settings) Any() bool { return s.EchoCancellation || s.NoiseSuppression || s.AGC }

// Defaults for Options.
const (
	// FrameTime is the smallest frame of the stage: 10 ms, the smallest
	// packet time.
	FrameTime = 10 * time.Millisecond
	// DefaultFrame is the stage's frame: 20 ms, the usual packet time.
	// With fewer, longer blocks over the same tail the echo canceller
	// converges in about half the time (measured: 25 dB ERLE within
	// 1.5-2 s instead of 2.5 s on speech at 48 kHz) and costs less. A
	// packet time that is not a multiple of it (10, 30 ms) makes the
	// stage fall back to FrameTime.
	DefaultFrame = 20 * time.Millisecond
	// DefaultTail is the echo canceller's filter length: the echo's
	// delay past the speaker (a relay or the room, up to ~150 ms, plus
	// the capture device's buffering) and its decay. Longer converges
	// more slowly.
	DefaultTail = 200 * time.Millisecond
	// referenceRing is how much reference is kept: what the playback
	// device holds ahead of the speaker and the longest delay held back
	// (delayMaxLag).
	referenceRing = time.Second
	// The capture side reads the reference where the speaker was when
	// the frame was captured (Playing); it keeps its own pace, one frame
	// of reference per frame captured, while it is within alignTolerance
	// of that (the device counters it is computed from move a period at
	// a time), and takes it up again otherwise (a device stalled,
	// dropped or repeated audio).
	alignTolerance = 40 * time.Millisecond
	// echoSuppressDB and echoSuppressActiveDB are the residual echo
	// suppressor's most attenuation, while the far end talks alone and
	// during double talk (speexdsp's defaults: -40 and -15 dB).
	echoSuppressDB       = -60
	echoSuppressActiveDB = -15
	// noiseSuppressDB is the preprocessor's maximum attenuation of noise.
	noiseSuppressDB = -30
)

// Options configure a Processor.
type Options struct {
	Settings
	// Rate is the sample rate of both directions (mono). Required.
	Rate int
	// Tail is the echo filter's length; 0 means DefaultTail.
	Tail time.Duration
	// Frame is the stage's frame: FrameTime (the default) or a multiple.
	Frame time.Duration
}

// Processor is the stage of one call. See the package doc.
type Processor struct {
	opts      Options
	frame     int    // samples per frame
	base      int    // samples per FrameTime
	tolerance uint64 // alignTolerance, in samples

	// The reference ring: written (w) by Reference, read (r) by Capture,
	// the speaker's place when the next frame was captured (Playing);
	// all count samples written to the playback device since
	// ResetReference.
	mu      sync.Mutex
	far     []int16
	w, r    uint64
	pos     uint64
	posSet  bool
	synced  bool
	resyncs uint64

	reset  atomic.Bool
	resets atomic.Uint64
	moves  atomic.Uint64 // the reference moved to a new echo delay (the cancellers restarted)

	// Owned by the goroutine calling Capture.
	delay    *delayEstimator // nil without echo cancellation
	raw      []int16         // the frame's reference at the speaker's place
	delayNow atomic.Int64    // the echo's delay past the speaker's place, ns (-1: not found yet)
	delayAt  atomic.Int64    // the captured audio, ns, when the delay in force was found
	apm      *C.apm
	echo     *C.SpeexEchoState
	pre      *C.SpeexPreprocessState
	cin      *C.spx_int16_t // one frame each, in C memory
	cref     *C.spx_int16_t
	cout     *C.spx_int16_t
	// shift is how far the cancellers' reference is held back, in
	// samples (delay.go).
	shift uint64
}

// New builds the stage.
func New(o Options) (*Processor, error) {
	if o.Rate < 8000 || o.Rate > 192000 || o.Rate%100 != 0 {
		return nil, fmt.Errorf("%w: rate %d", ErrBadOptions, o.Rate)
	}
	if o.Tail <= 0 {
		o.Tail = DefaultTail
	}
	if o.Frame <= 0 {
		o.Frame = DefaultFrame
	}
	if o.Frame%FrameTime != 0 {
		return nil, fmt.Errorf("%w: frame %s is not a multiple of %s", ErrBadOptions, o.Frame, FrameTime)
	}
	switch o.Engine {
	case "", EngineSpeex:
		o.Engine = EngineSpeex
	case EngineWebRTC, EngineCombined:
		if o.Rate != 8000 && o.Rate != 16000 && o.Rate != 32000 && o.Rate != 48000 {
			o.Engine = EngineSpeex
		}
	default:
		return nil, fmt.Errorf("%w: engine %q", ErrBadOptions, o.Engine)
	}
	p := &Processor{opts: o, base: o.Rate / 100, frame: o.Rate / 100 * int(o.Frame/FrameTime)}
	p.delayNow.Store(-1)
	p.tolerance = samplesIn(o.Rate, alignTolerance)
	p.far = make([]int16, samplesIn(o.Rate, referenceRing))
	size := C.size_t(p.frame) * C.size_t(unsafe.Sizeof(C.spx_int16_t(0)))
	p.cin = (*C.spx_int16_t)(C.calloc(1, size))
	p.cref = (*C.spx_int16_t)(C.calloc(1, size))
	p.cout = (*C.spx_int16_t)(C.calloc(1, size))
	if err := p.init(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// init (re)makes the speexdsp states.
func (p *Processor) init() error {
	p.free()
	o := p.opts
	if o.EchoCancellation {
		// A new echo path (or a new frame): its delay is measured afresh.
		p.delay = newDelayEstimator(o.Rate)
		p.delayNow.Store(-1)
		p.delayAt.Store(0)
		p.shift = 0
	}
	switch {
	case o.EchoCancellation && o.Engine == EngineWebRTC:
		p.apm = C.apm_new(C.int(o.Rate), 1, 0, 0)
		if p.apm == nil {
			return fmt.Errorf("%w: webrtc audio processing", ErrInit)
		}
	case o.EchoCancellation:
		if o.Engine == EngineCombined {
			p.apm = C.apm_new(C.int(o.Rate), 1, 0, 0)
			if p.apm == nil {
				return fmt.Errorf("%w: webrtc audio processing", ErrInit)
			}
		}
		tail := int(int64(o.Rate) * int64(o.Tail) / int64(time.Second))
		p.echo = C.speex_echo_state_init(C.int(p.frame), C.int(tail))
		if p.echo == nil {
			return fmt.Errorf("%w: echo state", ErrInit)
		}
		C.se_set_rate(p.echo, C.int(o.Rate))
	}
	// The preprocessor's residual echo suppressor follows speexdsp's
	// canceller alone (with EngineCombined WebRTC's suppressor does
	// that job: both at once took 3 dB more off the agent's voice during
	// double talk).
	res := p.echo != nil && p.apm == nil
	if !o.NoiseSuppression && !o.AGC && !res {
		return nil // nothing for the preprocessor to do
	}
	p.pre = C.speex_preprocess_state_init(C.int(p.frame), C.int(o.Rate))
	if p.pre == nil {
		return fmt.Errorf("%w: preprocessor", ErrInit)
	}
	C.sp_ctl_int(p.pre, C.SPEEX_PREPROCESS_SET_DENOISE, cbool(o.NoiseSuppression))
	C.sp_ctl_int(p.pre, C.SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, noiseSuppressDB)
	C.sp_ctl_int(p.pre, C.SPEEX_PREPROCESS_SET_AGC, cbool(o.AGC))
	C.sp_ctl_int(p.pre, C.SPEEX_PREPROCESS_SET_DEREVERB, 0)
	if o.AGC {
		// A speaking agent at about -12 dBFS RMS; at most 20 dB of gain,
		// so a quiet room is not pumped up into noise.
		C.sp_ctl_float(p.pre, C.SPEEX_PREPROCESS_SET_AGC_LEVEL, 8000)
		C.sp_ctl_int(p.pre, C.SPEEX_PREPROCESS_SET_AGC_MAX_GAIN, 20)
	}
	if res {
		// The preprocessor's residual echo suppressor follows the
		// canceller's estimate of what it left.
		C.sp_set_echo(p.pre, p.echo)
		C.sp_ctl_int(p.pre, C.SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, echoSuppressDB)
		C.sp_ctl_int(p.pre, C.SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, echoSuppressActiveDB)
	}
	return nil
}

func samplesIn(rate int, d time.Duration) uint64 {
	return uint64(int64(rate) * int64(d) / int64(time.Second))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (p *Processor) free() {
	if p.apm != nil {
		C.apm_free(p.apm)
		p.apm = nil
	}
	if p.pre != nil {
		C.speex_preprocess_state_destroy(p.pre)
		p.pre = nil
	}
	if p.echo != nil {
		C.speex_echo_state_destroy(p.echo)
		p.echo = nil
	}
}

// Engine is the echo canceller that runs (Settings.Engine after the
// fallback for rates the webrtc engine does not take).
func (p *Processor) Engine() string { return p.opts.Engine }

// Reference takes samples as they are handed to the playback device (the
// echo's source). Safe to call concurrently with Capture.
// A nil Processor does nothing.
func (p *Processor) Reference(samples []int16) {
	if p == nil || !p.opts.EchoCancellation {
		return
	}
	p.mu.Lock()
	for len(samples) > 0 {
		i := int(p.w % uint64(len(p.far)))
		n := copy(p.far[i:], samples)
		samples = samples[n:]
		p.w += uint64(n)
	}
	p.mu.Unlock()
}

// Capture processes captured samples in place. Whole frames are
// processed; a trailing part frame (a packet time that is not a multiple
// of 10 ms) passes unprocessed. A nil Processor does nothing.
func (p *Processor) Capture(samples []int16) {
	if p == nil {
		return
	}
	if p.reset.Swap(false) {
		p.resets.Add(1)
		if err := p.init(); err != nil {
			return // speexdsp out of memory: the audio passes as it is
		}
	}
	if len(samples)%p.frame != 0 && len(samples)%p.base == 0 {
		// A packet time that is not a multiple of the frame: fall back
		// to the smallest frame (and converge again).
		p.frame = p.base
		if err := p.init(); err != nil {
			return
		}
	}
	n := p.frame
	in := unsafe.Slice((*int16)(unsafe.Pointer(p.cin)), n)
	ref := unsafe.Slice((*int16)(unsafe.Pointer(p.cref)), n)
	out := unsafe.Slice((*int16)(unsafe.Pointer(p.cout)), n)
	for off := 0; off+n <= len(samples); off += n {
		fr := samples[off : off+n]
		// The cancellers in turn (EngineCombined runs both), on one
		// frame of reference.
		if p.echo != nil || p.apm != nil {
			if cap(p.raw) < n {
				p.raw = make([]int16, n)
			}
			raw := p.raw[:n]
			p.readReference(ref, raw)
			if p.delay.feed(fr, raw) {
				p.delayNow.Store(int64(p.delay.delay * delayBlock * int(time.Millisecond)))
				p.delayAt.Store(int64(p.delay.n * delayBlock * int(time.Millisecond)))
				// The reference moves to the new delay: WebRTC's
				// module starts afresh (it took 1-1.5 s more to follow
				// the move on its own than to start anew), and so does
				// speexdsp's filter when the echo is found. When the
				// echo jumped the filter keeps what it learnt, the
				// room's response past the new delay, which takes it
				// 2.5-3 s to learn again (dsp.TestEchoDelaySmallMove:
				// 18 dB for speexdsp's alone 2 s after the jump, 16 when
				// it started afresh; 38-39 dB for the chain, 36-37).
				if s := uint64(p.delay.shift()); s != p.shift {
					p.shift = s
					p.moves.Add(1)
					p.restartCancellers(!p.delay.jumped)
				}
			}
		}
		if p.echo != nil {
			copy(in, fr)
			C.speex_echo_cancellation(p.echo, p.cin, p.cref, p.cout)
			copy(fr, out)
		}
		if p.apm != nil {
			p.cancelAPM(fr, ref)
		}
		if p.pre != nil {
			copy(in, fr)
			C.speex_preprocess_run(p.pre, p.cin)
			copy(fr, in)
		}
	}
}

// restartCancellers starts WebRTC's module afresh, and speexdsp's filter
// too when filter is set; a WebRTC module that cannot be made again
// leaves speexdsp's filter (if any) alone.
func (p *Processor) restartCancellers(filter bool) {
	if p.echo != nil && filter {
		C.speex_echo_state_reset(p.echo)
	}
	if p.apm != nil {
		C.apm_free(p.apm)
		p.apm = C.apm_new(C.int(p.opts.Rate), 1, 0, 0)
	}
}

// cancelAPM cancels the echo in one frame with WebRTC's module, which
// takes 10 ms at a time; ref is the frame's reference, in C memory.
func (p *Processor) cancelAPM(frame, ref []int16) {
	n := p.base
	in := unsafe.Slice((*int16)(unsafe.Pointer(p.cin)), n)
	for off := 0; off+n <= len(frame); off += n {
		fr := frame[off : off+n]
		copy(in, fr)
		// A frame the module refuses passes as it came.
		if C.apm_process(p.apm, (*C.int16_t)(unsafe.Pointer(p.cin)), (*C.int16_t)(unsafe.Pointer(&ref[off]))) == 0 {
			copy(fr, in)
		}
	}
}

// Playing tells the stage where the speaker was in the reference when
// the first sample of the next captured frame was picked up: pos samples
// into what Reference was handed since ResetReference. The capture path
// computes it from the two devices' frame counters (see voice). Call it
// on the capturing goroutine, before Capture; a nil Processor does
// nothing.
func (p *Processor) Playing(pos uint64) {
	if p == nil || !p.opts.EchoCancellation {
		return
	}
	p.mu.Lock()
	p.pos, p.posSet = pos, true
	p.mu.Unlock()
}

// readReference fills raw with the reference at the play position and
// ref with the same held back by p.shift (the echo's delay past the
// speaker, less a margin: see delay.go), so that the reference leads its
// echo a little. Before the device plays, and beyond what was
// written, it reads silence: the speaker is silent then.
func (p *Processor) readReference(ref, raw []int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.posSet {
		clear(ref)
		clear(raw)
		return
	}
	if !p.synced || p.r+p.tolerance < p.pos || p.r > p.pos+p.tolerance {
		if p.synced {
			p.resyncs++
		}
		p.r, p.synced = p.pos, true
	}
	p.fill(raw, p.r)
	if p.r >= p.shift {
		p.fill(ref, p.r-p.shift)
	} else {
		// Held back to before the device played: silence, then the start.
		k := min(int(p.shift-p.r), len(ref))
		clear(ref[:k])
		p.fill(ref[k:], 0)
	}
	p.r += uint64(len(raw))
}

// fill reads the reference ring from sample at on; what is not (or no
// longer) in it reads as silence. Called with mu held.
func (p *Processor) fill(dst []int16, at uint64) {
	ring := uint64(len(p.far))
	for k := range dst {
		a := at + uint64(k)
		if a >= p.w || p.w-a > ring {
			dst[k] = 0
			continue
		}
		dst[k] = p.far[a%ring]
	}
}

// EchoDelay is the echo's delay past the speaker's place as the stage
// measured it (the sound servers' buffering, the room, a relay), and
// whether it has found one yet. The reference is held back by it, less
// a margin.
func (p *Processor) EchoDelay() (time.Duration, bool) {
	if p == nil {
		return 0, false
	}
	d := p.delayNow.Load()
	return time.Duration(d), d >= 0
}

// EchoDelayFoundAt is how much audio had been captured when the delay
// in force (EchoDelay) was found; 0 before one is.
func (p *Processor) EchoDelayFoundAt() time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(p.delayAt.Load())
}

// DelayMoves counts the times the stage moved its reference to a new
// echo delay, each time starting WebRTC's canceller afresh (and
// speexdsp's filter, unless the echo jumped): once when a call finds its
// echo, more when the echo path itself moves (a sound server's underrun,
// a relay's buffering). A nil Processor reports 0.
func (p *Processor) DelayMoves() uint64 {
	if p == nil {
		return 0
	}
	return p.moves.Load()
}

// Resyncs counts the times the capture side lost its place in the
// reference (a device stalled, or the two sides drifted apart) and took
// it up again at the lag: each costs the echo canceller a reconvergence.
func (p *Processor) Resyncs() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resyncs
}

// Reset starts the stage afresh before the next captured frame: a new
// device pair is a new echo path and a new noise floor.
func (p *Processor) Reset() {
	if p != nil {
		p.reset.Store(true)
	}
}

// Resets counts the resets done (see Reset).
func (p *Processor) Resets() uint64 { return p.resets.Load() }

// ResetReference starts the reference afresh: a new playback device,
// whose counters start from zero. Safe to call from any goroutine.
func (p *Processor) ResetReference() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.w, p.r, p.pos, p.posSet, p.synced = 0, 0, 0, false, false
	p.mu.Unlock()
}

// Close frees the stage. Call it after Reference and Capture have
// stopped; it is idempotent, and a nil Processor does nothing.
func (p *Processor) Close() {
	if p == nil {
		return
	}
	p.free()
	for _, b := range []**C.spx_int16_t{&p.cin, &p.cref, &p.cout} {
		if *b != nil {
			C.free(unsafe.Pointer(*b))
			*b = nil
		}
	}
}
