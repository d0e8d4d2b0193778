package sip

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/softphone/softphone/internal/media"
)

const maxRedirects = 3

// Dial places a call from account (its ID; 0 with no accounts configured)
// to target (a SIP URI, user@host, or a number at the account's domain).
// It returns once the INVITE is on its way; progress comes through
// Handler.CallState. Headers in a target URI are taken off it; a Replaces
// among them is sent with the INVITE (see replaces.go).
func (u *UA) Dial(ctx context.Context, account int, target string, m Media) (*Call, error) {
	return u.dial(ctx, account, target, m, nil)
}

// DialTransfer places the call the last REFER received in orig's dialog
// asks for (Handler.TransferRequested): to its Refer-To URI, with the
// headers that URI carries (Replaces for an attended transfer) and the
// REFER's Referred-By (RFC 3892 §3), from orig's account.
func (u *UA) DialTransfer(ctx context.Context, orig *Call, m Media) (*Call, error) {
	orig.mu.Lock()
	s := orig.refer
	orig.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("%w: no transfer requested in call %s", ErrInvalidState, orig.id)
	}
	var more []sip.Header
	if s.referredBy != "" {
		more = append(more, sip.NewHeader("Referred-By", s.referredBy))
	}
	return u.dial(ctx, orig.account, s.target, m, more)
}

func (u *UA) dial(ctx context.Context, account int, target string, m Media, more []sip.Header) (*Call, error) {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil, ErrClosed
	}
	if !u.started || u.ctx == nil {
		u.mu.Unlock()
		return nil, ErrNotStarted
	}
	u.mu.Unlock()
	if m == nil {
		return nil, fmt.Errorf("sip: dial: nil media")
	}
	var acct *Account
	accts := u.accounts()
	for i := range accts {
		if accts[i].ID == account {
			acct = &accts[i]
		}
	}
	if acct == nil && len(accts) > 0 {
		return nil, fmt.Errorf("%w: %d", ErrUnknownAccount, account)
	}
	defHost := ""
	if acct != nil {
		defHost = accountDomain(*acct)
	}
	to, err := parseTarget(target, defHost)
	if err != nil {
		return nil, err
	}
	extra, dropped := uriHeaders(&to)
	if len(dropped) > 0 {
		u.log.Debug("dial: target uri headers dropped", "headers", dropped)
	}
	extra = append(extra, more...)
	offer, err := m.Offer(media.SendRecv)
	if err != nil {
		return nil, fmt.Errorf("sip: dial: offer: %w", err)
	}

	c := u.newCall(Outgoing)
	c.id = sip.GenerateTagN(32)
	c.account = account
	c.acct = acct
	c.media = m
	c.state = CallStateCalling
	c.remoteURI = to
	c.remoteTarget = to
	c.extra = extra
	c.localSeq = 1
	c.transport = "udp"
	if v, ok := to.UriParams.Get("transport"); ok && v != "" {
		c.transport = strings.ToLower(v)
	}
	if to.Scheme == "sips" {
		c.transport = "tls"
	}
	if acct != nil {
		c.transport = acct.Protocol
		c.localURI = sip.Uri{Scheme: "sip", User: acct.User, Host: defHost}
		c.localName = acct.DisplayName
		user := acct.AuthUser
		if user == "" {
			user = acct.User
		}
		c.cred = credentials{user: user, password: acct.Password}
		switch {
		case acct.OutboundProxy != "":
			c.proxyDest = hostPortDefault(acct.OutboundProxy, acct.Protocol)
			c.routeSet = []sip.Uri{proxyURI(acct.OutboundProxy, acct.Protocol)}
		case acct.Server != "" && (strings.EqualFold(to.Host, defHost) || strings.EqualFold(to.Host, stripPort(acct.Server))):
			c.proxyDest = u.accountTarget(ctx, *acct)
		}
	} else {
		c.localURI = sip.Uri{Scheme: "sip", User: "softphone", Host: u.host}
	}
	u.mu.Lock()
	u.calls[c.key()] = c
	u.mu.Unlock()

	req := c.inviteRequest(offer)
	if c.transport == "udp" && c.acct != nil && len(req.String())+authHeadroom > udpRequestLimit {
		// RFC 3261 §18.1.1: a request over 1300 bytes (a WebRTC offer
		// with its candidates and fingerprint) goes over a
		// congestion-controlled transport. Only towards an account's
		// server, a proxy that must take TCP (§18); a phone called
		// directly often listens on UDP alone, and gets the large
		// datagram as most phones send it.
		u.log.Debug("dial: the INVITE is too large for udp: sending it over tcp", "call", c.id, "bytes", len(req.String()))
		c.transport = "tcp"
		req = c.inviteRequest(offer)
	}
	u.h.CallState(c, CallStateCalling, "calling")
	if !u.spawn(func() { c.runInvite(req) }) {
		c.end(ErrClosed, "closed")
		return nil, ErrClosed
	}
	return c, nil
}

// accountTarget is the current registration target of an account, else its
// first resolved server.
func (u *UA) accountTarget(ctx context.Context, a Account) string {
	u.mu.Lock()
	regs := u.regs
	u.mu.Unlock()
	for _, r := range regs {
		if r.a.ID == a.ID {
			r.mu.Lock()
			t := r.target
			r.mu.Unlock()
			if t != "" {
				return t
			}
		}
	}
	t, err := u.resolveTargets(ctx, a)
	if err != nil || len(t) == 0 {
		return ""
	}
	return t[0]
}

func (c *Call) inviteRequest(offer []byte) *sip.Request {
	req := c.newRequest(sip.INVITE)
	c.mu.Lock()
	c.routeSet = nil // the preloaded route is not the dialog's route set
	c.mu.Unlock()
	req.AppendHeader(sip.NewHeader("Allow", allowValue))
	req.AppendHeader(sip.NewHeader("Supported", supportedValue))
	req.AppendHeader(sip.NewHeader("Allow-Events", allowEvents))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if se := time.Duration(c.u.sessionExpires.Load()); se > 0 {
		// RFC 4028 §7.1: no refresher parameter, the UAS chooses.
		setSessionInterval(req, se, minSE)
	}
	c.mu.Lock()
	for _, h := range c.extra {
		req.AppendHeader(h)
	}
	c.mu.Unlock()
	req.SetBody(offer)
	return req
}

// runInvite drives the INVITE client transaction to the end (RFC 3261
// §13.2): provisional responses, auth, redirects, the 2xx and its ACK.
func (c *Call) runInvite(req *sip.Request) {
	u := c.u
	authTries, redirects, tooSmall := 0, 0, 0
	earlyApplied := false
	for {
		u.trace("send", req)
		tx, err := u.client.TransactionRequest(u.ctx, req)
		if err != nil {
			c.noteResponse(sip.StatusServiceUnavailable, reasonPhrase(sip.StatusServiceUnavailable))
			c.end(ErrCallEnded, "transport error: "+err.Error())
			return
		}
		c.mu.Lock()
		c.invite, c.inviteTx = req, tx
		c.mu.Unlock()
		res, next := c.waitInvite(tx, req, &earlyApplied)
		if next == nil && res == nil {
			tx.Terminate()
			return
		}
		if next != nil {
			tx.Terminate()
			req = next
			continue
		}
		c.noteResponse(res.StatusCode, res.Reason)
		switch {
		case res.IsSuccess():
			c.established(req, res)
			tx.Terminate()
			return
		case (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) && authTries < 2 && c.cred.user != "":
			tx.Terminate()
			authTries++
			if err := authorize(req, res, c.cred); err != nil {
				c.end(ErrCallEnded, fmt.Sprintf("%d %s", res.StatusCode, res.Reason))
				return
			}
			c.syncSeq(req)
			continue
		case res.StatusCode == statusSessionIntervalTooSmall && tooSmall < 2 && headerValue(req, "Session-Expires") != "":
			// RFC 4028 §7.4: retry with the interval the peer requires,
			// as our Session-Expires and Min-SE.
			tx.Terminate()
			tooSmall++
			required, ok := deltaSeconds(headerValue(res, "Min-SE"))
			if se, _, _ := sessionExpires(headerValue(req, "Session-Expires")); !ok || required <= se {
				c.end(ErrCallEnded, fmt.Sprintf("%d %s (Min-SE %q)", res.StatusCode, res.Reason, headerValue(res, "Min-SE")))
				return
			}
			setSessionInterval(req, required, required)
			nextAttempt(req)
			c.syncSeq(req)
			continue
		case res.IsRedirection() && redirects < maxRedirects && res.Contact() != nil:
			tx.Terminate()
			redirects++
			// RFC 3261 §8.1.3.4: retry at the first Contact.
			c.mu.Lock()
			c.remoteTarget = res.Contact().Address
			c.mu.Unlock()
			nreq := c.inviteRequest(req.Body())
			// A 422 may have raised the session interval: ask for it again.
			for _, name := range []string{"Session-Expires", "Min-SE"} {
				nreq.RemoveHeader(name)
				if h := req.GetHeader(name); h != nil {
					nreq.AppendHeader(sip.NewHeader(name, h.Value()))
				}
			}
			req = nreq
			continue
		default:
			tx.Terminate()
			reason := fmt.Sprintf("%d %s", res.StatusCode, res.Reason)
			c.mu.Lock()
			if res.StatusCode == sip.StatusRequestTerminated && c.replacedBy != "" {
				reason = "replaced by call " + c.replacedBy
			}
			c.mu.Unlock()
			c.end(ErrCallEnded, reason)
			return
		}
	}
}

// waitInvite reads responses of one INVITE transaction. It returns the
// final response, or nil, nil when the call ended.
func (c *Call) waitInvite(tx sip.ClientTransaction, req *sip.Request, earlyApplied *bool) (*sip.Response, *sip.Request) {
	u := c.u
	for {
		select {
		case res := <-tx.Responses():
			u.trace("recv", res)
			if res.IsProvisional() {
				if res.StatusCode == sip.StatusTrying {
					continue
				}
				c.mu.Lock()
				if tag, ok := res.To().Params.Get("tag"); ok {
					c.remoteTag = tag
				}
				hangup := c.hangupReq
				c.mu.Unlock()
				if hangup {
					ctx, cancel := context.WithTimeout(u.ctx, 5*time.Second)
					_ = c.sendCancel(ctx, "local hangup")
					cancel()
					continue
				}
				if len(res.Body()) > 0 && !*earlyApplied {
					// Early media (RFC 3960): the 18x carries the answer.
					c.mu.Lock()
					m := c.media
					c.mu.Unlock()
					if err := m.SetAnswer(res.Body()); err == nil {
						*earlyApplied = true
					}
				}
				c.noteResponse(res.StatusCode, res.Reason)
				c.setState(CallStateEarly, fmt.Sprintf("%d %s", res.StatusCode, res.Reason))
				continue
			}
			return res, nil
		case <-tx.Done():
			c.noteResponse(sip.StatusRequestTimeout, reasonPhrase(sip.StatusRequestTimeout))
			c.end(ErrTimeout, "408 Request Timeout")
			return nil, nil
		case <-u.ctx.Done():
			c.end(ErrClosed, "shutdown")
			return nil, nil
		}
	}
}

// established completes a 2xx: dialog from the response (RFC 3261
// §12.1.2), ACK, SDP answer, session timer.
func (c *Call) established(req *sip.Request, res *sip.Response) {
	c.mu.Lock()
	if tag, ok := res.To().Params.Get("tag"); ok {
		c.remoteTag = tag
	}
	if ct := res.Contact(); ct != nil {
		c.remoteTarget = ct.Address
	}
	c.routeSet = nil
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		if rr, ok := rrs[i].(*sip.RecordRouteHeader); ok {
			c.routeSet = append(c.routeSet, rr.Address)
		}
	}
	if len(c.routeSet) > 0 {
		c.proxyDest = ""
	}
	hangup := c.hangupReq
	m := c.media
	c.mu.Unlock()
	c.sendAck(req.CSeq().SeqNo, nil)
	if hangup {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = c.request(ctx, sip.BYE, nil, "")
		cancel()
		c.end(ErrCallEnded, "local hangup")
		return
	}
	if len(res.Body()) > 0 {
		if err := m.SetAnswer(res.Body()); err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = c.request(ctx, sip.BYE, nil, "", sip.NewHeader("Reason", reasonValue(sip.StatusNotAcceptableHere, err.Error())))
			cancel()
			c.end(ErrCallEnded, "bad sdp answer: "+err.Error())
			return
		}
	}
	if v := headerValue(res, "Session-Expires"); v != "" {
		if se, ref, err := sessionExpires(v); err == nil {
			c.mu.Lock()
			c.sessionSE = se
			c.refresher = ref != "uas"
			c.mu.Unlock()
		}
	}
	c.setState(CallStateActive, "answered")
	c.startSessionTimer()
}

// sendCancel cancels our pending INVITE (RFC 3261 §9.1). Before any
// provisional response it only notes the wish; the CANCEL then goes out
// when the first 1xx arrives.
func (c *Call) sendCancel(ctx context.Context, reason string) error {
	c.mu.Lock()
	inv := c.invite
	early := c.state == CallStateEarly
	already := c.hangupReq
	c.hangupReq = true
	c.mu.Unlock()
	if inv == nil || (!early && !already) {
		return nil
	}
	cancel := sip.NewRequest(sip.CANCEL, inv.Recipient)
	if v := inv.Via(); v != nil {
		cancel.AppendHeader(v.Clone())
	}
	for _, h := range inv.GetHeaders("Route") {
		cancel.AppendHeader(sip.HeaderClone(h))
	}
	cancel.AppendHeader(sip.HeaderClone(inv.From()))
	cancel.AppendHeader(sip.HeaderClone(inv.To()))
	cancel.AppendHeader(sip.HeaderClone(inv.CallID()))
	cancel.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	cancel.AppendHeader(sip.NewHeader("Reason", reasonValue(sip.StatusRequestTerminated, reason)))
	cancel.SetBody(nil)
	c.u.prepare(cancel, c.transport, inv.Destination())
	_, err := c.u.once(ctx, cancel)
	return err
}
