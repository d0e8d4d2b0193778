package media

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/pion/rtcp"
)

// RTCP reports (RFC 3550 §6). The packets are pion/rtcp's; the counters
// behind them are kept here because the receive statistics must be those
// of the packets the jitter buffer saw, and pion's report interceptor keeps
// its counters to itself (it exposes no loss, jitter or RTT), so Stats and
// the MOS estimate could not be built on it.

// DefaultRTCPInterval is the RTCP report interval: RFC 3550 §6.2's
// recommended minimum of 5 s, which for a two-party call is the interval
// itself.
const DefaultRTCPInterval = 5 * time.Second

// rtcpCNAMELen is the length of our random CNAME (RFC 7022 §4.2).
const rtcpCNAMELen = 12

// ntpEpochOffset is the number of seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// ntpTime returns t as a 64-bit NTP timestamp (RFC 3550 §4).
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return secs<<32 | frac
}

// ntpMiddle returns the middle 32 bits of t's NTP timestamp, the unit of
// LSR (RFC 3550 §6.4.1).
func ntpMiddle(t time.Time) uint32 { return uint32(ntpTime(t) >> 16) }

// recvStats are RFC 3550 Appendix A.1/A.3's per-source counters.
type recvStats struct {
	init          bool
	ssrc          uint32
	baseSeq       uint32
	maxSeq        uint16
	cycles        uint32 // shifted count of sequence number wraps
	badSeq        uint32
	received      uint64
	expectedPrior uint64
	receivedPrior uint64
	fraction      uint8 // of the last report interval

	lastSR   uint32    // middle 32 bits of the last SR's NTP time
	lastSRAt time.Time // when it arrived
}

// RFC 3550 A.1 constants.
const (
	maxDropout    = 3000
	maxMisorder   = 100
	rtpSeqMod     = 1 << 16
	maxCumulative = 0x7FFFFF // 24-bit signed field
)

// update counts one packet of ssrc with seq (RFC 3550 A.1, without the
// probation of new sources: a two-party call has one).
func (r *recvStats) update(ssrc uint32, seq uint16) {
	if !r.init || ssrc != r.ssrc {
		*r = recvStats{init: true, ssrc: ssrc, lastSR: r.lastSR, lastSRAt: r.lastSRAt}
		r.restart(seq)
		r.received = 1
		return
	}
	udelta := seq - r.maxSeq
	switch {
	case udelta < maxDropout:
		// In order, with a permissible gap.
		if seq < r.maxSeq {
			r.cycles += rtpSeqMod
		}
		r.maxSeq = seq
	case udelta <= rtpSeqMod-maxMisorder:
		// A very large jump: the peer restarted, if the next packet
		// follows this one.
		if uint32(seq) == r.badSeq {
			r.restart(seq)
		} else {
			r.badSeq = (uint32(seq) + 1) & (rtpSeqMod - 1)
			return
		}
	default:
		// Duplicate or reordered packet.
	}
	r.received++
}

func (r *recvStats) restart(seq uint16) {
	r.baseSeq = uint32(seq)
	r.maxSeq = seq
	r.badSeq = rtpSeqMod + 1
	r.cycles = 0
	r.received = 0
	r.expectedPrior = 0
	r.receivedPrior = 0
}

// extMax is the extended highest sequence number received.
func (r *recvStats) extMax() uint32 { return r.cycles + uint32(r.maxSeq) }

// expected is the number of packets expected (RFC 3550 A.3).
func (r *recvStats) expected() uint64 {
	if !r.init {
		return 0
	}
	return uint64(r.extMax()) - uint64(r.baseSeq) + 1
}

// lost is the cumulative number of packets lost; duplicates can make it
// negative (RFC 3550 §6.4.1).
func (r *recvStats) lost() int64 { return int64(r.expected()) - int64(r.received) }

// interval computes the fraction lost since the last call (RFC 3550 A.3)
// and remembers it.
func (r *recvStats) interval() uint8 {
	expected := r.expected()
	expInt := expected - r.expectedPrior
	r.expectedPrior = expected
	recInt := r.received - r.receivedPrior
	r.receivedPrior = r.received
	lostInt := int64(expInt) - int64(recInt)
	if expInt == 0 || lostInt <= 0 {
		r.fraction = 0
	} else {
		r.fraction = uint8((lostInt << 8) / int64(expInt))
	}
	return r.fraction
}

// reportBlock builds the reception report for this source at now
// (RFC 3550 §6.4.1).
func (r *recvStats) reportBlock(now time.Time, jitterTS uint32) rtcp.ReceptionReport {
	lost := r.lost()
	switch {
	case lost > maxCumulative:
		lost = maxCumulative
	case lost < -maxCumulative-1:
		lost = -maxCumulative - 1
	}
	rr := rtcp.ReceptionReport{
		SSRC:               r.ssrc,
		FractionLost:       r.interval(),
		TotalLost:          uint32(lost) & 0xFFFFFF,
		LastSequenceNumber: r.extMax(),
		Jitter:             jitterTS,
	}
	if !r.lastSRAt.IsZero() {
		rr.LastSenderReport = r.lastSR
		// DLSR in units of 1/65536 s.
		rr.Delay = uint32(now.Sub(r.lastSRAt) * 65536 / time.Second)
	}
	return rr
}

// rttFrom computes the round-trip time from a report block about our
// stream received at now: RTT = A − LSR − DLSR (RFC 3550 §6.4.1). ok is
// false when the peer has seen no SR of ours yet.
func rttFrom(rr rtcp.ReceptionReport, now time.Time) (time.Duration, bool) {
	if rr.LastSenderReport == 0 {
		return 0, false
	}
	a := ntpMiddle(now)
	d := a - rr.LastSenderReport - rr.Delay
	if int32(d) < 0 {
		return 0, false // clocks or fields inconsistent
	}
	return time.Duration(uint64(d) * uint64(time.Second) / 65536), true
}

// reportLoop is the RTCP sender goroutine, owned by the Session: it sends a
// report on every tick and ends when Close closes done.
func (s *Session) reportLoop(tk Ticker) {
	defer s.wg.Done()
	defer tk.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tk.C():
			if err := s.SendReport(); err != nil && !s.stopping() {
				s.log.Debug("rtcp report not sent", "err", err)
			}
		}
	}
}

// SendReport sends one RTCP compound packet now: an SR when we sent RTP
// since the report before last, else an RR, with a reception report block
// once the peer's RTP arrived, and our CNAME (RFC 3550 §6.1, §6.4). The
// RTCP goroutine calls it every RTCPInterval; it is exported for a BYE-less
// final report and for tests. Nothing is sent without an RTCP socket or
// destination.
func (s *Session) SendReport() error {
	s.jbMu.Lock()
	jitterTS := s.jb.jitterTS()
	s.jbMu.Unlock()
	now := s.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	if s.rtc == nil || !s.rtcpDest.IsValid() {
		return nil
	}
	var blocks []rtcp.ReceptionReport
	if s.recv.init {
		blocks = append(blocks, s.recv.reportBlock(now, jitterTS))
	}
	var report rtcp.Packet
	if s.stats.PacketsSent > s.sentAt[0] {
		// RFC 3550 §6.4.1: the RTP time of the NTP time, extrapolated
		// from the last packet sent.
		rtpTime := s.lastSentTS
		if !s.stats.LastSent.IsZero() {
			rtpTime += uint32(now.Sub(s.stats.LastSent) * time.Duration(s.neg.Codec.ClockRate) / time.Second)
		}
		report = &rtcp.SenderReport{
			SSRC:        s.ssrc,
			NTPTime:     ntpTime(now),
			RTPTime:     rtpTime,
			PacketCount: uint32(s.stats.PacketsSent),
			OctetCount:  uint32(s.stats.BytesSent),
			Reports:     blocks,
		}
	} else {
		report = &rtcp.ReceiverReport{SSRC: s.ssrc, Reports: blocks}
	}
	s.sentAt[0], s.sentAt[1] = s.sentAt[1], s.stats.PacketsSent
	raw, err := rtcp.Marshal([]rtcp.Packet{report, rtcp.NewCNAMESourceDescription(s.ssrc, s.cname)})
	if err != nil {
		return fmt.Errorf("media: rtcp marshal: %w", err)
	}
	if s.sec != nil {
		// RFC 3711 §3.4: SRTCP.
		if raw, err = s.sec.enc.EncryptRTCP(nil, raw, nil); err != nil {
			return fmt.Errorf("media: srtcp protect: %w", err)
		}
	}
	if _, err := s.rtc.WriteToUDPAddrPort(raw, s.rtcpDest); err != nil {
		return fmt.Errorf("media: rtcp send to %s: %w", s.rtcpDest, err)
	}
	s.stats.RTCPSent++
	return nil
}

// readRTCP is the RTCP reader goroutine, owned by the Session; it ends when
// Close closes the socket.
func (s *Session) readRTCP() {
	defer s.wg.Done()
	s.readLoop(s.rtc, "rtcp", func(sec *srtpContexts, dst, data []byte) ([]byte, error) {
		return sec.decRTCP.DecryptRTCP(dst, data, nil)
	}, func(data []byte, from netip.AddrPort) {
		pkts, err := rtcp.Unmarshal(data)
		if err != nil {
			s.log.Debug("rtcp packet ignored", "err", err)
			return
		}
		s.receiveRTCP(pkts, from)
	})
}

// receiveRTCP takes the SR time for our next LSR and the report blocks
// about our stream for RTT and the peer's view of loss and jitter.
func (s *Session) receiveRTCP(pkts []rtcp.Packet, from netip.AddrPort) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.RTCPReceived++
	s.stats.LastRTCPReceived = now
	if !s.rtcpLatched {
		// RFC 4961: symmetric RTCP, as for RTP.
		s.rtcpDest, s.rtcpLatched = netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), true
	}
	for _, p := range pkts {
		var blocks []rtcp.ReceptionReport
		switch r := p.(type) {
		case *rtcp.SenderReport:
			s.recv.lastSR = uint32(r.NTPTime >> 16)
			s.recv.lastSRAt = now
			blocks = r.Reports
		case *rtcp.ReceiverReport:
			blocks = r.Reports
		}
		for _, b := range blocks {
			if b.SSRC != s.ssrc {
				continue
			}
			if rtt, ok := rttFrom(b, now); ok {
				s.stats.RTT = rtt
			}
			s.stats.RemoteFractionLost = float64(b.FractionLost) / 256
			// TotalLost is a 24-bit two's complement number.
			s.stats.RemotePacketsLost = int64(int32(b.TotalLost<<8) >> 8)
			if s.neg.Codec.ClockRate > 0 {
				s.stats.RemoteJitter = time.Duration(b.Jitter) * time.Second / time.Duration(s.neg.Codec.ClockRate)
			}
		}
	}
}
