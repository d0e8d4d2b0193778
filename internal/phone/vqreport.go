package phone

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/sip"
)

// vqPublishTimeout bounds one report's PUBLISH, challenges included.
const vqPublishTimeout = 30 * time.Second

// vqReportOf builds the call's end-of-call voice-quality report (RFC 6035)
// from its media session, nil when the call had no media or reports are
// off. Called with s.mu held, as the call ends, before its media closes.
func (p *Phone) vqReportOf(e *call) *media.VQReport {
	ep := p.config().Endpoint
	if !ep.VQReportPublish || ep.VQReportCollector == "" || e.media == nil {
		return nil
	}
	sess := e.media.session()
	if sess == nil {
		return nil
	}
	st, n := sess.Stats(), sess.Negotiated()
	local := netip.AddrPort{}
	if a, ok := e.media.rtp.LocalAddr().(*net.UDPAddr); ok {
		local = a.AddrPort()
	}
	if pub, err := netip.ParseAddr(ep.PublicAddress); err == nil {
		local = netip.AddrPortFrom(pub, local.Port())
	}
	start := e.ans
	if start.IsZero() {
		start = e.start
	}
	c := e.sip
	localID, remoteID := "<"+c.Local()+">", "<"+c.Remote()+">"
	orig := remoteID
	if c.Direction() == sip.Outgoing {
		orig = localID
	}
	return &media.VQReport{
		CallID: c.ID(), LocalID: localID, RemoteID: remoteID, OrigID: orig,
		LocalGroup: "softphone/" + p.version,
		LocalAddr:  local, RemoteAddr: sess.Destination(), LocalSSRC: st.SSRC, RemoteSSRC: st.RemoteSSRC,
		Start: start, Stop: p.now(), Codec: n.Codec, PTime: n.PTime,
		Local: st.LocalMetrics, Remote: st.PeerMetrics(),
	}
}

// publishVQReport sends the report to the collector through the call's
// connection, in the background; the outcome goes to the log.
func (p *Phone) publishVQReport(s *sipSide, c *sip.Call, r *media.VQReport) {
	collector := p.config().Endpoint.VQReportCollector
	started := s.bg.Go(func() {
		ctx, cancel := context.WithTimeout(s.ctx, vqPublishTimeout)
		defer cancel()
		if err := c.PublishVQReport(ctx, collector, r.Marshal()); err != nil {
			p.log.Warn("voice quality report not accepted", "call", c.ID(), "collector", collector, "err", err)
			return
		}
		p.log.Info("voice quality report published", "call", c.ID(), "collector", collector,
			"mos_cq", r.Local.MOSCQ, "remote_mos_cq", r.Remote.MOSCQ)
	})
	if !started {
		p.log.Warn("voice quality report not sent: the phone is stopping", "call", c.ID())
	}
}
