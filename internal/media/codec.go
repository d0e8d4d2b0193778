package media

import (
	"fmt"
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

// frameCoder turns PCM frames into RTP payloads and back.
type frameCoder interface {
	// Encode appends the payload for pcm to dst.
	Encode(dst []byte, pcm []int16) []byte
	// Decode appends the PCM samples of payload to dst.
	Decode(dst []int16, payload []byte) []int16
}

// newCoder returns the coder for a negotiated codec, or ErrCodecUnsupported.
func newCoder(c Codec) (frameCoder, error) {
	switch {
	case strings.EqualFold(c.Name, "PCMU"):
		return mulawCoder{}, nil
	case strings.EqualFold(c.Name, "PCMA"):
		return alawCoder{}, nil
	default:
		return nil, fmt.Errorf("%w: %s", ErrCodecUnsupported, c.Name)
	}
}

type mulawCoder struct{}

func (mulawCoder) Encode(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, EncodeMulaw(s))
	}
	return dst
}

func (mulawCoder) Decode(dst []int16, payload []byte) []int16 {
	for _, b := range payload {
		dst = append(dst, DecodeMulaw(b))
	}
	return dst
}

type alawCoder struct{}

func (alawCoder) Encode(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, EncodeAlaw(s))
	}
	return dst
}

func (alawCoder) Decode(dst []int16, payload []byte) []int16 {
	for _, b := range payload {
		dst = append(dst, DecodeAlaw(b))
	}
	return dst
}
