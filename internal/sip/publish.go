package sip

import (
	"context"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// VQEvent is the event package of voice-quality reports (RFC 6035 §4.1),
// and VQContentType their body type.
const (
	VQEvent       = "vq-rtcpxr"
	VQContentType = "application/vq-rtcpxr"
)

// udpRequestLimit is RFC 3261 §18.1.1's size above which a request must
// not go over UDP when the path MTU is unknown; authHeadroom leaves room
// for the Authorization header a challenge adds.
const (
	udpRequestLimit = 1300
	authHeadroom    = 400
)

// PublishVQReport sends a voice-quality report about the call to the
// collector, a SIP or SIPS URI, in a PUBLISH (RFC 6035 §3, RFC 3903 §4):
// Event: vq-rtcpxr, an application/vq-rtcpxr body. It goes out of dialog
// (RFC 6035 §3.1: the report is not part of the call's dialog) from the
// call's address of record, the way the call's requests go: through the
// account's outbound proxy or to its server over the account's transport,
// so a TCP or TLS connection the call used carries it too, and a digest
// challenge is answered with the account's credentials. A call without an
// account sends it straight to the collector. A report too large for UDP
// goes over TCP to the same place (RFC 3261 §18.1.1). It may be called
// after the call ended; the error carries the collector's final response.
func (c *Call) PublishVQReport(ctx context.Context, collector string, body []byte) error {
	var uri sip.Uri
	if err := sip.ParseUri(collector, &uri); err != nil {
		return fmt.Errorf("sip: publish: collector %q: %w", collector, err)
	}
	c.mu.Lock()
	local, name, acct, cred := c.localURI, c.localName, c.acct, c.cred
	c.mu.Unlock()

	req := sip.NewRequest(sip.PUBLISH, uri)
	from := &sip.FromHeader{DisplayName: name, Address: local, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	cid := sip.CallIDHeader(sip.GenerateTagN(32))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: uri})
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.PUBLISH})
	req.AppendHeader(sip.NewHeader("User-Agent", c.u.o.UserAgent))
	req.AppendHeader(sip.NewHeader("Event", VQEvent))
	req.AppendHeader(sip.NewHeader("Content-Type", VQContentType))
	req.SetBody(body)

	dest, transport := "", "udp"
	switch {
	case acct != nil && acct.OutboundProxy != "":
		// RFC 3261 §8.1.2: a pre-existing route set of the proxy.
		req.AppendHeader(&sip.RouteHeader{Address: proxyURI(acct.OutboundProxy, acct.Protocol)})
		dest, transport = hostPortDefault(acct.OutboundProxy, acct.Protocol), acct.Protocol
	case acct != nil && acct.Server != "":
		dest, transport = c.u.accountTarget(ctx, *acct), acct.Protocol
	default:
		if v, ok := uri.UriParams.Get("transport"); ok && v != "" {
			transport = strings.ToLower(v)
		}
		if uri.Scheme == "sips" {
			transport = "tls"
		}
	}
	if transport == "" {
		transport = "udp"
	}
	if strings.EqualFold(transport, "udp") && len(req.String())+authHeadroom > udpRequestLimit {
		// RFC 3261 §18.1.1: a request larger than 1300 bytes (path MTU
		// unknown) goes over a congestion-controlled transport. A report
		// with both metric groups nearly always is.
		transport = "tcp"
	}
	c.u.prepare(req, transport, dest)
	res, err := c.u.transact(ctx, req, cred)
	if err != nil {
		return fmt.Errorf("sip: publish to %s: %w", collector, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("sip: publish to %s: %w", collector, responseError(res))
	}
	return nil
}
