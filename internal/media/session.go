package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// frameQueue is how many decoded frames wait for ReadFrame (1 s at 20 ms);
// beyond that the newest are dropped and counted. A jitter buffer will
// take this place.
const frameQueue = 50

// maxPacket is the largest UDP datagram the reader takes.
const maxPacket = 1500

// SessionOptions configure a Session.
type SessionOptions struct {
	// RTP and RTCP are the bound sockets (see PortRange.Listen). The
	// Session owns them from now on and closes them in Close. RTCP may be
	// nil.
	RTP, RTCP *net.UDPConn
	// Negotiated is the offer/answer outcome to run with.
	Negotiated Negotiated
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// Now is the clock for the stats' times; nil means time.Now.
	Now func() time.Time
}

// Stats are a Session's counters. Bytes count RTP payload octets, as the
// RTCP sender report does (RFC 3550 §6.4.1).
type Stats struct {
	PacketsSent, BytesSent         uint64
	PacketsReceived, BytesReceived uint64
	// PacketsIgnored counts packets that were not RTP, or carried a
	// payload type other than the negotiated ones.
	PacketsIgnored uint64
	// FramesDropped counts decoded frames dropped because ReadFrame was
	// not called fast enough.
	FramesDropped uint64
	// RTCPReceived counts RTCP compound packets received.
	RTCPReceived uint64
	// LastSent and LastReceived are the times of the last RTP packet each
	// way; zero before the first.
	LastSent, LastReceived time.Time
}

// Session sends and receives one RTP stream (RFC 3550) for a call.
//
// Receiving is symmetric (RFC 4961): once a packet of the negotiated codec
// arrives, we send to the address it came from instead of the SDP address,
// which gets media through NATs that rewrote the peer's port. The latch is
// set by the first such packet and reset by Update.
//
// One frame written is one RTP packet; callers pass ptime's worth of
// samples at Codec.SampleRate.
type Session struct {
	log *slog.Logger
	now func() time.Time
	rtp *net.UDPConn
	rtc *net.UDPConn

	mu       sync.Mutex
	neg      Negotiated
	coder    frameCoder
	dest     netip.AddrPort // where RTP goes
	latched  bool
	ssrc     uint32
	seq      uint16
	ts       uint32
	marker   bool
	sendBuf  []byte
	payload  []byte
	started  bool
	closed   bool
	stats    Stats
	closeErr error

	frames chan []int16
	done   chan struct{} // closed by Close: the readers' stop signal
	wg     sync.WaitGroup
	once   sync.Once
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Session{
		log:     o.Logger,
		now:     o.Now,
		rtp:     o.RTP,
		rtc:     o.RTCP,
		neg:     o.Negotiated,
		coder:   coder,
		dest:    o.Negotiated.Remote,
		ssrc:    rand.Uint32(),         // RFC 3550 §8.1
		seq:     uint16(rand.Uint32()), // RFC 3550 §5.1: random start
		ts:      rand.Uint32(),         // RFC 3550 §5.1: random start
		marker:  true,                  // RFC 3551 §4.1: first packet of a talkspurt
		sendBuf: make([]byte, maxPacket),
		frames:  make(chan []int16, frameQueue),
		done:    make(chan struct{}),
	}
	return s, nil
}

// Start starts the reader goroutines. They run until Close.
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
	s.wg.Add(1)
	go s.readRTP()
	if s.rtc != nil {
		s.wg.Add(1)
		go s.readRTCP()
	}
	return nil
}

// Update switches to a new negotiation (a re-INVITE): codec, addresses and
// directions. The symmetric-RTP latch is reset and the next packet carries
// the marker bit.
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
	s.neg, s.coder = n, coder
	s.dest, s.latched = n.Remote, false
	s.marker = true
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

// Stats returns a copy of the counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// WriteFrame encodes samples with the negotiated codec and sends them as one
// RTP packet. Nothing is sent, and nil returned, when our direction does not
// send (recvonly, inactive) or the peer gave no address (hold).
func (s *Session) WriteFrame(samples []int16) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrSessionClosed
	}
	if len(samples) == 0 {
		return nil
	}
	n := uint32(len(samples) / max(s.neg.Codec.Channels, 1))
	// RTP timestamps count at the codec clock, which differs from the PCM
	// rate for G.722 (RFC 3551 §4.5.2).
	if s.neg.Codec.SampleRate > 0 && uint32(s.neg.Codec.SampleRate) != s.neg.Codec.ClockRate {
		n = uint32(uint64(n) * uint64(s.neg.Codec.ClockRate) / uint64(s.neg.Codec.SampleRate))
	}
	if !s.neg.LocalDirection.Sends() || !s.dest.IsValid() {
		s.ts += n
		s.marker = true
		return nil
	}
	s.payload = s.coder.Encode(s.payload[:0], samples)
	pkt := rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         s.marker,
			PayloadType:    s.neg.Codec.PayloadType,
			SequenceNumber: s.seq,
			Timestamp:      s.ts,
			SSRC:           s.ssrc,
		},
		Payload: s.payload,
	}
	size, err := pkt.MarshalTo(s.sendBuf)
	if err != nil {
		return fmt.Errorf("media: rtp marshal: %w", err)
	}
	if _, err := s.rtp.WriteToUDPAddrPort(s.sendBuf[:size], s.dest); err != nil {
		return fmt.Errorf("media: rtp send to %s: %w", s.dest, err)
	}
	s.seq++
	s.ts += n
	s.marker = false
	s.stats.PacketsSent++
	s.stats.BytesSent += uint64(len(s.payload))
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
	n := uint64(samples / max(s.neg.Codec.Channels, 1))
	if s.neg.Codec.SampleRate > 0 {
		n = n * uint64(s.neg.Codec.ClockRate) / uint64(s.neg.Codec.SampleRate)
	}
	s.ts += uint32(n)
	s.marker = true
	return nil
}

// ReadFrame returns the next decoded frame, waiting until one arrives, ctx
// ends (its cause is returned), or the session closes (ErrSessionClosed).
// Frames are delivered only while our direction receives (sendrecv,
// recvonly). Frames come in arrival order; reordering and loss concealment
// are left to the jitter buffer that will sit on top.
func (s *Session) ReadFrame(ctx context.Context) ([]int16, error) {
	// A queued frame is returned even when ctx has ended, so draining a
	// session gives a deterministic result.
	select {
	case f, ok := <-s.frames:
		if !ok {
			return nil, ErrSessionClosed
		}
		return f, nil
	default:
	}
	select {
	case f, ok := <-s.frames:
		if !ok {
			return nil, ErrSessionClosed
		}
		return f, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Close stops the readers, waits for them and closes the sockets. It does
// not signal anything to the peer. It is safe to call more than once; later
// calls return the first call's result.
func (s *Session) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		started := s.started
		s.mu.Unlock()
		close(s.done)
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
		if !started {
			close(s.frames) // the RTP reader closes it when it ran
		}
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
// Close closes the socket, and closes frames on the way out.
func (s *Session) readRTP() {
	defer s.wg.Done()
	defer close(s.frames)
	buf := make([]byte, maxPacket)
	var pkt rtp.Packet
	for {
		n, from, err := s.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("rtp read failed", "err", err)
			continue
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.Version != 2 {
			s.count(func(st *Stats) { st.PacketsIgnored++ })
			continue
		}
		s.receive(&pkt, from)
	}
}

// receive handles one RTP packet from the network.
func (s *Session) receive(pkt *rtp.Packet, from netip.AddrPort) {
	s.mu.Lock()
	neg, coder := s.neg, s.coder
	isAudio := pkt.PayloadType == neg.RecvPayloadType || pkt.PayloadType == neg.Codec.PayloadType
	isEvent := neg.DTMF != nil && pkt.PayloadType == neg.DTMF.PayloadType
	if !isAudio && !isEvent {
		s.stats.PacketsIgnored++
		s.mu.Unlock()
		return
	}
	if isAudio && !s.latched {
		// RFC 4961 §4: send to where the peer's packets come from.
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if from != s.dest {
			s.log.Debug("rtp latched", "from", from, "sdp", s.dest)
		}
		s.dest, s.latched = from, true
	}
	s.mu.Unlock()

	// Telephone events are counted here; their decoding comes with DTMF.
	if isAudio && neg.LocalDirection.Receives() {
		frame := coder.Decode(make([]int16, 0, len(pkt.Payload)), pkt.Payload)
		select {
		case s.frames <- frame:
		default:
			s.count(func(st *Stats) { st.FramesDropped++ })
		}
	}
	s.count(func(st *Stats) {
		st.PacketsReceived++
		st.BytesReceived += uint64(len(pkt.Payload))
		st.LastReceived = s.now()
	})
}

func (s *Session) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

// readRTCP is the RTCP reader goroutine, owned by the Session; it ends when
// Close closes the socket. Reports are only counted for now.
func (s *Session) readRTCP() {
	defer s.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, _, err := s.rtc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("rtcp read failed", "err", err)
			continue
		}
		if _, err := rtcp.Unmarshal(buf[:n]); err != nil {
			s.log.Debug("rtcp packet ignored", "err", err)
			continue
		}
		s.count(func(st *Stats) { st.RTCPReceived++ })
	}
}
