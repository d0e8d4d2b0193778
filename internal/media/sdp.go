package media

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/sdp/v3"
)

// OpusParams are the Opus format parameters we ask for (RFC 7587 §6.1).
type OpusParams struct {
	// Stereo asks the peer to send stereo and says we send stereo
	// (stereo=1; sprop-stereo=1).
	Stereo bool
	// FEC asks for in-band forward error correction (useinbandfec=1).
	FEC bool
	// MaxPlaybackRate caps the audio bandwidth the peer encodes, in Hz
	// (8000-48000); 0 leaves it out.
	MaxPlaybackRate int
}

// Local is our side of the media description.
type Local struct {
	// Addr is written in c= and o=: the public address when one is known.
	Addr netip.Addr
	// Port is the RTP port; RTCP is on Port+1 (RFC 3550 §11).
	Port int
	// Codecs lists "opus", "g722", "pcmu", "pcma" in preference order.
	Codecs []string
	// PTime is the packet time in milliseconds we want to receive; 0 means 20.
	PTime int
	// Opus holds the Opus parameters, used when Codecs has "opus".
	Opus OpusParams
	// DTMF offers and accepts telephone-event (RFC 4733).
	DTMF bool
	// ComfortNoise offers and accepts CN/8000 (RFC 3389), used with the
	// 8 kHz-clock codecs (PCMU, PCMA, G.722); see cn.go.
	ComfortNoise bool
	// SessionName is written in s=; empty means "softphone".
	SessionName string
	// SRTP says whether to offer and accept SRTP with SDES keys
	// (RFC 4568); see SRTPMode for what each mode offers and accepts.
	SRTP SRTPMode
}

// Negotiated is the outcome of one offer/answer exchange.
type Negotiated struct {
	// Codec is the audio codec to send, with the payload type to send it
	// with.
	Codec Codec
	// RecvPayloadType is the payload type the peer sends Codec with. It
	// equals Codec.PayloadType unless an answerer renumbered a dynamic
	// payload type of our offer (RFC 3264 §6.1 only says SHOULD keep it).
	RecvPayloadType uint8
	// DTMF is the telephone-event format, nil when none was agreed.
	DTMF *Codec
	// CN is the comfort noise format (RFC 3389), nil when none was
	// agreed: both sides listed CN at the codec's clock rate.
	CN *Codec
	// Remote is where RTP goes; not valid when the peer put its stream on
	// hold with c=0.0.0.0.
	Remote netip.AddrPort
	// RemoteRTCP is where RTCP goes: a=rtcp (RFC 3605) or Remote's port+1.
	RemoteRTCP netip.AddrPort
	// LocalDirection is the direction we agreed to, seen from our end.
	LocalDirection Direction
	// RemoteDirection is the direction the peer declared, from its end.
	RemoteDirection Direction
	// PTime is the packet time in ms to send with: the peer's a=ptime, or
	// ours when it gave none.
	PTime int
	// SRTP holds the agreed SDES crypto-suite and keys; nil means plain
	// RTP.
	SRTP *SRTPKeys
}

// Negotiator runs RFC 3264 offer/answer for one call. It keeps the o= line's
// session id and version across the call's re-offers (RFC 3264 §8). It is
// safe for concurrent use.
type Negotiator struct {
	mu      sync.Mutex
	local   Local
	codecs  []codecSpec // audio codecs, our preference order
	events  []codecSpec // telephone-event formats we offer
	cn      bool        // CN/8000 is offered
	id      uint64
	version uint64
	last    []byte // last description we produced
	sent    bool
	pending *Direction // direction of our outstanding offer
	// srtpKeys are our master key||salt per crypto-suite, made once per
	// call so that re-offers keep the keys (RFC 4568 §7.1.4 allows
	// either; keeping them keeps the peer's replay state valid).
	srtpKeys map[SRTPSuite][]byte
}

// NewNegotiator checks l and returns a Negotiator for one call.
func NewNegotiator(l Local) (*Negotiator, error) {
	if !l.Addr.IsValid() || l.Addr.IsUnspecified() {
		return nil, fmt.Errorf("%w: address %q is not a usable unicast address", ErrInvalidConfig, l.Addr)
	}
	if l.Port < 1 || l.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d out of range", ErrInvalidConfig, l.Port)
	}
	if l.PTime == 0 {
		l.PTime = 20
	}
	if l.PTime < 10 || l.PTime > 200 {
		return nil, fmt.Errorf("%w: ptime %d ms out of range 10-200", ErrInvalidConfig, l.PTime)
	}
	if r := l.Opus.MaxPlaybackRate; r != 0 && (r < 8000 || r > 48000) {
		return nil, fmt.Errorf("%w: opus maxplaybackrate %d out of range 8000-48000", ErrInvalidConfig, r)
	}
	if l.SessionName == "" {
		l.SessionName = "softphone"
	}
	if strings.ContainsAny(l.SessionName, "\r\n") {
		return nil, fmt.Errorf("%w: session name holds a line break", ErrInvalidConfig)
	}
	if len(l.Codecs) == 0 {
		return nil, fmt.Errorf("%w: no codecs", ErrInvalidConfig)
	}
	if l.SRTP < SRTPOff || l.SRTP > SRTPMandatory {
		return nil, fmt.Errorf("%w: srtp mode %d", ErrInvalidConfig, int(l.SRTP))
	}
	n := &Negotiator{local: l}
	if l.SRTP != SRTPOff {
		n.srtpKeys = map[SRTPSuite][]byte{}
		for _, suite := range srtpSuites {
			k, err := newSRTPKey()
			if err != nil {
				return nil, err
			}
			n.srtpKeys[suite] = k
		}
	}
	seen := map[string]bool{}
	need8k, need48k := false, false
	for _, name := range l.Codecs {
		spec, ok := lookupCodec(name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown codec %q", ErrInvalidConfig, name)
		}
		if seen[spec.key] {
			return nil, fmt.Errorf("%w: codec %q listed twice", ErrInvalidConfig, name)
		}
		seen[spec.key] = true
		n.codecs = append(n.codecs, spec)
		if spec.clock == 48000 {
			need48k = true
		} else {
			need8k = true
		}
	}
	if l.DTMF {
		// RFC 4733 §2.1: the event's RTP clock is that of the audio it goes
		// with, so one telephone-event format per clock rate in use.
		if need48k {
			n.events = append(n.events, eventSpec(48000))
		}
		if need8k {
			n.events = append(n.events, eventSpec(8000))
		}
	}
	// RFC 3389 §5: CN at the clock of the codecs it goes with; only the
	// 8 kHz ones lack comfort noise of their own.
	n.cn = l.ComfortNoise && need8k
	// RFC 4566 §5.2: the session id is a numeric string; keep it within
	// 63 bits so that peers parsing it as a signed number cope.
	n.id = rand.Uint64() >> 1
	n.version = 1
	return n, nil
}

// Offer returns an SDP offer of all our codecs with direction dir, and
// remembers it for SetAnswer.
func (n *Negotiator) Offer(dir Direction) ([]byte, error) {
	if dir == DirectionUnknown {
		return nil, fmt.Errorf("media: offer: %w", ErrInvalidDirection)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	specs := append(append([]codecSpec(nil), n.codecs...), n.events...)
	if n.cn {
		specs = append(specs, cnSpec)
	}
	md := n.mediaLine(specs, dir, n.offerProfile(), n.offerCrypto())
	b, err := n.marshal([]*sdp.MediaDescription{md})
	if err != nil {
		return nil, err
	}
	n.pending = &dir
	return b, nil
}

// Answer answers offer with direction dir as the most we want (RFC 3264 §6).
//
// Codec choice: the first codec in OUR preference order (Local.Codecs) that
// the offer lists. RFC 3264 §6.1 leaves the choice to the answerer; the
// site's configured order reflects its bandwidth and quality policy, so it
// wins over the offerer's. The answer then lists that one codec (plus
// telephone-event at the same clock rate), with the payload type numbers
// the offerer used, so both ends send the same numbers.
//
// The first audio m-line over RTP/AVP (or RTP/SAVP, with SRTP on) with a
// common codec and acceptable keys is accepted; every other m-line is
// refused with port 0, keeping the m-line count (RFC 3264 §6). SRTP: see
// SRTPMode; the answer echoes the tag and suite of the first offered
// a=crypto line we support, with a key of ours (RFC 4568 §7.1.2). RTP/SAVPF
// and UDP/TLS/RTP/SAVPF (WebRTC) are refused. The direction mirrors the offer's and is
// limited by dir. An offer with c=0.0.0.0 (the RFC 2543 hold, RFC 3264
// §8.4) is taken as sendonly (or inactive when it said recvonly).
//
// Errors wrap ErrNotAcceptable when the offer is malformed or has nothing
// we can use.
func (n *Negotiator) Answer(offer []byte, dir Direction) ([]byte, Negotiated, error) {
	if dir == DirectionUnknown {
		return nil, Negotiated{}, fmt.Errorf("media: answer: %w", ErrInvalidDirection)
	}
	sd, err := parseSDP(offer)
	if err != nil {
		return nil, Negotiated{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()

	chosen := -1
	var neg Negotiated
	var reasons []string
	for i, md := range sd.MediaDescriptions {
		if chosen >= 0 {
			break
		}
		if why := n.usable(md); why != "" {
			reasons = append(reasons, fmt.Sprintf("m-line %d: %s", i+1, why))
			continue
		}
		keys, why := n.answerCrypto(md)
		if why != "" {
			reasons = append(reasons, fmt.Sprintf("m-line %d: %s", i+1, why))
			continue
		}
		formats := mediaFormats(md)
		var ok bool
		neg, ok = n.pickByLocal(formats)
		if !ok {
			reasons = append(reasons, fmt.Sprintf("m-line %d: no common codec", i+1))
			continue
		}
		neg.SRTP = keys
		if err := remoteTransport(sd, md, &neg); err != nil {
			return nil, Negotiated{}, err
		}
		neg.RemoteDirection = holdDirection(sd, md)
		neg.LocalDirection = dir.Intersect(neg.RemoteDirection.Reverse())
		if neg.PTime == 0 {
			neg.PTime = n.local.PTime
		}
		chosen = i
	}
	if chosen < 0 {
		if len(reasons) == 0 {
			reasons = append(reasons, "no media")
		}
		return nil, Negotiated{}, fmt.Errorf("%w: %s", ErrNotAcceptable, strings.Join(reasons, "; "))
	}

	media := make([]*sdp.MediaDescription, len(sd.MediaDescriptions))
	for i, md := range sd.MediaDescriptions {
		if i != chosen {
			media[i] = rejectedLine(md)
			continue
		}
		spec, _ := lookupCodec(strings.ToLower(neg.Codec.Name))
		spec.pt = neg.Codec.PayloadType
		specs := []codecSpec{spec}
		if neg.DTMF != nil {
			ev := eventSpec(neg.DTMF.ClockRate)
			ev.pt = neg.DTMF.PayloadType
			specs = append(specs, ev)
		}
		if neg.CN != nil {
			cn := cnSpec
			cn.pt = neg.CN.PayloadType
			specs = append(specs, cn)
		}
		var crypto []cryptoLine
		if neg.SRTP != nil {
			crypto = []cryptoLine{{tag: neg.SRTP.Tag, suite: neg.SRTP.Suite, key: neg.SRTP.LocalKey}}
		}
		media[i] = n.mediaLine(specs, neg.LocalDirection, md.MediaName.Protos, crypto)
	}
	b, err := n.marshal(media)
	if err != nil {
		return nil, Negotiated{}, err
	}
	n.pending = nil
	return b, neg, nil
}

// SetAnswer applies an answer to our last offer (RFC 3264 §7). The codec is
// the first of the answer's formats we offered (the answerer's preference);
// Codec.PayloadType is the number the answer gave it and RecvPayloadType
// ours. Errors wrap ErrNotAcceptable, or are ErrNoOffer.
func (n *Negotiator) SetAnswer(answer []byte) (Negotiated, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pending == nil {
		return Negotiated{}, ErrNoOffer
	}
	offered := *n.pending
	n.pending = nil // the exchange is over, whether the answer is usable or not

	sd, err := parseSDP(answer)
	if err != nil {
		return Negotiated{}, err
	}
	// RFC 3264 §6: the answer has exactly as many m-lines as the offer.
	if len(sd.MediaDescriptions) != 1 {
		return Negotiated{}, fmt.Errorf("%w: answer has %d m-lines, offer had 1", ErrNotAcceptable, len(sd.MediaDescriptions))
	}
	md := sd.MediaDescriptions[0]
	if md.MediaName.Port.Value == 0 {
		return Negotiated{}, fmt.Errorf("%w: answer refused the audio stream", ErrNotAcceptable)
	}
	if why := n.usable(md); why != "" {
		return Negotiated{}, fmt.Errorf("%w: answer: %s", ErrNotAcceptable, why)
	}
	neg, ok := n.pickByRemote(mediaFormats(md))
	if !ok {
		return Negotiated{}, fmt.Errorf("%w: answer holds no codec we offered", ErrNotAcceptable)
	}
	if err := remoteTransport(sd, md, &neg); err != nil {
		return Negotiated{}, err
	}
	keys, err := n.answeredCrypto(md)
	if err != nil {
		return Negotiated{}, err
	}
	neg.SRTP = keys
	neg.RemoteDirection = holdDirection(sd, md)
	neg.LocalDirection = offered.Intersect(neg.RemoteDirection.Reverse())
	if neg.PTime == 0 {
		neg.PTime = n.local.PTime
	}
	return neg, nil
}

// parseSDP unmarshals body, wrapping failures in ErrNotAcceptable.
func parseSDP(body []byte) (*sdp.SessionDescription, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%w: malformed sdp: %w", ErrNotAcceptable, err)
	}
	return &sd, nil
}

// usable returns why md cannot carry our audio, or "".
func (n *Negotiator) usable(md *sdp.MediaDescription) string {
	if md.MediaName.Media != "audio" {
		return fmt.Sprintf("media %q not supported", md.MediaName.Media)
	}
	if md.MediaName.Port.Value == 0 {
		return "stream refused (port 0)"
	}
	switch p := strings.Join(md.MediaName.Protos, "/"); {
	case p == "RTP/AVP":
	case p == "RTP/SAVP" && n.local.SRTP != SRTPOff:
	default:
		return fmt.Sprintf("profile %s not supported", p)
	}
	return ""
}

// isSAVP reports whether md uses the RTP/SAVP profile (RFC 3711 §12).
func isSAVP(md *sdp.MediaDescription) bool {
	return strings.Join(md.MediaName.Protos, "/") == "RTP/SAVP"
}

// offerProfile is the transport of our offers: RTP/SAVP when SRTP is
// mandatory, else RTP/AVP (see SRTPMode).
func (n *Negotiator) offerProfile() []string {
	if n.local.SRTP == SRTPMandatory {
		return []string{"RTP", "SAVP"}
	}
	return []string{"RTP", "AVP"}
}

// offerCrypto returns our a=crypto lines, tags 1, 2, … in srtpSuites order.
func (n *Negotiator) offerCrypto() []cryptoLine {
	if n.local.SRTP == SRTPOff {
		return nil
	}
	out := make([]cryptoLine, 0, len(srtpSuites))
	for i, suite := range srtpSuites {
		out = append(out, cryptoLine{tag: i + 1, suite: suite, key: n.srtpKeys[suite]})
	}
	return out
}

// cryptoLines returns md's a=crypto lines we can use, in offer order
// (RFC 4568 §7.1.1: the offerer's preference).
func cryptoLines(md *sdp.MediaDescription) (usable []cryptoLine, found bool) {
	for _, a := range md.Attributes {
		if a.Key != "crypto" {
			continue
		}
		found = true
		if c, err := parseCrypto(a.Value); err == nil {
			usable = append(usable, c)
		}
	}
	return usable, found
}

// answerCrypto picks the SRTP keys for answering md, or says why md must
// be refused. It returns nil keys for plain RTP.
func (n *Negotiator) answerCrypto(md *sdp.MediaDescription) (*SRTPKeys, string) {
	if n.local.SRTP == SRTPOff {
		// usable has refused RTP/SAVP; a=crypto in RTP/AVP is ignored.
		return nil, ""
	}
	lines, _ := cryptoLines(md)
	if len(lines) == 0 {
		if isSAVP(md) || n.local.SRTP == SRTPMandatory {
			return nil, "no usable a=crypto (srtp required)"
		}
		return nil, ""
	}
	c := lines[0]
	return &SRTPKeys{Suite: c.suite, Tag: c.tag, LocalKey: n.srtpKeys[c.suite], RemoteKey: c.key}, ""
}

// answeredCrypto reads the keys from an answer to our offer (RFC 4568
// §7.1.3): one a=crypto line whose tag and suite are one we offered.
func (n *Negotiator) answeredCrypto(md *sdp.MediaDescription) (*SRTPKeys, error) {
	if n.local.SRTP == SRTPOff {
		return nil, nil
	}
	lines, found := cryptoLines(md)
	if len(lines) == 0 {
		if found || isSAVP(md) || n.local.SRTP == SRTPMandatory {
			return nil, fmt.Errorf("%w: answer has no usable a=crypto (srtp %s)", ErrNotAcceptable, n.local.SRTP)
		}
		return nil, nil // best-effort offer answered by a plain RTP peer
	}
	c := lines[0]
	offered := n.offerCrypto()
	if c.tag < 1 || c.tag > len(offered) || offered[c.tag-1].suite != c.suite {
		return nil, fmt.Errorf("%w: answer a=crypto tag %d %s was not offered", ErrNotAcceptable, c.tag, c.suite)
	}
	return &SRTPKeys{Suite: c.suite, Tag: c.tag, LocalKey: n.srtpKeys[c.suite], RemoteKey: c.key}, nil
}

// format is one payload format of an m-line with its rtpmap and fmtp.
type format struct {
	pt    uint8
	codec sdp.Codec
}

// mediaFormats lists md's formats in m-line order. pion's GetCodecMap works
// on the whole session and merges the formats of all m-lines, so it is run
// on a one-m-line copy here to keep each m-line's own map.
func mediaFormats(md *sdp.MediaDescription) []format {
	one := sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{md}}
	byPT := one.GetCodecMap()
	var out []format
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		c, ok := byPT[uint8(pt)]
		if !ok && uint8(pt) == ptCN {
			// RFC 3551 §6: payload type 13 is CN/8000 without an rtpmap.
			c, ok = sdp.Codec{PayloadType: ptCN, Name: cnSpec.name, ClockRate: cnSpec.clock}, true
		}
		if !ok || c.Name == "" {
			continue
		}
		out = append(out, format{pt: uint8(pt), codec: c})
	}
	return out
}

// matches reports whether an offered format is spec.
func (s codecSpec) matches(c sdp.Codec) bool {
	if !strings.EqualFold(c.Name, s.name) || c.ClockRate != s.clock {
		return false
	}
	if s.channels == 0 {
		return c.EncodingParameters == "" || c.EncodingParameters == "1"
	}
	return c.EncodingParameters == strconv.Itoa(s.channels)
}

// pickByLocal chooses the first of our codecs the formats hold.
func (n *Negotiator) pickByLocal(formats []format) (Negotiated, bool) {
	for _, spec := range n.codecs {
		for _, f := range formats {
			if spec.matches(f.codec) {
				return n.negotiated(spec, f, f.pt, formats), true
			}
		}
	}
	return Negotiated{}, false
}

// pickByRemote chooses the first of the formats that is one of our codecs.
func (n *Negotiator) pickByRemote(formats []format) (Negotiated, bool) {
	for _, f := range formats {
		for _, spec := range n.codecs {
			if spec.matches(f.codec) {
				return n.negotiated(spec, f, spec.pt, formats), true
			}
		}
	}
	return Negotiated{}, false
}

// negotiated fills the codec part of a Negotiated for spec found as f.
func (n *Negotiator) negotiated(spec codecSpec, f format, recvPT uint8, formats []format) Negotiated {
	c := Codec{
		Name:        spec.name,
		PayloadType: f.pt,
		ClockRate:   spec.clock,
		SampleRate:  spec.sampleRate,
		Channels:    1,
		Fmtp:        f.codec.Fmtp,
	}
	if spec.key == codecOpus && n.local.Opus.Stereo && fmtpParams(f.codec.Fmtp)["stereo"] == "1" {
		c.Channels = 2
	}
	neg := Negotiated{Codec: c, RecvPayloadType: recvPT}
	if n.local.DTMF {
		ev := eventSpec(spec.clock)
		for _, g := range formats {
			if ev.matches(g.codec) {
				fmtp := g.codec.Fmtp
				if fmtp == "" {
					fmtp = "0-15" // RFC 4733 §2.4.1: the default event list
				}
				neg.DTMF = &Codec{Name: ev.name, PayloadType: g.pt, ClockRate: ev.clock,
					SampleRate: ev.sampleRate, Channels: 1, Fmtp: fmtp}
				break
			}
		}
	}
	if n.local.ComfortNoise && spec.clock == cnSpec.clock {
		for _, g := range formats {
			if cnSpec.matches(g.codec) {
				neg.CN = &Codec{Name: cnSpec.name, PayloadType: g.pt, ClockRate: cnSpec.clock,
					SampleRate: cnSpec.sampleRate, Channels: 1}
				break
			}
		}
	}
	return neg
}

// remoteTransport sets the RTP/RTCP addresses and ptime of md into neg.
func remoteTransport(sd *sdp.SessionDescription, md *sdp.MediaDescription, neg *Negotiated) error {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	// RFC 4566 §5.7: c= is at session level or in every m-line.
	if ci == nil || ci.Address == nil {
		return fmt.Errorf("%w: no connection address (c=)", ErrNotAcceptable)
	}
	if ci.NetworkType != "IN" {
		return fmt.Errorf("%w: network type %q not supported", ErrNotAcceptable, ci.NetworkType)
	}
	addr, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		// A host name is allowed by RFC 4566 but resolving it is not this
		// layer's job; peers of ours send literal addresses.
		return fmt.Errorf("%w: connection address %q: %w", ErrNotAcceptable, ci.Address.Address, err)
	}
	port := md.MediaName.Port.Value
	if port < 1 || port > 65535 {
		return fmt.Errorf("%w: port %d out of range", ErrNotAcceptable, port)
	}
	if v, ok := md.Attribute("ptime"); ok {
		ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || ms <= 0 || ms > 1000 {
			return fmt.Errorf("%w: bad ptime %q", ErrNotAcceptable, v)
		}
		neg.PTime = int(math.Round(ms))
	}
	if addr.IsUnspecified() {
		return nil // on hold: nowhere to send to
	}
	neg.Remote = netip.AddrPortFrom(addr, uint16(port))
	neg.RemoteRTCP = netip.AddrPortFrom(addr, uint16(port+1)) // RFC 3550 §11
	if v, ok := md.Attribute("rtcp"); ok {
		rtcpAddr, err := parseRTCPAttr(v, addr)
		if err != nil {
			return err
		}
		neg.RemoteRTCP = rtcpAddr
	}
	return nil
}

// parseRTCPAttr parses "a=rtcp:<port> [IN IP4 <addr>]" (RFC 3605 §2.1).
func parseRTCPAttr(v string, def netip.Addr) (netip.AddrPort, error) {
	f := strings.Fields(v)
	if len(f) != 1 && len(f) != 4 {
		return netip.AddrPort{}, fmt.Errorf("%w: bad a=rtcp %q", ErrNotAcceptable, v)
	}
	port, err := strconv.ParseUint(f[0], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: bad a=rtcp port %q", ErrNotAcceptable, v)
	}
	addr := def
	if len(f) == 4 {
		if addr, err = netip.ParseAddr(f[3]); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%w: bad a=rtcp address %q", ErrNotAcceptable, v)
		}
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// RemoteDirection reads the direction a peer's SDP declares for its audio
// stream: that of the first audio m-line with a port (a refused line, port
// 0, does not count), as holdDirection reads it. This package is the only
// one that reads SDP; the SIP layer hands offers here to learn whether a
// re-INVITE or UPDATE holds or resumes the call.
//
// Errors wrap ErrNotAcceptable when the body is malformed or has no audio
// stream.
func RemoteDirection(body []byte) (Direction, error) {
	sd, err := parseSDP(body)
	if err != nil {
		return DirectionUnknown, err
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 {
			return holdDirection(sd, md), nil
		}
	}
	return DirectionUnknown, fmt.Errorf("%w: no audio stream", ErrNotAcceptable)
}

// holdDirection returns md's direction (media level over session level,
// sendrecv by default, RFC 3264 §5.1), limited to sendonly when the
// connection address is 0.0.0.0 or :: (RFC 3264 §8.4) — except on a
// stream with ICE, where that address is only a placeholder and the
// candidates say where media goes (RFC 8839 §4.2.1.2: a WebRTC peer
// writes c=IN IP4 0.0.0.0 until it has one).
func holdDirection(sd *sdp.SessionDescription, md *sdp.MediaDescription) Direction {
	dir := attrDirection(md.Attributes)
	if dir == DirectionUnknown {
		dir = attrDirection(sd.Attributes)
	}
	if dir == DirectionUnknown {
		dir = SendRecv
	}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci != nil && ci.Address != nil && !hasAttr(sd, md, "ice-ufrag") {
		if a, err := netip.ParseAddr(ci.Address.Address); err == nil && a.IsUnspecified() {
			dir = dir.Intersect(SendOnly)
		}
	}
	return dir
}

func attrDirection(attrs []sdp.Attribute) Direction {
	for _, a := range attrs {
		if d, err := ParseDirection(a.Key); err == nil && a.Value == "" {
			return d
		}
	}
	return DirectionUnknown
}

// rejectedLine refuses an offered m-line: same media, profile and formats,
// port 0 (RFC 3264 §6).
func rejectedLine(md *sdp.MediaDescription) *sdp.MediaDescription {
	formats := md.MediaName.Formats
	if len(formats) == 0 {
		formats = []string{"0"}
	}
	return &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media:   md.MediaName.Media,
		Port:    sdp.RangedPort{Value: 0},
		Protos:  append([]string(nil), md.MediaName.Protos...),
		Formats: append([]string(nil), formats...),
	}}
}

// mediaLine builds our audio m-line for specs.
func (n *Negotiator) mediaLine(specs []codecSpec, dir Direction, protos []string, crypto []cryptoLine) *sdp.MediaDescription {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{
		Media:  "audio",
		Port:   sdp.RangedPort{Value: n.local.Port},
		Protos: append([]string(nil), protos...),
	}}
	for _, s := range specs {
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(s.pt)))
	}
	for _, s := range specs {
		rtpmap := fmt.Sprintf("%d %s/%d", s.pt, s.name, s.clock)
		if s.channels > 0 {
			rtpmap += "/" + strconv.Itoa(s.channels)
		}
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", rtpmap))
		if fmtp := n.fmtp(s); fmtp != "" {
			md.Attributes = append(md.Attributes, sdp.NewAttribute("fmtp", fmt.Sprintf("%d %s", s.pt, fmtp)))
		}
	}
	md.Attributes = append(md.Attributes,
		sdp.NewAttribute("ptime", strconv.Itoa(n.local.PTime)),
		sdp.NewPropertyAttribute(dir.String()))
	for _, c := range crypto {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("crypto", c.String()))
	}
	return md
}

// fmtp returns the format parameters we write for s.
func (n *Negotiator) fmtp(s codecSpec) string {
	switch s.key {
	case codecOpus:
		// RFC 7587 §6.1 parameters; they state what we prefer to receive.
		p := []string{"minptime=10"}
		if n.local.Opus.FEC {
			p = append(p, "useinbandfec=1")
		}
		if n.local.Opus.Stereo {
			p = append(p, "stereo=1", "sprop-stereo=1")
		}
		if r := n.local.Opus.MaxPlaybackRate; r > 0 {
			p = append(p, "maxplaybackrate="+strconv.Itoa(r))
		}
		return strings.Join(p, ";")
	case codecEvent:
		return "0-16" // RFC 4733 §3.2: DTMF digits 0-9, *, #, A-D and flash
	default:
		return ""
	}
}

// marshal wraps media in a session description and marshals it. The o=
// version goes up by one whenever the description differs from the last one
// we produced, and stays when it is the same (RFC 3264 §8).
func (n *Negotiator) marshal(media []*sdp.MediaDescription) ([]byte, error) {
	addrType := "IP4"
	if n.local.Addr.Is6() && !n.local.Addr.Is4In6() {
		addrType = "IP6"
	}
	addr := n.local.Addr.Unmap().String()
	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "-",
			SessionID:      n.id,
			SessionVersion: n.version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: addr,
		},
		SessionName: sdp.SessionName(n.local.SessionName),
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: addr},
		},
		TimeDescriptions:  []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: media,
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("media: marshal sdp: %w", err)
	}
	if n.sent && !bytes.Equal(b, n.last) {
		n.version++
		sd.Origin.SessionVersion = n.version
		if b, err = sd.Marshal(); err != nil {
			return nil, fmt.Errorf("media: marshal sdp: %w", err)
		}
	}
	n.sent, n.last = true, b
	return b, nil
}

// fmtpParams splits "a=1;b=2" into a map.
func fmtpParams(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k != "" {
			m[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return m
}
