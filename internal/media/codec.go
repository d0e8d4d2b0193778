package media

import (
	"fmt"
	"math"
	"strings"
)

// Codec is one negotiated RTP payload format.
type Codec struct {
	// Name is the encoding name as written in a=rtpmap ("PCMU", "opus",
	// "telephone-event").
	Name string
	// PayloadType is the RTP payload type number.
	PayloadType uint8
	// ClockRate is the RTP timestamp rate written in SDP. For G.722 it is
	// 8000 although the codec samples at 16 kHz (RFC 3551 §4.5.2).
	ClockRate uint32
	// SampleRate is the PCM rate the codec consumes and produces.
	SampleRate int
	// Channels is the number of PCM channels to encode. For Opus the rtpmap
	// always says 2 (RFC 7587 §7); Channels is 2 only when both ends asked
	// for stereo.
	Channels int
	// Fmtp holds the format parameters (a=fmtp) of the end that receives
	// what we send: the peer's parameters.
	Fmtp string
}

// String returns "name/clock PT".
func (c Codec) String() string {
	return fmt.Sprintf("%s/%d pt=%d", c.Name, c.ClockRate, c.PayloadType)
}

// Codec keys accepted in Local.Codecs.
const (
	codecPCMU  = "pcmu"
	codecPCMA  = "pcma"
	codecG722  = "g722"
	codecOpus  = "opus"
	codecEvent = "telephone-event"
)

// Payload types we use in our offers. Static ones come from RFC 3551 §6;
// dynamic ones (96-127) are our own choice.
const (
	ptPCMU    uint8 = 0
	ptPCMA    uint8 = 8
	ptG722    uint8 = 9
	ptOpus    uint8 = 111
	ptEvent48 uint8 = 100
	ptEvent8  uint8 = 101
)

// codecSpec describes a payload format we know how to negotiate.
type codecSpec struct {
	key        string // lower-case key used in Local.Codecs
	name       string // rtpmap encoding name
	pt         uint8  // payload type we offer
	static     bool   // RFC 3551 static payload type
	clock      uint32 // RTP clock rate in SDP
	sampleRate int    // PCM sample rate
	channels   int    // rtpmap encoding parameter (0: not written)
}

var knownCodecs = map[string]codecSpec{
	codecPCMU: {key: codecPCMU, name: "PCMU", pt: ptPCMU, static: true, clock: 8000, sampleRate: 8000},
	codecPCMA: {key: codecPCMA, name: "PCMA", pt: ptPCMA, static: true, clock: 8000, sampleRate: 8000},
	// RFC 3551 §4.5.2: G.722's RTP clock rate is 8000 for historical reasons.
	codecG722: {key: codecG722, name: "G722", pt: ptG722, static: true, clock: 8000, sampleRate: 16000},
	// RFC 7587 §7: opus is always written opus/48000/2.
	codecOpus: {key: codecOpus, name: "opus", pt: ptOpus, clock: 48000, sampleRate: 48000, channels: 2},
}

// eventSpec returns the telephone-event format for a clock rate (RFC 4733).
func eventSpec(clock uint32) codecSpec {
	pt := ptEvent8
	if clock == 48000 {
		pt = ptEvent48
	}
	return codecSpec{key: codecEvent, name: "telephone-event", pt: pt, clock: clock, sampleRate: int(clock)}
}

// lookupCodec finds a known codec by its Local.Codecs key, case-insensitively.
func lookupCodec(key string) (codecSpec, bool) {
	s, ok := knownCodecs[strings.ToLower(strings.TrimSpace(key))]
	return s, ok
}

// frameCoder turns PCM frames into RTP payloads and back, and stands in
// for lost packets.
//
// A Session encodes on its sending goroutine while it decodes on its
// receiving one: implementations keep the two directions' state apart.
// Each direction is used by one goroutine at a time. PCM is interleaved
// when Codec.Channels is 2.
type frameCoder interface {
	// Encode appends the payload for pcm to dst. It returns dst unchanged
	// when pcm cannot be coded (for Opus: a length that is no Opus frame
	// size); the caller then has nothing to send for that frame.
	Encode(dst []byte, pcm []int16) []byte
	// Decode appends the PCM samples of payload to dst. A payload that
	// cannot be decoded is concealed like a lost packet.
	Decode(dst []int16, payload []byte) []int16
	// Conceal appends samples (per channel) of audio standing in for a
	// lost packet: a continuation of what was decoded last that fades to
	// silence when the loss goes on. The receive path calls it once per
	// missing packet, with the packet's duration.
	Conceal(dst []int16, samples int) []int16
}

// fecDecoder is implemented by coders whose packets can carry a redundant
// copy of the previous packet (Opus in-band FEC, RFC 7587 §3.3).
type fecDecoder interface {
	// DecodeFEC appends samples (per channel) standing in for a lost
	// packet, rebuilt from the redundancy in next, the packet that
	// followed it. Without redundancy in next it conceals, like Conceal.
	// next itself is then passed to Decode as usual.
	DecodeFEC(dst []int16, next []byte, samples int) []int16
}

// newCoder returns the coder for a negotiated codec, or ErrCodecUnsupported.
func newCoder(c Codec) (frameCoder, error) {
	switch {
	case strings.EqualFold(c.Name, "PCMU"):
		return &fadeCoder{pcmCoder: mulawCoder, fade: newFadeConcealer(8000)}, nil
	case strings.EqualFold(c.Name, "PCMA"):
		return &fadeCoder{pcmCoder: alawCoder, fade: newFadeConcealer(8000)}, nil
	case strings.EqualFold(c.Name, "G722"):
		return &fadeCoder{pcmCoder: newG722Coder(), fade: newFadeConcealer(16000)}, nil
	case strings.EqualFold(c.Name, "opus"):
		return newOpusCoder(c)
	default:
		return nil, fmt.Errorf("%w: %s", ErrCodecUnsupported, c.Name)
	}
}

// pcmCoder is a codec without loss concealment of its own.
type pcmCoder interface {
	Encode(dst []byte, pcm []int16) []byte
	Decode(dst []int16, payload []byte) []int16
}

// fadeCoder adds waveform-repetition loss concealment to a codec that has
// none (G.711, G.722).
type fadeCoder struct {
	pcmCoder
	fade *fadeConcealer
}

func (c *fadeCoder) Decode(dst []int16, payload []byte) []int16 {
	n := len(dst)
	dst = c.pcmCoder.Decode(dst, payload)
	c.fade.decoded(dst[n:])
	return dst
}

func (c *fadeCoder) Conceal(dst []int16, samples int) []int16 {
	return c.fade.conceal(dst, samples)
}

// Concealment timing, after ITU-T G.711 Appendix I §I.2: the first 10 ms
// of a loss repeat the last pitch period at full level, the next 50 ms
// fade linearly to silence; audio that resumes is cross-faded in over 5 ms
// so the seam does not click.
const (
	plcHoldMs      = 10
	plcFadeMs      = 50
	plcOverlapMs   = 5
	plcHistoryMs   = 30  // decoded audio kept for the pitch search
	plcWindowMs    = 10  // correlation window of the pitch search
	plcMinPitchHz  = 70  // longest period searched
	plcMaxPitchHz  = 400 // shortest period searched
	plcFixedPeriod = 5   // ms repeated when the history is too short
)

// fadeConcealer conceals lost packets of a mono codec by repeating the
// last pitch period of the decoded signal (G.711 Appendix I in spirit):
// cheap, and far less audible than silence or a repeated whole frame.
type fadeConcealer struct {
	rate   int
	hist   []int16 // last plcHistoryMs of decoded audio, oldest first
	have   int     // valid samples at the end of hist
	period int     // pitch period in use during a loss
	phase  int     // index within the period of the next repeated sample
	lost   int     // samples concealed since the last decoded frame
}

func newFadeConcealer(rate int) *fadeConcealer {
	return &fadeConcealer{rate: rate, hist: make([]int16, rate*plcHistoryMs/1000)}
}

// gain is the level of the concealed sample at index i of a loss, 0…1.
func (f *fadeConcealer) gain(i int) float32 {
	hold := f.rate * plcHoldMs / 1000
	fade := f.rate * plcFadeMs / 1000
	switch {
	case i < hold:
		return 1
	case i >= hold+fade:
		return 0
	default:
		return 1 - float32(i-hold)/float32(fade)
	}
}

// next returns the next sample of the faded periodic continuation.
func (f *fadeConcealer) next() float32 {
	v := float32(f.hist[len(f.hist)-f.period+f.phase]) * f.gain(f.lost)
	f.phase++
	if f.phase == f.period {
		f.phase = 0
	}
	f.lost++
	return v
}

// conceal appends samples of concealment to dst.
func (f *fadeConcealer) conceal(dst []int16, samples int) []int16 {
	if f.have == 0 {
		f.lost += samples
		for range samples {
			dst = append(dst, 0)
		}
		return dst
	}
	if f.lost == 0 {
		f.period = f.pitch()
		f.phase = 0
	}
	for range samples {
		dst = append(dst, int16(f.next()))
	}
	return dst
}

// decoded takes a frame just decoded: after a loss it cross-fades the
// frame's start from the concealment into the real signal, in place; then
// the frame joins the history.
func (f *fadeConcealer) decoded(frame []int16) {
	if f.lost > 0 && f.have > 0 {
		ov := min(len(frame), f.rate*plcOverlapMs/1000)
		for i := range ov {
			w := float32(i+1) / float32(ov+1)
			frame[i] = int16(f.next()*(1-w) + float32(frame[i])*w)
		}
	}
	f.lost = 0
	if len(frame) >= len(f.hist) {
		copy(f.hist, frame[len(frame)-len(f.hist):])
	} else {
		copy(f.hist, f.hist[len(frame):])
		copy(f.hist[len(f.hist)-len(frame):], frame)
	}
	f.have = min(f.have+len(frame), len(f.hist))
}

// pitch finds the period, in samples, that best repeats the end of the
// history: the lag with the highest normalised correlation between the
// last plcWindowMs and the audio one lag earlier. Shorter lags win ties,
// so a steady tone repeats its shortest whole number of cycles found.
func (f *fadeConcealer) pitch() int {
	minLag := f.rate / plcMaxPitchHz
	maxLag := f.rate / plcMinPitchHz
	win := f.rate * plcWindowMs / 1000
	if f.have < maxLag+win {
		return min(f.rate*plcFixedPeriod/1000, f.have)
	}
	end := len(f.hist)
	cur := f.hist[end-win:]
	best, bestLag := float32(-2), minLag
	for lag := minLag; lag <= maxLag; lag++ {
		past := f.hist[end-win-lag : end-lag]
		var xy, yy float32
		for i, x := range cur {
			y := float32(past[i])
			xy += float32(x) * y
			yy += y * y
		}
		if yy == 0 {
			continue
		}
		score := xy / float32(math.Sqrt(float64(yy)))
		if score > best+1e-4*float32(math.Abs(float64(best))) {
			best, bestLag = score, lag
		}
	}
	return bestLag
}

// g711Coder is G.711 with one of its two companding laws (ITU-T G.711
// §2-3), one byte per sample.
type g711Coder struct {
	enc func(int16) byte
	dec func(byte) int16
}

var (
	mulawCoder = g711Coder{enc: EncodeMulaw, dec: DecodeMulaw}
	alawCoder  = g711Coder{enc: EncodeAlaw, dec: DecodeAlaw}
)

func (g g711Coder) Encode(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, g.enc(s))
	}
	return dst
}

func (g g711Coder) Decode(dst []int16, payload []byte) []int16 {
	for _, b := range payload {
		dst = append(dst, g.dec(b))
	}
	return dst
}
