package media

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/hraban/opus.v2"
)

// Opus (RFC 6716) through libopus, bound by gopkg.in/hraban/opus.v2 (cgo,
// pkg-config opus). RTP carries it as opus/48000/2 whatever is coded
// (RFC 7587 §7); we code 48 kHz PCM, mono unless both ends agreed to
// stereo (Codec.Channels == 2).

// Opus frame and packet limits (RFC 6716 §2.1.4, §3.2.1).
const (
	opusRate = 48000
	// opusMaxFrame is the longest packet duration, 120 ms, in samples per
	// channel.
	opusMaxFrame = opusRate * 120 / 1000
	// opusPLCStep is the granularity of concealment, 2.5 ms.
	opusPLCStep = opusRate * 25 / 10000
	// opusMaxPacket bounds one encoded packet (three 1275-byte frames
	// plus framing, RFC 6716 §3.2.5).
	opusMaxPacket = 4000
)

// Default encoder settings: fullband speech in a contact centre does not
// gain from more, and a 10% loss assumption makes libopus spend bits on
// in-band FEC when the peer asked for it.
const (
	opusBitrateMono   = 32000
	opusBitrateStereo = 64000
	opusFECLossPct    = 10
)

// opusSettings are the encoder settings derived from the peer's fmtp.
type opusSettings struct {
	channels     int
	bitrate      int
	fec          bool
	maxBandwidth opus.Bandwidth
}

// opusSettingsFor reads the peer's format parameters (RFC 7587 §6.1). They
// describe what the peer's decoder wants, so they shape our encoder:
// useinbandfec=1 turns FEC on, maxaveragebitrate caps the bit rate and
// maxplaybackrate the coded bandwidth. usedtx and cbr are not applied:
// DTX packets would need the session to skip sending, and the binding has
// no CBR switch; both are optional for the encoder.
func opusSettingsFor(c Codec) (opusSettings, error) {
	s := opusSettings{channels: 1, bitrate: opusBitrateMono, maxBandwidth: opus.Fullband}
	switch c.Channels {
	case 0, 1:
	case 2:
		s.channels, s.bitrate = 2, opusBitrateStereo
	default:
		return s, fmt.Errorf("%w: opus with %d channels", ErrCodecUnsupported, c.Channels)
	}
	for _, kv := range strings.Split(c.Fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "useinbandfec":
			s.fec = v == "1"
		case "maxaveragebitrate":
			// RFC 7587 §6.1: 6000 to 510000 bit/s.
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				continue // a bad optional parameter is ignored
			}
			s.bitrate = min(s.bitrate, max(n, 6000))
		case "maxplaybackrate":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				continue
			}
			s.maxBandwidth = opusBandwidthFor(n)
		}
	}
	return s, nil
}

// opusBandwidthFor maps a sample rate to the widest Opus audio bandwidth
// it can play (RFC 6716 §2, Table 1).
func opusBandwidthFor(rate int) opus.Bandwidth {
	switch {
	case rate <= 8000:
		return opus.Narrowband
	case rate <= 12000:
		return opus.Mediumband
	case rate <= 16000:
		return opus.Wideband
	case rate <= 24000:
		return opus.SuperWideband
	default:
		return opus.Fullband
	}
}

// opusCoder is the frameCoder for Opus: a libopus encoder and decoder with
// separate state, so that the two directions may run at the same time.
type opusCoder struct {
	enc      *opus.Encoder
	dec      *opus.Decoder
	channels int
	// last is the duration of the last decoded packet, in samples per
	// channel; concealment uses it when asked for no particular length.
	last int
}

// newOpusCoder makes the encoder and decoder for c. Failures wrap
// ErrCodecUnsupported: the call cannot use Opus.
func newOpusCoder(c Codec) (*opusCoder, error) {
	s, err := opusSettingsFor(c)
	if err != nil {
		return nil, err
	}
	enc, err := opus.NewEncoder(opusRate, s.channels, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("%w: opus encoder: %w", ErrCodecUnsupported, err)
	}
	for _, set := range []func() error{
		func() error { return enc.SetBitrate(s.bitrate) },
		func() error { return enc.SetMaxBandwidth(s.maxBandwidth) },
		func() error { return enc.SetInBandFEC(s.fec) },
		func() error {
			if !s.fec {
				return nil
			}
			return enc.SetPacketLossPerc(opusFECLossPct)
		},
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("%w: opus encoder settings: %w", ErrCodecUnsupported, err)
		}
	}
	dec, err := opus.NewDecoder(opusRate, s.channels)
	if err != nil {
		return nil, fmt.Errorf("%w: opus decoder: %w", ErrCodecUnsupported, err)
	}
	return &opusCoder{enc: enc, dec: dec, channels: s.channels, last: opusRate / 50}, nil
}

// opusFrameOK reports whether n samples per channel make an Opus frame:
// 2.5, 5, 10, 20, 40, 60, 80, 100 or 120 ms at 48 kHz.
func opusFrameOK(n int) bool {
	switch n {
	case 120, 240, 480, 960, 1920, 2880, 3840, 4800, 5760:
		return true
	}
	return false
}

// Encode appends one Opus packet for pcm (interleaved when stereo). A pcm
// length that is no Opus frame size, or an encoder failure, leaves dst
// unchanged.
func (c *opusCoder) Encode(dst []byte, pcm []int16) []byte {
	if len(pcm)%c.channels != 0 || !opusFrameOK(len(pcm)/c.channels) {
		return dst
	}
	n := len(dst)
	dst = slices.Grow(dst, opusMaxPacket)
	// The binding writes up to cap(data): bound it to our room.
	k, err := c.enc.Encode(pcm, dst[n:n+opusMaxPacket:n+opusMaxPacket])
	if err != nil {
		return dst[:n]
	}
	return dst[:n+k]
}

// Decode appends the PCM of one Opus packet. A packet libopus rejects is
// concealed for the duration of the last good one.
func (c *opusCoder) Decode(dst []int16, payload []byte) []int16 {
	if len(payload) == 0 {
		return c.Conceal(dst, c.last)
	}
	n := len(dst)
	room := opusMaxFrame * c.channels
	dst = slices.Grow(dst, room)
	k, err := c.dec.Decode(payload, dst[n:n+room:n+room])
	if err != nil {
		return c.Conceal(dst[:n], c.last)
	}
	c.last = k
	return dst[:n+k*c.channels]
}

// Conceal appends samples (per channel) of libopus packet loss concealment
// (RFC 6716 §4.4). libopus conceals in steps of 2.5 ms; a length in
// between is rounded up and the excess dropped.
func (c *opusCoder) Conceal(dst []int16, samples int) []int16 {
	return c.lost(dst, nil, samples)
}

// DecodeFEC appends samples (per channel) rebuilt from the in-band FEC
// data of next, the packet after the lost one (RFC 6716 §2.1.7); libopus
// falls back to concealment when next carries none.
func (c *opusCoder) DecodeFEC(dst []int16, next []byte, samples int) []int16 {
	return c.lost(dst, next, samples)
}

// lost fills in samples per channel for a lost packet, from next's FEC
// data when next is given, else by concealment.
func (c *opusCoder) lost(dst []int16, next []byte, samples int) []int16 {
	if samples <= 0 {
		return dst
	}
	steps := (min(samples, opusMaxFrame) + opusPLCStep - 1) / opusPLCStep
	want := steps * opusPLCStep * c.channels
	n := len(dst)
	dst = slices.Grow(dst, want)
	pcm := dst[n : n+want : n+want]
	var err error
	if len(next) > 0 {
		err = c.dec.DecodeFEC(next, pcm)
	} else {
		err = c.dec.DecodePLC(pcm)
	}
	if err != nil {
		clear(pcm)
	}
	dst = dst[:n+min(samples, opusMaxFrame)*c.channels]
	// Longer than a packet can be: the rest is silence.
	for range (samples - min(samples, opusMaxFrame)) * c.channels {
		dst = append(dst, 0)
	}
	return dst
}
