package phone

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/sip"
)

// callMedia adapts one call's media to the SIP layer's Media interface: it
// owns the RTP/RTCP sockets (so the port in our SDP is really ours) and the
// offer/answer state.
type callMedia struct {
	rtp, rtcp *net.UDPConn
	neg       *media.Negotiator

	mu     sync.Mutex
	neg0   media.Negotiated
	closed bool
}

// codecs are the codecs offered and accepted, in preference order.
var codecs = []string{"pcmu", "pcma"}

// newCallMedia takes an RTP/RTCP port pair from the configured range on the
// media address.
func (p *Phone) newCallMedia() (*callMedia, error) {
	addr := p.mediaAddr()
	pr := media.PortRange{Min: p.config().Endpoint.RTPPortMin, Max: p.config().Endpoint.RTPPortMax}
	rtp, rtcp, err := pr.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("phone: rtp ports: %w", err)
	}
	sdpAddr := addr
	if pub, err := netip.ParseAddr(p.config().Endpoint.PublicAddress); err == nil {
		sdpAddr = pub
	}
	neg, err := media.NewNegotiator(media.Local{
		Addr: sdpAddr, Port: rtp.LocalAddr().(*net.UDPAddr).Port, Codecs: codecs, DTMF: true,
	})
	if err != nil {
		rtp.Close()
		rtcp.Close()
		return nil, fmt.Errorf("phone: %w", err)
	}
	return &callMedia{rtp: rtp, rtcp: rtcp, neg: neg}, nil
}

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

func toMediaDir(d sip.Direction) media.Direction {
	md, err := media.ParseDirection(d.String())
	if err != nil {
		return media.SendRecv
	}
	return md
}

// Offer implements sip.Media.
func (m *callMedia) Offer(dir sip.Direction) ([]byte, error) {
	return m.neg.Offer(toMediaDir(dir))
}

// Answer implements sip.Media; an offer we cannot take is ErrNotAcceptable
// (488 Not Acceptable Here).
func (m *callMedia) Answer(offer []byte) ([]byte, error) {
	ans, neg, err := m.neg.Answer(offer, media.SendRecv)
	if err != nil {
		if errors.Is(err, media.ErrNotAcceptable) {
			return nil, fmt.Errorf("%w: %w", sip.ErrNotAcceptable, err)
		}
		return nil, err
	}
	m.mu.Lock()
	m.neg0 = neg
	m.mu.Unlock()
	return ans, nil
}

// SetAnswer implements sip.Media.
func (m *callMedia) SetAnswer(answer []byte) error {
	neg, err := m.neg.SetAnswer(answer)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.neg0 = neg
	m.mu.Unlock()
	return nil
}

// Negotiated returns the last agreed media.
func (m *callMedia) Negotiated() media.Negotiated {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.neg0
}

// Close implements sip.Media: it frees the ports. It is idempotent.
func (m *callMedia) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	return errors.Join(m.rtp.Close(), m.rtcp.Close())
}
