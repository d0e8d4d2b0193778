package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/softphone/softphone/internal/tick"
)

// maxPacket is the largest UDP datagram the reader takes.
const maxPacket = 1500

// srtpOverhead is room for the SRTP/SRTCP authentication tag and index.
const srtpOverhead = 32

// Ticker is what a Session needs of time.Ticker. Tests inject their own to
// drive playout, RTCP and DTMF pacing without waiting.
type Ticker interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// TickerFunc makes a Ticker firing every d.
type TickerFunc func(d time.Duration) Ticker

// NewTimeTicker is the TickerFunc of the real clock (time.NewTicker).
func NewTimeTicker(d time.Duration) Ticker { return timeTicker{time.NewTicker(d)} }

type timeTicker struct{ t *time.Ticker }

func (t timeTicker) C() <-chan time.Time   { return t.t.C }
func (t timeTicker) Reset(d time.Duration) { t.t.Reset(d) }
func (t timeTicker) Stop()                 { t.t.Stop() }

// SessionOptions configure a Session.
type SessionOptions struct {
	// RTP and RTCP are the bound sockets (see PortRange.Listen), or the
	// packet conns of a WebRTC transport (webrtc.go). The Session owns
	// them from now on and closes them in Close. RTCP may be nil: then no
	// reports are sent or read.
	RTP, RTCP PacketConn
	// Negotiated is the offer/answer outcome to run with. With
	// Negotiated.SRTP set, RTP and RTCP are protected (RFC 3711).
	Negotiated Negotiated
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// Now is the session's clock: arrival times, playout, reports and
	// stats; nil means time.Now.
	Now func() time.Time
	// PlayoutTicker paces ReadFrame, one tick per ptime; nil means the
	// real clock (where the system has one, a tick.Clock that ReadFrame
	// waits on: clock.go).
	PlayoutTicker TickerFunc
	// RTCPTicker paces RTCP reports every RTCPInterval; nil means the
	// real clock.
	RTCPTicker TickerFunc
	// RTCPInterval is the report interval; 0 means DefaultRTCPInterval.
	RTCPInterval time.Duration
	// DTMFTicker paces SendDTMF's packets, one per ptime; nil means the
	// real clock.
	DTMFTicker TickerFunc
	// OnDTMF is called once for every telephone event received
	// (RFC 4733), with its digit (0-9, *, #, A-D). It runs on the RTP
	// reader goroutine and must not block.
	OnDTMF func(digit rune)
	// SSRC is our stream's SSRC; 0 picks a random one (RFC 3550 §8.1).
	// A WebRTC transport sets the one its SDP announced (a=ssrc).
	SSRC uint32
}

// Stats are a Session's counters and quality figures. Bytes count RTP
// payload octets, as the RTCP sender report does (RFC 3550 §6.4.1).
type Stats struct {
	PacketsSent, BytesSent         uint64
	PacketsReceived, BytesReceived uint64
	// PacketsIgnored counts packets that were not RTP, carried a payload
	// type other than the negotiated ones, or failed SRTP for another
	// reason than those below.
	PacketsIgnored uint64
	// PacketsForeignSource counts RTP packets dropped because they came
	// from another address than the latched one (RFC 4961 §4);
	// PacketsForeignSSRC those of the latched address with an SSRC that
	// is not the one played (RFC 3550 §8.2, A.1); RTCPForeignSource RTCP
	// packets from another address than the latched one. Relatches
	// counts the times the latch moved to a new address without a
	// re-INVITE (a NAT rebinding, a new media server); SSRCChanges the
	// times the played SSRC changed. See source.go.
	PacketsForeignSource, PacketsForeignSSRC, RTCPForeignSource uint64
	Relatches, SSRCChanges                                      uint64
	// PacketsLost is the cumulative number lost (RFC 3550 §6.4.1:
	// expected − received, so duplicates can make it negative).
	PacketsLost int64
	// FractionLost is the fraction lost in the last report interval,
	// 0-1 (RFC 3550 §6.4.1).
	FractionLost float64
	// PacketsLate counts packets that arrived after their playout time;
	// PacketsDuplicate those received twice. Both are discarded.
	PacketsLate, PacketsDuplicate uint64
	// Jitter is the interarrival jitter (RFC 3550 §6.4.1, A.8).
	Jitter time.Duration
	// PlayoutDelay is how long the last played packet waited in the
	// jitter buffer; PlayoutTarget is the delay the buffer aims at now.
	PlayoutDelay, PlayoutTarget time.Duration
	// FramesDecoded, FramesConcealed and FramesSilent count what
	// ReadFrame returned: received audio, loss concealment, and comfort
	// silence while nothing was playing.
	FramesDecoded, FramesConcealed, FramesSilent uint64
	// FramesDropped counts buffered frames discarded to keep the delay
	// down or the buffer bounded.
	FramesDropped uint64
	// PlayoutMoves counts the times the playout clock was moved earlier
	// to follow the packets (Session.alignPlayout).
	PlayoutMoves uint64
	// RTT is the round-trip time from the peer's last report about us
	// (RFC 3550 §6.4.1); 0 until one arrived.
	RTT time.Duration
	// RemoteFractionLost, RemotePacketsLost and RemoteJitter are what
	// the peer last reported about our stream.
	RemoteFractionLost float64
	RemotePacketsLost  int64
	RemoteJitter       time.Duration
	// RFactor and MOS are the E-model estimate (ITU-T G.107) from the
	// loss we see (lost and late), the jitter buffer delay, half the RTT
	// and the codec; see CodecImpairment.
	RFactor, MOS float64
	// SRTPAuthFailed counts SRTP/SRTCP packets whose authentication
	// failed (tampered or wrongly keyed); SRTPReplayed those dropped by
	// replay protection (RFC 3711 §3.3.2).
	SRTPAuthFailed, SRTPReplayed uint64
	// RTCPSent and RTCPReceived count RTCP compound packets.
	RTCPSent, RTCPReceived uint64
	// DTMFReceived counts telephone events reported to OnDTMF.
	DTMFReceived uint64
	// ComfortNoiseSent and ComfortNoiseReceived count CN packets (SIDs,
	// RFC 3389); they are among PacketsSent and PacketsReceived.
	// SilenceSent counts the packets of encoded silence sent for a muted
	// microphone where no CN was agreed.
	ComfortNoiseSent, ComfortNoiseReceived, SilenceSent uint64
	// LastSent and LastReceived are the times of the last RTP packet each
	// way; zero before the first. LastRTCPReceived is the time of the
	// last RTCP packet received.
	LastSent, LastReceived, LastRTCPReceived time.Time
	// SSRC is our stream's, RemoteSSRC the peer's (0 before its first
	// packet); Codec names the codec received.
	SSRC, RemoteSSRC uint32
	Codec            string
	// LocalMetrics is the RTCP XR VoIP Metrics block we send about the
	// peer's stream (RFC 3611 §4.7); RemoteMetrics the last one the peer
	// sent about ours, not Valid when it sends none (see xr.go).
	LocalMetrics, RemoteMetrics VoIPMetrics
}

// PacketConn is what a Session sends and receives packets on: a UDP socket
// (*net.UDPConn), or one of a WebRTC transport's conns, which carry
// packets already decrypted by DTLS-SRTP.
type PacketConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	Close() error
}

// Session sends and receives one RTP stream (RFC 3550) for a call.
//
// Receiving is symmetric (RFC 4961): once a packet of the negotiated codec
// arrives, we send to the address it came from instead of the SDP address,
// which gets media through NATs that rewrote the peer's port. The latch is
// set by the first such packet and reset by Update. After it, packets from
// other addresses or of another SSRC than the one played are dropped, with
// re-latching for a peer that moved (see source.go). RTCP latches likewise.
//
// Received audio goes through an adaptive jitter buffer (see jitter.go);
// ReadFrame hands out one frame per ptime from the playout ticker. One frame
// written is one RTP packet; callers pass ptime's worth of samples at
// Codec.SampleRate.
//
//	reader goroutine, or the beat: UDP ─► SRTP unprotect ─► rtp.Packet ─► stats ─► jitter buffer
//	                                                                   └► telephone-event ─► OnDTMF
//	ReadFrame (per tick): [the beat] jitter buffer ─► Decode / Conceal / silence ─► PCM
//	WriteFrame: PCM ─► Encode ─► rtp.Packet ─► SRTP protect ─► UDP
//	RTCP goroutine (per RTCPInterval): SR/RR + SDES ─► SRTCP ─► UDP
//
// A plain UDP socket on Linux is read on the beat (beatconn_linux.go): at
// each tick of the playout clock, before the frame due is taken, at least
// every beatIdle while nothing reads the clock, and before Stats, Idle and
// MediaIdle answer. Other conns (WebRTC's) are read by a goroutine.
type Session struct {
	log      *slog.Logger
	now      func() time.Time
	rtp      PacketConn
	rtc      PacketConn
	opts     SessionOptions
	interval time.Duration
	cname    string

	mu          sync.Mutex
	neg         Negotiated
	coder       frameCoder
	sec         *srtpContexts
	dest        netip.AddrPort // where RTP goes
	src         sourceFilter   // which received packets are the call's (source.go)
	rtcpDest    netip.AddrPort
	rtcpLatched bool
	rtcpFrom    netip.Addr // when valid, RTCP may latch only from this IP
	ssrc        uint32
	seq         uint16
	ts          uint32
	marker      bool
	sendBuf     []byte
	encBuf      []byte
	payload     []byte
	started     bool
	closed      bool
	dtmfActive  bool
	startedAt   time.Time
	lastSentTS  uint32
	cnSending   bool      // a CN period runs: SIDs are being sent
	cnSentTS    uint32    // timestamp of the last SID sent
	cnLast      bool      // the last RTP packet received was a SID
	updatedAt   time.Time // the last Update: media expectations changed
	zeros       []int16   // a frame of digital silence
	recv        recvStats
	sentAt      [2]uint64 // PacketsSent at the last two reports
	stats       Stats
	closeErr    error
	playout     Ticker
	// phase moves the playout clock's ticks (alignPlayout); nil when the
	// clock cannot be moved or the session's clock is not the system's.
	phase func(at time.Time)

	jbMu    sync.Mutex // the jitter buffer and the decoding coder
	jb      *jitterBuffer
	rxCoder frameCoder
	// align is alignPlayout's window, moves the times it moved the
	// clock; under jbMu.
	align struct {
		n     int
		least time.Duration
	}
	moves uint64

	dtmfRx dtmfReceiver // RTP reader only

	// RTP read on the playout clock's beat (beatconn_linux.go): beat is
	// the socket, nil where a reader goroutine reads it (readRTP).
	beat     beatReader
	beatIdle *time.Timer // reads every beatIdle while nothing ticks
	rxMu     sync.Mutex  // one reader of the beat at a time
	rx       beatRx      // under rxMu

	done chan struct{} // closed by Close: the goroutines' stop signal
	wg   sync.WaitGroup
	once sync.Once
}

// NewSession returns a Session ready to Start. It fails with
// ErrCodecUnsupported when the negotiated codec cannot be coded yet; the
// sockets are not closed then.
func NewSession(o SessionOptions) (*Session, error) {
	if o.RTP == nil {
		return nil, errors.New("media: session: no rtp socket")
	}
	coder, err := newCoder(o.Negotiated.Codec)
	if err != nil {
		return nil, fmt.Errorf("media: session: %w", err)
	}
	var sec *srtpContexts
	if o.Negotiated.SRTP != nil {
		if sec, err = newSRTPContexts(o.Negotiated.SRTP); err != nil {
			return nil, fmt.Errorf("media: session: %w", err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	now := o.Now // nil: the system's clock, whose time the kernel's stamps are on
	if now == nil {
		now = time.Now
	}
	if o.PlayoutTicker == nil {
		o.PlayoutTicker = newPlayoutClock
	}
	for _, f := range []*TickerFunc{&o.RTCPTicker, &o.DTMFTicker} {
		if *f == nil {
			*f = NewTimeTicker
		}
	}
	if o.RTCPInterval <= 0 {
		o.RTCPInterval = DefaultRTCPInterval
	}
	if o.SSRC == 0 {
		o.SSRC = rand.Uint32() // RFC 3550 §8.1
	}
	cname := make([]byte, rtcpCNAMELen)
	for i := range cname {
		cname[i] = "0123456789abcdef"[rand.IntN(16)]
	}
	// A nil *net.UDPConn in the interface is no connection at all (no
	// RTCP socket), not one to read from.
	if isNilConn(o.RTCP) {
		o.RTCP = nil
	}
	// Plain sockets send and receive quietly (quietconn_linux.go), and
	// RTP is read on the playout clock's beat (beatconn_linux.go).
	if c, ok := o.RTP.(*net.UDPConn); ok && c != nil {
		o.RTP = onBeat(c)
	}
	if c, ok := o.RTCP.(*net.UDPConn); ok {
		o.RTCP = quiet(c)
	}
	s := &Session{
		log:      o.Logger,
		now:      now,
		rtp:      o.RTP,
		rtc:      o.RTCP,
		opts:     o,
		interval: o.RTCPInterval,
		cname:    string(cname), // RFC 7022 §4.2: a random CNAME per session
		neg:      o.Negotiated,
		coder:    coder,
		rxCoder:  coder,
		sec:      sec,
		dest:     o.Negotiated.Remote,
		rtcpDest: o.Negotiated.RemoteRTCP,
		ssrc:     o.SSRC,
		seq:      uint16(rand.Uint32()), // RFC 3550 §5.1: random start
		ts:       rand.Uint32(),         // RFC 3550 §5.1: random start
		marker:   true,                  // RFC 3551 §4.1: first packet of a talkspurt
		sendBuf:  make([]byte, maxPacket),
		encBuf:   make([]byte, maxPacket+srtpOverhead),
		jb:       newJitterBufferFor(o.Negotiated),
		done:     make(chan struct{}),
	}
	if b, ok := o.RTP.(beatReader); ok {
		s.beat = b
		s.rx.buf, s.rx.plain, s.rx.oob = make([]byte, maxPacket), make([]byte, maxPacket), make([]byte, beatOOB)
	}
	return s, nil
}

// newJitterBufferFor sizes a jitter buffer for n's codec and ptime.
func newJitterBufferFor(n Negotiated) *jitterBuffer {
	return newJitterBuffer(int(n.Codec.ClockRate), n.Codec.SampleRate, n.Codec.Channels, ptimeOf(n))
}

// ptimeOf is n's packet time; 20 ms when unset.
func ptimeOf(n Negotiated) time.Duration {
	if n.PTime <= 0 {
		return 20 * time.Millisecond
	}
	return time.Duration(n.PTime) * time.Millisecond
}

// Start starts the reader goroutines, the playout ticker and the RTCP
// reports. They run until Close.
func (s *Session) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	if s.started {
		return ErrSessionStarted
	}
	s.started = true
	s.startedAt = s.now()
	s.playout = s.opts.PlayoutTicker(ptimeOf(s.neg))
	if w, ok := s.playout.(waitClock); ok && s.opts.Now == nil {
		s.phase = w.Phase
	}
	if s.beat != nil {
		s.rxMu.Lock()
		s.beatIdle = time.AfterFunc(beatIdle, s.readIdle)
		s.rxMu.Unlock()
	} else {
		s.wg.Add(1)
		go s.readRTP()
	}
	if s.rtc != nil {
		s.wg.Add(2)
		go s.readRTCP()
		go s.reportLoop(s.opts.RTCPTicker(s.interval))
	}
	return nil
}

// Update switches to a new negotiation (a re-INVITE): codec, addresses,
// directions and SRTP keys. The symmetric-RTP latch is reset and the next
// packet carries the marker bit. The jitter buffer starts afresh when the
// codec or ptime changed; SRTP contexts are kept when the keys did not
// change, so their replay state goes on.
func (s *Session) Update(n Negotiated) error {
	coder, err := newCoder(n.Codec)
	if err != nil {
		return fmt.Errorf("media: session update: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	sec := s.sec
	if !n.SRTP.Equal(s.neg.SRTP) {
		sec = nil
		if n.SRTP != nil {
			if sec, err = newSRTPContexts(n.SRTP); err != nil {
				return fmt.Errorf("media: session update: %w", err)
			}
		}
	}
	old := s.neg
	s.neg, s.coder, s.sec = n, coder, sec
	s.updatedAt = s.now()
	s.cnSending = false
	s.dest = n.Remote
	s.src.reset()
	s.rtcpDest, s.rtcpLatched, s.rtcpFrom = n.RemoteRTCP, false, netip.Addr{}
	s.marker = true
	s.jbMu.Lock()
	s.rxCoder = coder
	if old.Codec.ClockRate != n.Codec.ClockRate || old.Codec.SampleRate != n.Codec.SampleRate ||
		old.Codec.Channels != n.Codec.Channels || ptimeOf(old) != ptimeOf(n) {
		s.jb = newJitterBufferFor(n)
	}
	s.jbMu.Unlock()
	if s.playout != nil && ptimeOf(old) != ptimeOf(n) {
		s.playout.Reset(ptimeOf(n))
	}
	return nil
}

// Negotiated returns the negotiation the session runs with.
func (s *Session) Negotiated() Negotiated {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.neg
}

// Destination returns where RTP is sent now: the latched source address
// or the negotiated one.
func (s *Session) Destination() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dest
}

// Stats returns a copy of the counters with the current quality figures.
func (s *Session) Stats() Stats {
	s.readBeat(beatQuery) // what waits in the socket counts
	s.jbMu.Lock()
	js, moves := s.jb.snapshot(), s.moves
	s.jbMu.Unlock()
	s.mu.Lock()
	st := s.stats
	st.PlayoutMoves = moves
	st.PacketsLost = s.recv.lost()
	st.SSRC = s.ssrc
	if s.recv.init {
		st.RemoteSSRC = s.recv.ssrc
	}
	firstAt := s.startedAt
	st.FractionLost = float64(s.recv.fraction) / 256
	expected := s.recv.expected()
	name, ptime := s.neg.Codec.Name, ptimeOf(s.neg)
	s.mu.Unlock()

	st.PacketsLate, st.PacketsDuplicate = js.late, js.duplicate
	st.Jitter, st.PlayoutDelay, st.PlayoutTarget = js.jitter, js.lastHeld, js.target
	st.FramesDecoded, st.FramesConcealed, st.FramesSilent = js.decoded, js.concealed, js.silence
	st.FramesDropped = js.dropped
	var loss float64
	if expected > 0 {
		// What the listener misses: lost in the network or too late.
		loss = 100 * float64(max(st.PacketsLost, 0)+int64(js.late)) / float64(expected)
	}
	// One-way mouth-to-ear delay: network (half the RTT), jitter buffer
	// and one packet time of packetisation.
	delay := st.RTT/2 + max(js.lastHeld, js.target) + ptime
	// Every frameCoder conceals loss (Conceal), so the PLC values apply.
	st.RFactor = RFactor(delay, loss, CodecImpairment(name, true))
	st.MOS = MOSFromR(st.RFactor)
	st.Codec = name
	if st.RemoteSSRC != 0 {
		// Listening quality leaves the delay out (RFC 3611 §4.7.5).
		lq := RFactor(0, loss, CodecImpairment(name, true))
		st.LocalMetrics = localMetrics(&st, expected, js, max(js.lastHeld, js.target)+ptime, loss, lq, st.LastReceived.Sub(firstAt))
	}
	return st
}

// Idle returns how long no RTP has arrived at now: since the last packet,
// or since Start when none came yet; 0 before Start. The phone layer ends
// calls on an RTP timeout with it.
func (s *Session) Idle(now time.Time) time.Duration {
	s.readBeat(beatQuery)
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.stats.LastReceived
	if last.IsZero() {
		last = s.startedAt
	}
	if last.IsZero() {
		return 0
	}
	return now.Sub(last)
}

// MediaIdle returns how long the peer has shown no sign of life at now,
// judged by what the negotiation leads us to expect. The phone ends a call
// on rtp_timeout with MediaTimedOut.
//
//   - Both ends send and receive and the peer's last RTP packet was not a
//     SID: RTP is due every packet time, so this is the time since the last
//     RTP packet (telephone events and CN included), as Idle.
//   - A hold either way (RFC 3264 §8.4: a stream made sendonly, recvonly or
//     inactive by us or by the peer), or a peer whose last packet was a SID
//     (RFC 3389 §4 lets it stay quiet until its noise changes): no RTP need
//     come, but RTCP goes on while no RTP is sent (RFC 3550 §6), so this is
//     the time since the last RTP or RTCP packet. RFC 3550 §6.3.5 times out
//     only members it has heard from: a peer that sent no RTCP in this
//     session cannot be judged so, and MediaIdle is 0 for it (its held
//     call is never ended for silence; session timers still are there).
//
// The clock starts at Start and again at every Update (hold, resume), so a
// resumed call has the whole timeout for its RTP to come back. 0 before
// Start.
func (s *Session) MediaIdle(now time.Time) time.Duration {
	idle, _ := s.mediaIdle(now)
	return idle
}

// RTCPTimeout is the least silence after which a peer judged by its RTCP
// is taken as gone: RFC 3550 §6.3.5's five report intervals (M = 5) of at
// least 5 s each (§6.2).
const RTCPTimeout = 5 * DefaultRTCPInterval

// MediaTimedOut reports whether the peer's media has been silent for
// timeout at now (never when timeout is 0), with MediaIdle's figure. Where the peer is judged by RTCP
// (a hold, a SID) the limit is at least RTCPTimeout: reports come only
// every few seconds, so a shorter rtp_timeout would end every held call.
func (s *Session) MediaTimedOut(now time.Time, timeout time.Duration) (time.Duration, bool) {
	idle, byRTCP := s.mediaIdle(now)
	if timeout <= 0 {
		return idle, false // no media timeout configured
	}
	if byRTCP {
		timeout = max(timeout, RTCPTimeout)
	}
	return idle, idle >= timeout
}

// mediaIdle is MediaIdle, and whether the peer is judged by RTCP.
func (s *Session) mediaIdle(now time.Time) (time.Duration, bool) {
	s.readBeat(beatQuery)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.startedAt.IsZero() {
		return 0, false
	}
	last := s.stats.LastReceived
	both := s.neg.LocalDirection == SendRecv && s.neg.RemoteDirection == SendRecv
	byRTCP := !both || s.cnLast
	if byRTCP {
		if s.stats.RTCPReceived == 0 {
			return 0, true
		}
		last = latest(last, s.stats.LastRTCPReceived)
	}
	return max(now.Sub(latest(last, s.startedAt, s.updatedAt)), 0), byRTCP
}

// latest returns the latest of ts.
func latest(ts ...time.Time) time.Time {
	var l time.Time
	for _, t := range ts {
		if t.After(l) {
			l = t
		}
	}
	return l
}

// WriteFrame encodes samples with the negotiated codec and sends them as one
// RTP packet. Nothing is sent, and nil returned, when our direction does not
// send (recvonly, inactive), the peer gave no address (hold) or a DTMF
// event is being sent (RFC 4733 §2.5.1.1: the event replaces the audio).
func (s *Session) WriteFrame(samples []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	if len(samples) == 0 {
		return nil
	}
	n := s.rtpTicks(len(samples))
	if !s.neg.LocalDirection.Sends() || !s.dest.IsValid() || s.dtmfActive {
		s.ts += n
		s.marker = true
		return nil
	}
	s.payload = s.coder.Encode(s.payload[:0], samples)
	if len(s.payload) == 0 {
		s.ts += n
		return nil
	}
	if err := s.sendRTP(s.neg.Codec.PayloadType, s.marker, s.ts, s.payload); err != nil {
		return err
	}
	s.ts += n
	s.marker = false
	s.cnSending = false
	return nil
}

// rtpTicks is the RTP timestamp advance of samples (interleaved when
// stereo) at the codec's PCM rate; s.mu is held. RTP timestamps count at
// the codec clock, which differs from the PCM rate for G.722 (RFC 3551
// §4.5.2).
func (s *Session) rtpTicks(samples int) uint32 {
	n := uint64(samples / max(s.neg.Codec.Channels, 1))
	if s.neg.Codec.SampleRate > 0 && uint32(s.neg.Codec.SampleRate) != s.neg.Codec.ClockRate {
		n = n * uint64(s.neg.Codec.ClockRate) / uint64(s.neg.Codec.SampleRate)
	}
	return uint32(n)
}

// WriteMuted stands for one frame of samples (interleaved when stereo) of
// a muted microphone: the peer keeps receiving RTP, so its media timeout
// does not end the call (see cn.go). With CN agreed a SID of level (-dBov,
// see NoiseLevel) goes out when the mute starts and then every
// ComfortNoiseInterval, with the timestamp of the frame it stands for
// (RFC 3389 §4) and no marker; without CN the frame is sent as encoded
// digital silence. The next frame of speech starts a talkspurt (marker
// bit, RFC 3551 §4.1). As with WriteFrame nothing is sent when our
// direction does not send, the peer gave no address or a DTMF event is
// being sent.
func (s *Session) WriteMuted(samples int, level uint8) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	if samples <= 0 {
		return nil
	}
	n := s.rtpTicks(samples)
	defer func() { s.ts += n }()
	if !s.neg.LocalDirection.Sends() || !s.dest.IsValid() || s.dtmfActive {
		s.marker = true
		return nil
	}
	if cn := s.neg.CN; cn != nil {
		s.marker = true
		every := uint32(uint64(cn.ClockRate) * uint64(ComfortNoiseInterval) / uint64(time.Second))
		if s.cnSending && s.ts-s.cnSentTS < every {
			return nil
		}
		if err := s.sendRTP(cn.PayloadType, false, s.ts, []byte{min(level, NoiseLevelSilence)}); err != nil {
			return err
		}
		s.cnSending, s.cnSentTS = true, s.ts
		s.stats.ComfortNoiseSent++
		return nil
	}
	if len(s.zeros) < samples {
		s.zeros = make([]int16, samples)
	}
	s.payload = s.coder.Encode(s.payload[:0], s.zeros[:samples])
	if len(s.payload) == 0 {
		return nil
	}
	if err := s.sendRTP(s.neg.Codec.PayloadType, s.marker, s.ts, s.payload); err != nil {
		return err
	}
	s.marker = false
	s.stats.SilenceSent++
	return nil
}

// sendRTP sends one packet with the next sequence number; s.mu is held.
func (s *Session) sendRTP(pt uint8, marker bool, ts uint32, payload []byte) error {
	pkt := rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         marker,
			PayloadType:    pt,
			SequenceNumber: s.seq,
			Timestamp:      ts,
			SSRC:           s.ssrc,
		},
		Payload: payload,
	}
	size, err := pkt.MarshalTo(s.sendBuf)
	if err != nil {
		return fmt.Errorf("media: rtp marshal: %w", err)
	}
	out := s.sendBuf[:size]
	if s.sec != nil {
		// RFC 3711 §3.3: protect, then send.
		if out, err = s.sec.enc.EncryptRTP(s.encBuf[:0], out, &pkt.Header); err != nil {
			return fmt.Errorf("media: srtp protect: %w", err)
		}
	}
	if _, err := s.rtp.WriteToUDPAddrPort(out, s.dest); err != nil {
		return fmt.Errorf("media: rtp send to %s: %w", s.dest, err)
	}
	s.seq++
	s.lastSentTS = ts
	s.stats.PacketsSent++
	s.stats.BytesSent += uint64(len(payload))
	s.stats.LastSent = s.now()
	return nil
}

// WriteSilence advances the RTP clock by samples without sending, for
// silence suppression; the next packet sent starts a talkspurt and carries
// the marker bit (RFC 3551 §4.1).
func (s *Session) WriteSilence(samples int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	s.ts += s.rtpTicks(samples)
	s.marker = true
	s.cnSending = false
	return nil
}

// ReadFrame returns the next frame of received audio, one per ptime as the
// playout ticker fires: decoded audio from the jitter buffer, loss
// concealment for a missing packet, or comfort silence when nothing is
// playing (nothing arrived, or our direction does not receive). It waits
// for the tick, ctx (its cause is returned) or Close (ErrSessionClosed).
// A tick already due is served even when ctx has ended.
func (s *Session) ReadFrame(ctx context.Context) ([]int16, error) {
	s.mu.Lock()
	closed, tk := s.closed, s.playout
	s.mu.Unlock()
	if closed {
		return nil, ErrSessionClosed
	}
	if w, ok := tk.(waitClock); ok {
		switch err := w.Wait(ctx); {
		case err == nil:
			return s.onTick(w.OnGoTimer()), nil
		case errors.Is(err, tick.ErrStopped):
			return nil, ErrSessionClosed
		default:
			return nil, err
		}
	}
	var ticks <-chan time.Time
	if tk != nil {
		ticks = tk.C()
	}
	select {
	case <-ticks:
		return s.onTick(true), nil
	default:
	}
	select {
	case <-ticks:
		return s.onTick(true), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case <-s.done:
		return nil, ErrSessionClosed
	}
}

// waitClock is a playout clock ReadFrame waits on directly rather than
// through a channel (playoutClock). Wait returns nil at a tick, ctx's
// cause, or tick.ErrStopped; OnGoTimer says a Go timer wakes it; Phase
// moves its ticks (alignPlayout).
type waitClock interface {
	Wait(ctx context.Context) error
	OnGoTimer() bool
	Phase(at time.Time)
}

// onTick is a tick of the playout clock: what RTP waits is read, then the
// frame due played. timer says that a Go timer woke the tick (a
// time.Ticker's channel, or a tick.Clock where the system has no
// pollable clock).
//
// On the beat, a tick a Go timer woke first yields its processor once.
// Why: the goroutine woken by the runtime's timer is handed the rest of
// the time slice of whatever ran last on that processor; when nothing
// else runs there (no reader goroutine any more), that slice never ends,
// and after 10 ms of it the runtime's monitor thread takes the processor
// away from the first long C call of every tick (the Opus coder, the
// echo canceller) and polls every 20 µs until the call ends: with Opus,
// 600 thread switches a second instead of 300 (BENCHMARKS.md, item 4). A
// yield starts a fresh slice. A goroutine the poller wakes (a
// playoutClock on the system's clock) starts one anyway.
func (s *Session) onTick(timer bool) []int16 {
	if timer && s.beat != nil {
		runtime.Gosched()
	}
	s.readBeat(beatTick)
	return s.playFrame()
}

// playFrame pops one frame from the jitter buffer.
func (s *Session) playFrame() []int16 {
	now := s.now()
	s.jbMu.Lock()
	defer s.jbMu.Unlock()
	f, _ := s.jb.pop(now, s.rxCoder, make([]int16, 0, s.jb.samples*s.jb.channels))
	if lag, ok := s.jb.lastLag(); ok && s.phase != nil {
		s.alignPlayout(now, lag)
	}
	return f
}

// Playout alignment (alignPlayout).
const (
	// alignFrames is how many decoded frames the least lag is taken over.
	alignFrames = 10
	// alignLag is the lag the clock is moved to, alignSlack how much more
	// stands before it moves.
	alignLag   = time.Millisecond
	alignSlack = 2 * time.Millisecond
)

// alignPlayout takes note of a decoded packet played lag after its
// playout instant (its nominal arrival plus the jitter buffer's target),
// at the tick of now, and moves the playout clock's ticks earlier when
// the least lag over alignFrames frames exceeds alignLag by more than
// alignSlack.
//
// Why: a packet waits in the jitter buffer for the first tick after its
// playout instant, which is where the clock's phase against the packets
// happens to put it: up to a frame more than the target on the receive
// path, at random from call to call (BENCHMARKS.md, 4a). Moved, the
// ticks follow the packets alignLag late, and a sender whose clock runs
// faster than ours is followed the same way, a little at a time, instead
// of by a packet dropped when the lag reaches two frames. A playback
// device that takes audio as its server asks for it (PulseAudio's
// requests, every 10 ms: internal/audio) takes the frames so handed out
// earlier that much earlier: figure 4a, the receive path, fell from
// 38-64 ms to 27-36 ms (BENCHMARKS.md). The clock is only ever moved
// earlier: a tick moved later would leave the device a frame short.
func (s *Session) alignPlayout(now time.Time, lag time.Duration) {
	a := &s.align
	if a.n == 0 || lag < a.least {
		a.least = lag
	}
	if a.n++; a.n < alignFrames {
		return
	}
	a.n = 0
	// Whole frames of lag are the jitter buffer's to take back (its
	// catch-up); the clock moves by the rest.
	ptime := s.jb.ptime
	shift := (a.least - alignLag) % ptime
	if shift <= alignSlack {
		return
	}
	s.phase(now.Add(ptime - shift))
	s.moves++
}

// Close stops the goroutines, waits for them and closes the sockets. It
// does not signal anything to the peer. It is safe to call more than once;
// later calls return the first call's result.
func (s *Session) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		if s.beat != nil {
			s.rxMu.Lock() // waits for a read on the beat under way
			s.rx.closed = true
			if s.beatIdle != nil {
				s.beatIdle.Stop()
			}
			s.rxMu.Unlock()
		}
		var errs []error
		if err := s.rtp.Close(); err != nil {
			errs = append(errs, fmt.Errorf("media: close rtp socket: %w", err))
		}
		if s.rtc != nil {
			if err := s.rtc.Close(); err != nil {
				errs = append(errs, fmt.Errorf("media: close rtcp socket: %w", err))
			}
		}
		s.wg.Wait()
		s.mu.Lock()
		if s.playout != nil {
			s.playout.Stop()
		}
		s.mu.Unlock()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// stopping reports whether Close has begun.
func (s *Session) stopping() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// readRTP is the RTP reader goroutine, owned by the Session: it ends when
// Close closes the socket. Sockets read on the beat have none (readBeat).
func (s *Session) readRTP() {
	defer s.wg.Done()
	var pkt rtp.Packet
	s.readLoop(s.rtp, "rtp", s.unprotectRTP, func(data []byte, from netip.AddrPort) {
		s.handleRTP(&pkt, data, from, s.now())
	})
}

// unprotectRTP authenticates, checks for replay and decrypts an SRTP
// packet (RFC 3711 §3.3).
func (s *Session) unprotectRTP(sec *srtpContexts, dst, data []byte) ([]byte, error) {
	return sec.decRTP.DecryptRTP(dst, data, nil)
}

// handleRTP parses one RTP packet received at at and hands it on.
func (s *Session) handleRTP(pkt *rtp.Packet, data []byte, from netip.AddrPort, at time.Time) {
	if err := pkt.Unmarshal(data); err != nil || pkt.Version != 2 {
		s.count(func(st *Stats) { st.PacketsIgnored++ })
		return
	}
	s.receive(pkt, from, at)
}

// beatReader is an RTP socket read on the playout clock's beat
// (beatConn): readWaiting reads one datagram that waits, never blocking.
type beatReader interface {
	PacketConn
	readWaiting(b, oob []byte) (n int, from netip.AddrPort, at time.Time, ok bool, err error)
}

// beatOOB is room for a datagram's arrival time (SCM_TIMESTAMPNS).
const beatOOB = 64

// beatIdle is how often RTP is read while the playout clock is not being
// read (ReadFrame): before the call's audio path runs, or without one.
const beatIdle = 100 * time.Millisecond

// beatIdleTicking is how often the idle reads look whether the playout
// clock is still read, while it is: a timer firing every beatIdle would
// wake the process ten times a second for nothing. The counters stay
// current meanwhile (Stats reads first); a telephone event read by a
// question waits at most this long to be told when the clock stops.
const beatIdleTicking = time.Second

// beatMax bounds the datagrams one read of the beat takes: about what a
// socket's default buffer holds of RTP. What a flood leaves waits for the
// next tick, or is dropped by the kernel as the buffer fills.
const beatMax = 512

// beatRx is the reader's state of a socket read on the beat.
type beatRx struct {
	closed          bool
	buf, plain, oob []byte
	pkt             rtp.Packet
	digits          []rune    // telephone events ended, for OnDTMF
	ticked          time.Time // the playout clock's last read
}

// Who reads the beat: the playout clock, the idle reads, or a question
// about the counters (Stats, Idle, MediaIdle), which leaves the telephone
// events it reads to be told by the next of the others: OnDTMF is never
// called on the asker's goroutine, which may hold its own locks.
const (
	beatTick = iota
	beatIdleRead
	beatQuery
)

// readBeat reads every datagram waiting in the RTP socket (at most
// beatMax), as a reader goroutine would have at their arrival times.
func (s *Session) readBeat(who int) {
	if s.beat == nil {
		return
	}
	s.rxMu.Lock()
	if s.rx.closed {
		s.rxMu.Unlock()
		return
	}
	now := time.Now()
	switch who {
	case beatTick:
		s.rx.ticked = now
	case beatIdleRead:
		if now.Sub(s.rx.ticked) < beatIdle {
			s.rxMu.Unlock()
			return // the clock is being read
		}
	}
	rx := &s.rx
	base := s.now()
	for range beatMax {
		n, from, stamp, ok, err := s.beat.readWaiting(rx.buf, rx.oob)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) && !s.stopping() {
				s.log.Debug("rtp read failed", "err", err)
			}
			break
		}
		if !ok {
			break
		}
		data, from, ok := s.admit(s.rtp, rx.buf[:n], rx.plain, from, s.unprotectRTP)
		if !ok {
			continue
		}
		at := base
		if s.opts.Now == nil && !stamp.IsZero() {
			// The kernel's stamps are on the system's clock: a
			// session on its own clock (tests) takes its now.
			at = base.Add(-max(base.Sub(stamp), 0))
		}
		s.handleRTP(&rx.pkt, data, from, at)
	}
	var digits []rune
	if who != beatQuery && len(rx.digits) > 0 {
		digits = slices.Clone(rx.digits)
		rx.digits = rx.digits[:0]
	}
	s.rxMu.Unlock()
	for _, d := range digits {
		s.opts.OnDTMF(d) // outside the reader's lock, as from a reader goroutine
	}
}

// readIdle is readBeat while the playout clock is not read, every
// beatIdle; while it is, it only looks again every beatIdleTicking.
func (s *Session) readIdle() {
	s.readBeat(beatIdleRead)
	s.rxMu.Lock()
	if !s.rx.closed {
		next := beatIdle
		if time.Since(s.rx.ticked) < beatIdle {
			next = beatIdleTicking
		}
		s.beatIdle.Reset(next)
	}
	s.rxMu.Unlock()
}

// readLoop reads datagrams from conn until Close, unprotects them with the
// SRTP keys when there are any, and hands each to handle.
func (s *Session) readLoop(conn PacketConn, what string, unprotect func(sec *srtpContexts, dst, data []byte) ([]byte, error), handle func(data []byte, from netip.AddrPort)) {
	buf := make([]byte, maxPacket)
	plain := make([]byte, maxPacket)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug(what+" read failed", "err", err)
			continue
		}
		data, from, ok := s.admit(conn, buf[:n], plain, from, unprotect)
		if !ok {
			continue
		}
		handle(data, from)
	}
}

// admit is what every reader does with a datagram from conn before handing
// it on: the source's address unmapped, a foreign source dropped unread
// (dropForeign), the SRTP keys' protection taken off (into plain) when
// there are any. It reports false for a datagram dropped or refused.
func (s *Session) admit(conn PacketConn, data, plain []byte, from netip.AddrPort, unprotect func(sec *srtpContexts, dst, data []byte) ([]byte, error)) ([]byte, netip.AddrPort, bool) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if s.dropForeign(conn, from) {
		return nil, from, false
	}
	s.mu.Lock()
	sec := s.sec
	s.mu.Unlock()
	if sec != nil {
		out, err := unprotect(sec, plain[:0], data)
		if err != nil {
			s.srtpFailed(err)
			return nil, from, false
		}
		data = out
	}
	return data, from, true
}

// dropForeign reports, and counts, a datagram on conn from another address
// than the latched one while nothing from there could move the latch
// (source.go): it is dropped unread, so that a flood costs neither parsing
// nor SRTP work, nor SRTP state for its SSRCs.
func (s *Session) dropForeign(conn PacketConn, from netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if conn == s.rtp {
		if s.src.foreign(from, s.now()) {
			s.stats.PacketsForeignSource++
			return true
		}
		return false
	}
	if s.rtcpForeign(from) {
		s.stats.RTCPForeignSource++
		return true
	}
	return false
}

// srtpFailed counts a packet SRTP refused.
func (s *Session) srtpFailed(err error) {
	s.count(func(st *Stats) {
		switch classifySRTPError(err) {
		case srtpAuthFailure:
			st.SRTPAuthFailed++
		case srtpReplay:
			st.SRTPReplayed++
		default:
			st.PacketsIgnored++
		}
	})
	s.log.Debug("srtp packet dropped", "reason", classifySRTPError(err), "err", err)
}

// receive handles one RTP packet from the network, received at now.
func (s *Session) receive(pkt *rtp.Packet, from netip.AddrPort, now time.Time) {
	s.mu.Lock()
	neg := s.neg
	isAudio := pkt.PayloadType == neg.RecvPayloadType || pkt.PayloadType == neg.Codec.PayloadType
	isEvent := neg.DTMF != nil && pkt.PayloadType == neg.DTMF.PayloadType
	// RFC 3389: a SID, never for the speech decoder. We offered CN as 13;
	// an answerer may have renumbered it.
	isCN := neg.CN != nil && (pkt.PayloadType == neg.CN.PayloadType || pkt.PayloadType == ptCN) && !isAudio && !isEvent
	if !isAudio && !isEvent && !isCN {
		s.stats.PacketsIgnored++
		s.mu.Unlock()
		return
	}
	prevSSRC, hadSSRC := s.src.ssrc, s.src.haveSSRC
	verdict, ch := s.src.check(from, pkt.SSRC, pkt.SequenceNumber, isAudio, ptimeOf(neg), now)
	switch verdict {
	case sourceForeignAdr:
		s.stats.PacketsForeignSource++
		s.mu.Unlock()
		return
	case sourceForeignSSRC:
		s.stats.PacketsForeignSSRC++
		s.mu.Unlock()
		return
	}
	if hadSSRC && prevSSRC != pkt.SSRC {
		s.stats.SSRCChanges++
		s.log.Debug("rtp ssrc changed", "from", from, "ssrc", pkt.SSRC, "was", prevSSRC)
	}
	if ch.latched {
		// RFC 4961 §4: send to where the peer's packets come from.
		if from != s.dest {
			s.log.Debug("rtp latched", "from", from, "was", s.dest, "relatch", ch.relatched)
		}
		s.dest = from
		if ch.relatched {
			// The peer moved (NAT rebinding, new media server): its
			// RTCP moves too; take it again, but only from the new
			// RTP source's host.
			s.stats.Relatches++
			s.rtcpLatched, s.rtcpFrom = false, from.Addr()
		}
	}
	// Audio and telephone events share the sequence space (RFC 4733
	// §2.1), so both count for loss.
	s.recv.update(pkt.SSRC, pkt.SequenceNumber)
	s.stats.PacketsReceived++
	s.stats.BytesReceived += uint64(len(pkt.Payload))
	s.stats.LastReceived = now
	if isCN {
		s.stats.ComfortNoiseReceived++
	}
	if isAudio || isCN {
		s.cnLast = isCN
	}
	s.mu.Unlock()

	if !neg.LocalDirection.Receives() {
		return
	}
	if isCN {
		level := NoiseLevelSilence
		if len(pkt.Payload) > 0 {
			level = pkt.Payload[0] & 0x7f // RFC 3389 §3.1: the top bit is unused
		}
		s.jbMu.Lock()
		s.jb.comfortNoise(pkt.SSRC, pkt.Timestamp, level)
		s.jbMu.Unlock()
		return
	}
	if isAudio {
		s.jbMu.Lock()
		s.jb.push(pkt.SSRC, pkt.SequenceNumber, pkt.Timestamp, pkt.Payload, now)
		s.jbMu.Unlock()
		return
	}
	if d := s.dtmfRx.receive(pkt.SSRC, pkt.Timestamp, pkt.Payload); d != 0 {
		s.count(func(st *Stats) { st.DTMFReceived++ })
		switch {
		case s.opts.OnDTMF == nil:
		case s.beat != nil:
			s.rx.digits = append(s.rx.digits, d) // readBeat calls OnDTMF
		default:
			s.opts.OnDTMF(d)
		}
	}
}

func (s *Session) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// isNilConn reports whether c is nil or holds a nil pointer.
func isNilConn(c PacketConn) bool {
	if c == nil {
		return true
	}
	v := reflect.ValueOf(c)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
