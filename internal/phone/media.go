package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/sip"
	"github.com/softphone/softphone/internal/voice"
)

// callMedia adapts one call's media to the SIP layer's Media interface: it
// owns the RTP/RTCP sockets (so the port in our SDP is really ours), the
// offer/answer state, and the RTP session once a codec is agreed.
type callMedia struct {
	rtp, rtcp *net.UDPConn
	neg       *media.Negotiator
	// web is the WebRTC transport of a call on a WebRTC connection
	// (webrtc.go); rtp, rtcp and neg are nil then.
	web    *media.WebRTC
	log    *slog.Logger
	onDTMF func(rune)
	// onSession is told when the RTP session starts or is renegotiated.
	onSession func(*media.Session)
	// background runs the closing of the audio path and session off the
	// caller's goroutine (the SIP layer's); nil closes inline.
	background func(func())

	mu       sync.Mutex
	onFailed func(error) // a WebRTC transport that failed: end the call
	path     *voice.Path // the call's audio, closed before the session
	sess     *media.Session
	last     media.Negotiated
	closed   bool
}

// newCallMedia takes an RTP/RTCP port pair from the configured range on the
// media address. transport is the call's signalling transport: SDES keys go
// into the SDP only over TLS, unless the administrator allowed otherwise.
func (p *Phone) newCallMedia(transport string) (*callMedia, error) {
	cfg := p.config()
	addr := p.mediaAddr()
	pr := media.PortRange{Min: cfg.Endpoint.RTPPortMin, Max: cfg.Endpoint.RTPPortMax, DSCP: cfg.Endpoint.AudioDSCP}
	rtp, rtcp, err := pr.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("phone: rtp ports: %w", err)
	}
	sdpAddr := addr
	if pub, err := netip.ParseAddr(cfg.Endpoint.PublicAddress); err == nil {
		sdpAddr = pub
	}
	srtp, err := media.ParseSRTPMode(cfg.Endpoint.SRTP)
	if err != nil {
		srtp = media.SRTPOff
	}
	if srtp != media.SRTPOff && transport != "tls" && !cfg.Endpoint.SRTPOverInsecureSignalling {
		if srtp == media.SRTPMandatory {
			rtp.Close()
			rtcp.Close()
			return nil, fmt.Errorf("%w: srtp is mandatory but the call's signalling (%s) is not encrypted", errInsecureSRTP, transport)
		}
		srtp = media.SRTPOff
	}
	neg, err := media.NewNegotiator(media.Local{
		Addr: sdpAddr, Port: rtp.LocalAddr().(*net.UDPAddr).Port, Codecs: cfg.Codecs.Enabled, PTime: cfg.Codecs.PTime,
		Opus: media.OpusParams{Stereo: cfg.Codecs.OpusStereo, FEC: cfg.Codecs.OpusFEC, MaxPlaybackRate: cfg.Codecs.OpusMaxPlaybackRate},
		DTMF: true, SRTP: srtp, ComfortNoise: true,
	})
	if err != nil {
		rtp.Close()
		rtcp.Close()
		return nil, fmt.Errorf("phone: %w", err)
	}
	return &callMedia{rtp: rtp, rtcp: rtcp, neg: neg, log: p.log.With("component", "media")}, nil
}

// errInsecureSRTP refuses a call whose keys would travel in clear text.
var errInsecureSRTP = errors.New("phone: srtp keys need tls signalling")

// mediaAddr is the address RTP binds to and SDP names: sip_address when
// set, else the address of the interface that routes outwards, else
// loopback.
func (p *Phone) mediaAddr() netip.Addr {
	if a, err := netip.ParseAddr(p.config().Endpoint.SIPAddress); err == nil && !a.IsUnspecified() {
		return a
	}
	return outboundAddr()
}

// outboundAddr finds the local address used to reach the outside, without
// sending anything (a UDP connect only picks a route).
func outboundAddr() netip.Addr {
	c, err := net.Dial("udp4", "192.0.2.1:9")
	if err == nil {
		defer c.Close()
		if a, ok := netip.AddrFromSlice(c.LocalAddr().(*net.UDPAddr).IP); ok {
			return a.Unmap()
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// Offer implements sip.Media.
func (m *callMedia) Offer(dir media.Direction) ([]byte, error) {
	if m.web != nil {
		return m.webOffer(dir)
	}
	return m.neg.Offer(dir)
}

// Answer implements sip.Media; an offer we cannot take is ErrNotAcceptable
// (488 Not Acceptable Here).
func (m *callMedia) Answer(offer []byte) ([]byte, error) {
	var (
		ans []byte
		neg media.Negotiated
		err error
	)
	if m.web != nil {
		ans, neg, err = m.web.Answer(context.Background(), offer)
	} else {
		ans, neg, err = m.neg.Answer(offer, media.SendRecv)
		if err != nil && media.IsWebRTCOffer(offer) {
			err = fmt.Errorf("%w: a WebRTC offer (ICE, DTLS-SRTP) on a connection whose media is rtp", media.ErrNotAcceptable)
		}
	}
	if err != nil {
		if errors.Is(err, media.ErrNotAcceptable) {
			return nil, fmt.Errorf("%w: %w", sip.ErrNotAcceptable, err)
		}
		return nil, err
	}
	if err := m.agreed(neg); err != nil {
		return nil, fmt.Errorf("%w: %w", sip.ErrNotAcceptable, err)
	}
	return ans, nil
}

// SetAnswer implements sip.Media.
func (m *callMedia) SetAnswer(answer []byte) error {
	if m.web != nil {
		neg, err := m.web.SetAnswer(context.Background(), answer)
		if err != nil {
			return err
		}
		return m.agreed(neg)
	}
	neg, err := m.neg.SetAnswer(answer)
	if err != nil {
		return err
	}
	return m.agreed(neg)
}

// agreed starts the RTP session on the first agreement and updates it on
// every later one (hold, resume, codec change); the sockets stay the same.
func (m *callMedia) agreed(n media.Negotiated) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errors.New("phone: call media closed")
	}
	m.last = n
	sess := m.sess
	if sess != nil {
		m.mu.Unlock()
		if err := sess.Update(n); err != nil {
			return err
		}
		if m.onSession != nil {
			m.onSession(sess)
		}
		return nil
	}
	o := media.SessionOptions{RTP: m.rtp, RTCP: m.rtcp, Negotiated: n, Logger: m.log, OnDTMF: m.onDTMF}
	if m.web != nil {
		o.RTP, o.RTCP, o.SSRC = m.web.Conns()
	}
	s, err := media.NewSession(o)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	if err := s.Start(); err != nil {
		m.mu.Unlock()
		s.Close()
		return err
	}
	m.sess = s
	m.mu.Unlock()
	m.log.Debug("rtp session started", "codec", n.Codec.String(), "remote", n.Remote.String(), "srtp", n.SRTP != nil)
	if m.onSession != nil {
		m.onSession(s)
	}
	return nil
}

// setPath records the call's audio path so that Close ends it first; a
// path arriving after Close is closed at once.
func (m *callMedia) setPath(p *voice.Path) {
	m.mu.Lock()
	closed := m.closed
	if !closed {
		m.path = p
	}
	m.mu.Unlock()
	if closed {
		p.Close()
	}
}

// session returns the RTP session, nil before the media is agreed.
func (m *callMedia) session() *media.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sess
}

// Close implements sip.Media: it ends the RTP session and frees the ports.
// It is idempotent.
func (m *callMedia) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	sess, path, bg := m.sess, m.path, m.background
	m.mu.Unlock()
	if path != nil && bg != nil {
		// Closing the devices may take a while: the session (and with it
		// the ports) is freed after the path, off the SIP layer's
		// goroutine, so the next call's answer never waits for it.
		bg(func() {
			_ = path.Close()
			if sess != nil {
				if err := sess.Close(); err != nil {
					m.log.Debug("rtp session close", "err", err)
				}
			}
			m.closeWeb()
		})
		return nil
	}
	if path != nil {
		_ = path.Close() // before the session it reads from and writes to
	}
	if sess != nil {
		err := sess.Close() // the session owns the sockets
		m.closeWeb()
		return err
	}
	if m.web != nil {
		return m.web.Close()
	}
	return errors.Join(m.rtp.Close(), m.rtcp.Close())
}

// closeWeb ends a WebRTC call's transport, after its session.
func (m *callMedia) closeWeb() {
	if m.web != nil {
		if err := m.web.Close(); err != nil {
			m.log.Debug("webrtc close", "err", err)
		}
	}
}

// MediaInfo is a call's media and its quality figures.
type MediaInfo struct {
	Codec  string `json:"codec"`
	SRTP   bool   `json:"srtp"`
	Remote string `json:"remote,omitempty"`
	// Transport is "rtp" or "webrtc"; a WebRTC call shows the ICE
	// candidate pair in use and our DTLS role (client or server).
	Transport       string  `json:"transport"`
	ICEPair         string  `json:"ice_pair,omitempty"`
	DTLSRole        string  `json:"dtls_role,omitempty"`
	PacketsSent     uint64  `json:"packets_sent"`
	PacketsReceived uint64  `json:"packets_received"`
	PacketsLost     int64   `json:"packets_lost"`
	FractionLost    float64 `json:"fraction_lost"`
	JitterMillis    float64 `json:"jitter_ms"`
	RTTMillis       float64 `json:"rtt_ms"`
	MOS             float64 `json:"mos"`
	// What the jitter buffer played: received audio, concealment, comfort
	// silence; packets that came too late; its current delay.
	FramesDecoded   uint64  `json:"frames_decoded"`
	FramesConcealed uint64  `json:"frames_concealed"`
	FramesSilent    uint64  `json:"frames_silent"`
	PacketsLate     uint64  `json:"packets_late"`
	FramesDropped   uint64  `json:"frames_dropped"`
	PlayoutMillis   float64 `json:"playout_delay_ms"`
	// The device side: the devices in use ("none" without one), how often
	// they were switched during the call, and the audio gap of the last
	// and of the largest output switch (last frame to the old device →
	// first frame to the new one).
	Input  string `json:"input,omitempty"`
	Output string `json:"output,omitempty"`
	// EchoCanceller is the echo canceller on the microphone's path
	// ("speex+webrtc", "webrtc" or "speex"; empty when echo cancellation
	// is off), and EchoDelayMillis the echo's delay past the speaker it
	// measured (0 until it finds one; never on a headset).
	EchoCanceller   string  `json:"echo_canceller,omitempty"`
	EchoDelayMillis float64 `json:"echo_delay_ms,omitempty"`
	DeviceSwitches  uint64  `json:"device_switches"`
	OutputGapMillis float64 `json:"output_gap_ms"`
	OutputMaxGap    float64 `json:"output_max_gap_ms"`
	InputGapMillis  float64 `json:"input_gap_ms"`
	// Received audio the output devices dropped to stay within the
	// playback latency bound, and silence they played for want of audio
	// in time (both in total, milliseconds of audio).
	OutputTrimmedMillis  float64 `json:"output_trimmed_ms"`
	OutputUnderrunMillis float64 `json:"output_underrun_ms"`
	// RTCP compound packets each way, and comfort noise packets (RFC 3389
	// SIDs) each way.
	RTCPSent             uint64 `json:"rtcp_sent"`
	RTCPReceived         uint64 `json:"rtcp_received"`
	ComfortNoiseSent     uint64 `json:"comfort_noise_sent"`
	ComfortNoiseReceived uint64 `json:"comfort_noise_received"`
	// Packets dropped at the door: not RTP of an agreed codec
	// (ignored), from another address than the latched one, or of
	// another SSRC than the one played; the times the latch moved and
	// the played SSRC changed (media.Stats).
	PacketsIgnored       uint64 `json:"packets_ignored"`
	PacketsForeignSource uint64 `json:"packets_foreign_source"`
	PacketsForeignSSRC   uint64 `json:"packets_foreign_ssrc"`
	Relatches            uint64 `json:"relatches"`
	SSRCChanges          uint64 `json:"ssrc_changes"`
}

// info returns the session's figures, nil before the media is agreed.
func (m *callMedia) info() *MediaInfo {
	if m == nil {
		return nil
	}
	s := m.session()
	if s == nil {
		return nil
	}
	st, n := s.Stats(), s.Negotiated()
	m.mu.Lock()
	path := m.path
	m.mu.Unlock()
	mi := &MediaInfo{
		Codec: strings.ToUpper(n.Codec.Name), SRTP: n.SRTP != nil, Remote: s.Destination().String(),
		PacketsSent: st.PacketsSent, PacketsReceived: st.PacketsReceived, PacketsLost: st.PacketsLost,
		FractionLost: st.FractionLost, JitterMillis: ms(st.Jitter.Seconds()), RTTMillis: ms(st.RTT.Seconds()),
		MOS:           math.Round(st.MOS*100) / 100,
		FramesDecoded: st.FramesDecoded, FramesConcealed: st.FramesConcealed, FramesSilent: st.FramesSilent,
		PacketsLate: st.PacketsLate, FramesDropped: st.FramesDropped, PlayoutMillis: ms(st.PlayoutDelay.Seconds()),
		RTCPSent: st.RTCPSent, RTCPReceived: st.RTCPReceived,
		ComfortNoiseSent: st.ComfortNoiseSent, ComfortNoiseReceived: st.ComfortNoiseReceived,
		PacketsIgnored: st.PacketsIgnored, PacketsForeignSource: st.PacketsForeignSource, PacketsForeignSSRC: st.PacketsForeignSSRC,
		Relatches: st.Relatches, SSRCChanges: st.SSRCChanges,
	}
	m.webInfo(mi)
	if path != nil {
		ps := path.Stats()
		in, inOK, out, outOK := path.Devices()
		mi.Input, mi.Output = "none", "none"
		if inOK {
			mi.Input = in.Name
		}
		if outOK {
			mi.Output = out.Name
		}
		mi.DeviceSwitches = ps.Switches
		mi.EchoCanceller = path.EchoCanceller()
		if d, ok := path.EchoDelay(); ok {
			mi.EchoDelayMillis = ms(d.Seconds())
		}
		mi.OutputGapMillis, mi.OutputMaxGap = ms(ps.OutputGap.Seconds()), ms(ps.OutputMaxGap.Seconds())
		mi.InputGapMillis = ms(ps.InputGap.Seconds())
		mi.OutputTrimmedMillis, mi.OutputUnderrunMillis = ms(ps.OutputTrimmed.Seconds()), ms(ps.OutputUnderrun.Seconds())
	}
	return mi
}

func ms(sec float64) float64 { return math.Round(sec*1e4) / 10 }
