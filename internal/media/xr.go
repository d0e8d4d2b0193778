package media

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/rtcp"
)

// Voice-quality metrics: RTCP XR VoIP Metrics report blocks (RFC 3611
// §4.7) in our RTCP and read from the peer's, and the end-of-call session
// report a collector receives in a SIP PUBLISH (RFC 6035). The wire format
// of the block is pion/rtcp's VoIPMetricsReportBlock; VoIPMetrics is the
// same block in figures.
//
//	receive stats + jitter buffer + E-model ─► VoIPMetrics ─► XR block ─► peer
//	peer's XR block about our stream ─► Stats.RemoteMetrics
//	Stats.LocalMetrics + RemoteMetrics + call facts ─► VQReport ─► PUBLISH body

// XR field values meaning "unavailable" (RFC 3611 §4.7.5, §4.7.6).
const (
	xrUnavailable = 127
	// xrGmin is the gap threshold RFC 3611 §4.7.2 recommends.
	xrGmin = 16
	// RX config (RFC 3611 §4.7.6): PLC bits 7-6 = 11 standard concealment
	// (every decoder of ours conceals), JBA bits 5-4 = 11 adaptive jitter
	// buffer.
	xrPLCStandard = 0x3 << 6
	xrJBAdaptive  = 0x3 << 4
)

// VoIPMetrics is one RTCP XR VoIP Metrics block (RFC 3611 §4.7) about the
// stream of SSRC, as its receiver sees it.
type VoIPMetrics struct {
	// SSRC is the source the block is about.
	SSRC uint32
	// LossRate and DiscardRate are the fractions of packets lost in the
	// network and discarded (late) by the jitter buffer, 0-1 (§4.7.1).
	LossRate, DiscardRate float64
	// BurstDensity and GapDensity are the loss+discard fractions within
	// bursts and gaps, 0-1; BurstDuration and GapDuration their mean
	// lengths (§4.7.2). Our receiver does not split losses into bursts:
	// every loss counts as gap loss (burst figures 0), which is exact for
	// random loss and what Gmin = 16 gives for isolated losses.
	BurstDensity, GapDensity   float64
	BurstDuration, GapDuration time.Duration
	// RoundTripDelay and EndSystemDelay are §4.7.3's delays: the RTT from
	// RTCP and our buffering and packetisation delay.
	RoundTripDelay, EndSystemDelay time.Duration
	// RFactor is the conversational R (0-100), -1 when unavailable.
	RFactor int
	// MOSLQ and MOSCQ are listening and conversational MOS estimates,
	// 1-5 in tenths; 0 when unavailable (§4.7.5).
	MOSLQ, MOSCQ float64
	// Gmin is the gap threshold in packets (§4.7.2).
	Gmin int
	// RXConfig is §4.7.6's receiver configuration byte (PLC, JBA, JB rate).
	RXConfig uint8
	// JBNominal, JBMaximum and JBAbsMax are the jitter buffer's nominal,
	// current maximum and absolute maximum delay (§4.7.7).
	JBNominal, JBMaximum, JBAbsMax time.Duration
}

// Valid reports whether the block holds figures (a zero VoIPMetrics is "no
// block yet").
func (m VoIPMetrics) Valid() bool { return m.SSRC != 0 || m.Gmin != 0 }

// fixed8 is an 8-bit fixed-point fraction with the binary point at the
// left edge (RFC 3611 §4.7.1): fraction × 256, saturated at 255.
func fixed8(f float64) uint8 {
	return uint8(min(max(math.Round(f*256), 0), 255))
}

func ms16(d time.Duration) uint16 {
	return uint16(min(max(d.Milliseconds(), 0), math.MaxUint16))
}

func mos10(m float64) uint8 {
	if m <= 0 {
		return xrUnavailable
	}
	return uint8(min(max(math.Round(m*10), 10), 50))
}

// Block returns the metrics as pion/rtcp's report block.
func (m VoIPMetrics) Block() *rtcp.VoIPMetricsReportBlock {
	rf := uint8(xrUnavailable)
	if m.RFactor >= 0 {
		rf = uint8(min(m.RFactor, 100))
	}
	return &rtcp.VoIPMetricsReportBlock{
		SSRC:           m.SSRC,
		LossRate:       fixed8(m.LossRate),
		DiscardRate:    fixed8(m.DiscardRate),
		BurstDensity:   fixed8(m.BurstDensity),
		GapDensity:     fixed8(m.GapDensity),
		BurstDuration:  ms16(m.BurstDuration),
		GapDuration:    ms16(m.GapDuration),
		RoundTripDelay: ms16(m.RoundTripDelay),
		EndSystemDelay: ms16(m.EndSystemDelay),
		// §4.7.4: signal, noise and echo levels are not measured here.
		SignalLevel: xrUnavailable,
		NoiseLevel:  xrUnavailable,
		RERL:        xrUnavailable,
		Gmin:        uint8(m.Gmin),
		RFactor:     rf,
		ExtRFactor:  xrUnavailable,
		MOSLQ:       mos10(m.MOSLQ),
		MOSCQ:       mos10(m.MOSCQ),
		RXConfig:    m.RXConfig,
		JBNominal:   ms16(m.JBNominal),
		JBMaximum:   ms16(m.JBMaximum),
		JBAbsMax:    ms16(m.JBAbsMax),
	}
}

// MetricsFromBlock reads a received VoIP Metrics block.
func MetricsFromBlock(b *rtcp.VoIPMetricsReportBlock) VoIPMetrics {
	frac := func(v uint8) float64 { return float64(v) / 256 }
	msd := func(v uint16) time.Duration { return time.Duration(v) * time.Millisecond }
	mos := func(v uint8) float64 {
		if v == xrUnavailable || v < 10 || v > 50 {
			return 0
		}
		return float64(v) / 10
	}
	rf := int(b.RFactor)
	if b.RFactor > 100 {
		rf = -1
	}
	return VoIPMetrics{
		SSRC: b.SSRC, LossRate: frac(b.LossRate), DiscardRate: frac(b.DiscardRate),
		BurstDensity: frac(b.BurstDensity), GapDensity: frac(b.GapDensity),
		BurstDuration: msd(b.BurstDuration), GapDuration: msd(b.GapDuration),
		RoundTripDelay: msd(b.RoundTripDelay), EndSystemDelay: msd(b.EndSystemDelay),
		RFactor: rf, MOSLQ: mos(b.MOSLQ), MOSCQ: mos(b.MOSCQ), Gmin: int(b.Gmin), RXConfig: b.RXConfig,
		JBNominal: msd(b.JBNominal), JBMaximum: msd(b.JBMaximum), JBAbsMax: msd(b.JBAbsMax),
	}
}

// localMetrics builds the block about the peer's stream from what Stats
// computed: expected packets, late ones, the buffer and the E-model.
func localMetrics(st *Stats, expected uint64, js jitterStats, endSystem time.Duration, lossPct float64, lqR float64, elapsed time.Duration) VoIPMetrics {
	m := VoIPMetrics{
		SSRC: st.RemoteSSRC, Gmin: xrGmin, RXConfig: xrPLCStandard | xrJBAdaptive,
		RoundTripDelay: st.RTT, EndSystemDelay: endSystem,
		RFactor: int(math.Round(min(max(st.RFactor, 0), 100))),
		MOSLQ:   math.Round(MOSFromR(lqR)*10) / 10, MOSCQ: math.Round(st.MOS*10) / 10,
		JBNominal: js.target, JBMaximum: max(js.maxHeld, js.target), JBAbsMax: jitterMaxDelay,
	}
	if expected > 0 {
		m.LossRate = float64(max(st.PacketsLost, 0)) / float64(expected)
		m.DiscardRate = float64(js.late) / float64(expected)
	}
	m.GapDensity = min(lossPct/100, 1)
	m.GapDuration = elapsed
	return m
}

// PeerMetrics is what the peer reported about our stream: its XR VoIP
// Metrics block when it sends them, else the figures of its RTCP reception
// reports (loss, and the round trip they give) with the rest unavailable;
// not Valid when it sent no RTCP.
func (st Stats) PeerMetrics() VoIPMetrics {
	if st.RemoteMetrics.Valid() {
		return st.RemoteMetrics
	}
	if st.RTCPReceived == 0 {
		return VoIPMetrics{}
	}
	return VoIPMetrics{SSRC: st.SSRC, Gmin: xrGmin, LossRate: st.RemoteFractionLost, GapDensity: st.RemoteFractionLost,
		RoundTripDelay: st.RTT, RFactor: -1}
}

// QualityCause names what lowers a MOS estimate most: "loss" (packets
// lost in the network), "jitter" (packets late for the jitter buffer, or
// the buffer's own delay) or "delay" (the network's round trip). It
// compares the E-model impairments (ITU-T G.107) each would cause alone.
func QualityCause(st Stats) string {
	lm := st.LocalMetrics
	imp := CodecImpairment(st.Codec, true)
	lossI := rDefault - RFactor(0, 100*lm.LossRate, imp)
	lateI := rDefault - RFactor(0, 100*lm.DiscardRate, imp)
	netI := rDefault - RFactor(st.RTT/2, 0, imp)
	bufI := rDefault - RFactor(lm.EndSystemDelay, 0, imp)
	jitterI := lateI + bufI
	switch {
	case lossI >= jitterI && lossI >= netI:
		return "loss"
	case jitterI >= netI:
		return "jitter"
	default:
		return "delay"
	}
}

// VQReport is an RFC 6035 end-of-call session report (VQSessionReport:
// CallTerm).
type VQReport struct {
	// CallID is the SIP Call-ID; LocalID, RemoteID and OrigID are the
	// name-addr of our end, the peer and the caller (§4.2).
	CallID, LocalID, RemoteID, OrigID string
	// LocalGroup names the reporting endpoint (for example the user
	// agent); "" leaves it out.
	LocalGroup string
	// LocalAddr and RemoteAddr are the RTP addresses, with each side's
	// SSRC.
	LocalAddr, RemoteAddr netip.AddrPort
	LocalSSRC, RemoteSSRC uint32
	// Start and Stop bound the media session.
	Start, Stop time.Time
	// Codec and PTime describe the session (SessionDesc).
	Codec Codec
	PTime int
	// Local is what we measured of the peer's stream; Remote what the peer
	// reported of ours (RTCP XR, else what its reception reports said),
	// left out when not Valid.
	Local, Remote VoIPMetrics
	// DialogID is Call-ID;to-tag=…;from-tag=… (§4.2), "" to leave out.
	DialogID string
}

// VQReportContentType is the body type of an RFC 6035 report.
const VQReportContentType = "application/vq-rtcpxr"

// Marshal writes the report as RFC 6035 §4.2's grammar gives it: one
// "Name:value" per line, CRLF-terminated, parameters as NAME=value
// separated by spaces.
func (r VQReport) Marshal() []byte {
	var b strings.Builder
	line := func(name, value string) { b.WriteString(name + ":" + value + "\r\n") }
	line("VQSessionReport", " CallTerm")
	line("CallID", r.CallID)
	line("LocalID", r.LocalID)
	line("RemoteID", r.RemoteID)
	line("OrigID", r.OrigID)
	if r.LocalGroup != "" {
		line("LocalGroup", r.LocalGroup)
	}
	line("LocalAddr", addrParams(r.LocalAddr, r.LocalSSRC))
	line("RemoteAddr", addrParams(r.RemoteAddr, r.RemoteSSRC))
	r.metrics(line, "LocalMetrics", r.Local)
	if r.Remote.Valid() {
		r.metrics(line, "RemoteMetrics", r.Remote)
	}
	if r.DialogID != "" {
		line("DialogID", r.DialogID)
	}
	return []byte(b.String())
}

func addrParams(a netip.AddrPort, ssrc uint32) string {
	return fmt.Sprintf("IP=%s PORT=%d SSRC=%08x", a.Addr().Unmap(), a.Port(), ssrc)
}

// metrics writes one LocalMetrics or RemoteMetrics group (RFC 6035 §4.2).
func (r VQReport) metrics(line func(name, value string), name string, m VoIPMetrics) {
	pct := func(f float64) string { return strconv.FormatFloat(math.Round(f*1000)/10, 'f', 1, 64) }
	msec := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	line(name, "")
	line("Timestamps", "START="+r.Start.UTC().Format(time.RFC3339)+" STOP="+r.Stop.UTC().Format(time.RFC3339))
	ptime := r.PTime
	if ptime <= 0 {
		ptime = 20
	}
	// PLC=3 standard concealment, as the RX config of the XR block says.
	line("SessionDesc", fmt.Sprintf("PT=%d PD=%s SR=%d FD=%d FPP=1 PPS=%d PLC=3 SSUP=off",
		r.Codec.PayloadType, r.Codec.Name, r.Codec.ClockRate, ptime, 1000/ptime))
	line("JitterBuffer", fmt.Sprintf("JBA=3 JBR=0 JBN=%s JBM=%s JBX=%s", msec(m.JBNominal), msec(m.JBMaximum), msec(m.JBAbsMax)))
	line("PacketLoss", "NLR="+pct(m.LossRate)+" JDR="+pct(m.DiscardRate))
	line("BurstGapLoss", fmt.Sprintf("BLD=%s BD=%s GLD=%s GD=%s GMIN=%d", pct(m.BurstDensity), msec(m.BurstDuration),
		pct(m.GapDensity), msec(m.GapDuration), m.Gmin))
	line("Delay", "RTD="+msec(m.RoundTripDelay)+" ESD="+msec(m.EndSystemDelay))
	q := ""
	if m.RFactor >= 0 {
		q = "RCQ=" + strconv.Itoa(m.RFactor) + " "
	}
	if m.MOSLQ > 0 {
		q += "MOSLQ=" + strconv.FormatFloat(m.MOSLQ, 'f', 1, 64) + " "
	}
	if m.MOSCQ > 0 {
		q += "MOSCQ=" + strconv.FormatFloat(m.MOSCQ, 'f', 1, 64)
	}
	if q = strings.TrimSpace(q); q != "" {
		line("QualityEst", q)
	}
}
