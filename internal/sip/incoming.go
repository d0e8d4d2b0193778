package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/softphone/softphone/internal/media"
)

const minSE = 90 * time.Second // RFC 4028 §4 minimum Min-SE

// routes installs the request handlers on the sipgo server.
func (u *UA) routes() {
	s := u.server
	s.OnInvite(u.guard(u.onInvite))
	s.OnAck(u.guard(u.onAck))
	s.OnCancel(u.guard(u.onCancel))
	s.OnBye(u.guard(u.onBye))
	s.OnOptions(u.guard(u.onOptions))
	s.OnNotify(u.guard(u.onNotify))
	s.OnInfo(u.guard(u.onInfo))
	s.OnRefer(u.guard(u.onRefer))
	s.OnUpdate(u.guard(u.onUpdate))
	s.OnNoRoute(u.guard(u.onUnknown))
}

// guard joins handler goroutines in Close and refuses requests (503) once
// the UA is shutting down.
func (u *UA) guard(f func(*sip.Request, sip.ServerTransaction)) func(*sip.Request, sip.ServerTransaction) {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		u.trace("recv", req)
		if !u.enter() {
			if !req.IsAck() {
				u.respond(tx, req, sip.StatusServiceUnavailable, nil)
			}
			return
		}
		defer u.leave()
		f(req, tx)
	}
}

// respond sends a response built from req with optional headers.
func (u *UA) respond(tx sip.ServerTransaction, req *sip.Request, code int, body []byte, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reasonPhrase(code), body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	u.trace("send", res)
	if err := tx.Respond(res); err != nil {
		u.log.Debug("respond", "code", code, "error", err)
	}
	return res
}

// respondTagged responds with our To tag for the dialog.
func (u *UA) respondTagged(tx sip.ServerTransaction, req *sip.Request, tag string, code int, body []byte, hdrs ...sip.Header) *sip.Response {
	res, _ := u.sendTagged(tx, req, tag, code, body, hdrs...)
	return res
}

// sendTagged is respondTagged that also returns the transaction's refusal
// (an INVITE transaction a CANCEL ended already sends no 2xx).
func (u *UA) sendTagged(tx sip.ServerTransaction, req *sip.Request, tag string, code int, body []byte, hdrs ...sip.Header) (*sip.Response, error) {
	res := sip.NewResponseFromRequest(req, code, reasonPhrase(code), nil)
	if to := res.To(); to != nil {
		to.Params.Remove("tag")
		to.Params.Add("tag", tag)
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	res.SetBody(body)
	u.trace("send", res)
	err := tx.Respond(res)
	if err != nil {
		u.log.Debug("respond", "code", code, "error", err)
	}
	return res, err
}

func (u *UA) onUnknown(req *sip.Request, tx sip.ServerTransaction) {
	// RFC 3261 §8.2.1: 405 with the methods we do handle.
	u.respond(tx, req, sip.StatusMethodNotAllowed, nil, sip.NewHeader("Allow", allowValue))
}

func (u *UA) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	// RFC 3261 §11.2.
	u.respond(tx, req, sip.StatusOK, nil,
		sip.NewHeader("Allow", allowValue),
		sip.NewHeader("Accept", acceptValue),
		sip.NewHeader("Supported", supportedValue),
		sip.NewHeader("Allow-Events", allowEvents))
}

// findCall looks up the dialog of an in-dialog request by Call-ID and our
// tag (the To tag of requests sent to us).
func (u *UA) findCall(req *sip.Request) *Call {
	cid, to, from := req.CallID(), req.To(), req.From()
	if cid == nil || to == nil || from == nil {
		return nil
	}
	tag, _ := to.Params.Get("tag")
	u.mu.Lock()
	c := u.calls[cid.Value()+"|"+tag]
	u.mu.Unlock()
	if c == nil {
		return nil
	}
	ftag, _ := from.Params.Get("tag")
	c.mu.Lock()
	ok := c.remoteTag == "" || c.remoteTag == ftag
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return c
}

// inDialog finds the call of an in-dialog request and checks its CSeq
// (RFC 3261 §12.2.2); it answers 481/500 itself and returns nil then.
func (u *UA) inDialog(req *sip.Request, tx sip.ServerTransaction) *Call {
	c := u.findCall(req)
	if c == nil {
		u.respond(tx, req, sip.StatusCallTransactionDoesNotExists, nil)
		return nil
	}
	seq := req.CSeq().SeqNo
	c.mu.Lock()
	if c.remoteSeq != 0 && seq < c.remoteSeq {
		c.mu.Unlock()
		u.respond(tx, req, sip.StatusInternalServerError, nil, sip.NewHeader("Warning", warningValue(u.o.UserAgent, "cseq out of order")))
		return nil
	}
	c.remoteSeq = seq
	c.mu.Unlock()
	return c
}

func (u *UA) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := u.findCall(req)
	if c == nil {
		return
	}
	select {
	case c.acks <- req:
	default:
	}
}

func (u *UA) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL that matched a pending INVITE was handled by the transaction
	// layer (200 + 487); one that reaches us matches nothing (RFC 3261 §9.2).
	u.respond(tx, req, sip.StatusCallTransactionDoesNotExists, nil)
}

func (u *UA) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog(req, tx)
	if c == nil {
		return
	}
	u.respond(tx, req, sip.StatusOK, nil)
	c.mu.Lock()
	ringing := c.dir == Incoming && c.state == CallStateRinging && !c.accepting
	c.mu.Unlock()
	if ringing {
		// BYE on the early dialog: the caller gave up.
		select {
		case c.cancelled <- struct{}{}:
		default:
		}
		return
	}
	c.end(ErrCallEnded, "remote hangup")
}

func (u *UA) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog(req, tx)
	if c == nil {
		return
	}
	ev := strings.ToLower(strings.TrimSpace(strings.SplitN(headerValue(req, "Event"), ";", 2)[0]))
	switch ev {
	case "talk", "hold":
		// Remote control of the phone (Broadsoft-style talk/hold events).
		u.respond(tx, req, sip.StatusOK, nil)
		e, _ := ParseRemoteEvent(ev)
		u.h.RemoteControl(c, e)
	case "refer":
		// RFC 3515 §2.4.5: progress of the REFER we sent.
		code, err := sipfragStatus(req.Body())
		if err != nil {
			u.respond(tx, req, sip.StatusBadRequest, nil)
			return
		}
		u.respond(tx, req, sip.StatusOK, nil)
		select {
		case c.notifies <- code:
		default:
		}
	default:
		// RFC 6665 §8.3.2: 489 Bad Event.
		u.respond(tx, req, statusBadEvent, nil, sip.NewHeader("Allow-Events", allowEvents))
	}
}

func (u *UA) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog(req, tx)
	if c == nil {
		return
	}
	ct := headerValue(req, "Content-Type")
	if len(req.Body()) == 0 {
		u.respond(tx, req, sip.StatusOK, nil)
		return
	}
	d, err := parseDTMF(ct, req.Body())
	if err != nil {
		u.respond(tx, req, sip.StatusUnsupportedMediaType, nil, sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	}
	u.respond(tx, req, sip.StatusOK, nil)
	u.h.DTMF(c, d)
}

// onUpdate answers an UPDATE (RFC 3311): a session refresh, or an offer.
func (u *UA) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog(req, tx)
	if c == nil {
		return
	}
	var body []byte
	hdrs := []sip.Header{sip.NewHeader("Supported", supportedValue)}
	if len(req.Body()) > 0 {
		c.mu.Lock()
		m := c.media
		c.mu.Unlock()
		if m == nil {
			u.respond(tx, req, sip.StatusNotAcceptableHere, nil)
			return
		}
		ans, err := m.Answer(req.Body())
		if err != nil {
			u.respond(tx, req, mediaErrCode(err), nil)
			return
		}
		body = ans
		hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	}
	hdrs = append(hdrs, c.sessionHeaders(req)...)
	c.mu.Lock()
	tag := c.localTag
	c.mu.Unlock()
	u.respondTagged(tx, req, tag, sip.StatusOK, body, hdrs...)
	c.noteRefresh()
	if body != nil {
		c.remoteOffer(req.Body())
	}
}

func mediaErrCode(err error) int {
	if errors.Is(err, ErrNotAcceptable) {
		return sip.StatusNotAcceptableHere
	}
	return sip.StatusInternalServerError
}

// precheck applies the RFC 3261 §8.2 checks to an INVITE; it answers and
// returns false when the request cannot be processed.
func (u *UA) precheck(req *sip.Request, tx sip.ServerTransaction) bool {
	if bad := unsupportedRequire(headerValues(req, "Require")); len(bad) > 0 {
		u.respond(tx, req, sip.StatusBadExtension, nil, sip.NewHeader("Unsupported", strings.Join(bad, ", ")))
		return false
	}
	if len(req.Body()) > 0 {
		ct := strings.ToLower(strings.TrimSpace(strings.SplitN(headerValue(req, "Content-Type"), ";", 2)[0]))
		if ct != "application/sdp" {
			u.respond(tx, req, sip.StatusUnsupportedMediaType, nil, sip.NewHeader("Accept", acceptValue))
			return false
		}
	}
	if req.Contact() == nil {
		u.respond(tx, req, sip.StatusBadRequest, nil, sip.NewHeader("Warning", warningValue(u.o.UserAgent, "missing contact")))
		return false
	}
	return true
}

// sessionHeaders negotiates RFC 4028 session timers from a request that
// asked for them and returns the headers for our 2xx.
func (c *Call) sessionHeaders(req *sip.Request) []sip.Header {
	v := headerValue(req, "Session-Expires")
	if v == "" {
		return nil
	}
	se, ref, err := sessionExpires(v)
	if err != nil {
		return nil
	}
	timer := strings.Contains(strings.ToLower(strings.Join(headerValues(req, "Supported"), ",")), "timer")
	if ref == "" {
		// RFC 4028 §9: the UAS picks; the requester refreshes when it
		// supports the extension, else we do.
		ref = "uas"
		if timer {
			ref = "uac"
		}
	}
	c.mu.Lock()
	c.sessionSE = se
	// The request's UAC is the remote side here.
	c.refresher = ref == "uas"
	c.mu.Unlock()
	hdrs := []sip.Header{sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(se/time.Second), ref))}
	if timer {
		hdrs = append(hdrs, sip.NewHeader("Require", "timer"))
	}
	return hdrs
}

// onInvite handles a new INVITE (RFC 3261 §13.3) or a re-INVITE (§14.2).
func (u *UA) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		u.onReInvite(req, tx)
		return
	}
	if !u.precheck(req, tx) {
		return
	}
	replaced, ok := u.matchReplaces(req, tx)
	if !ok {
		return
	}
	if v := headerValue(req, "Session-Expires"); v != "" {
		if se, _, err := sessionExpires(v); err == nil && se < minSE {
			u.respond(tx, req, statusSessionIntervalTooSmall, nil, sip.NewHeader("Min-SE", strconv.Itoa(int(minSE/time.Second))))
			return
		}
	}
	u.respond(tx, req, sip.StatusTrying, nil)

	c := u.newCall(Incoming)
	c.id = req.CallID().Value()
	c.invite = req
	from, to := req.From(), req.To()
	c.remoteTag, _ = from.Params.Get("tag")
	c.remoteURI, c.remoteName = from.Address, from.DisplayName
	c.localURI, c.localName = to.Address, to.DisplayName
	c.remoteTarget = req.Contact().Address
	for _, h := range req.GetHeaders("Record-Route") {
		if rr, ok := h.(*sip.RecordRouteHeader); ok {
			c.routeSet = append(c.routeSet, rr.Address)
		}
	}
	c.transport = strings.ToLower(req.Transport())
	c.remoteSeq = req.CSeq().SeqNo
	c.localSeq = 1
	c.state = CallStateRinging
	c.replaces = replaced
	c.autoDelay, c.autoOK = autoAnswer(req)
	c.account, c.acct = u.accountFor(req.Recipient)
	if c.acct != nil {
		user := c.acct.AuthUser
		if user == "" {
			user = c.acct.User
		}
		c.cred = credentials{user: user, password: c.acct.Password}
	}
	if c.transport == "" {
		c.transport = "udp"
	}
	u.mu.Lock()
	u.calls[c.key()] = c
	u.mu.Unlock()

	if !tx.OnCancel(func(*sip.Request) {
		select {
		case c.cancelled <- struct{}{}:
		default:
		}
	}) {
		c.end(ErrCallEnded, "cancelled")
		return
	}
	u.log.Debug("incoming call", "call", c.id, "from", c.remoteURI.String())
	d := u.h.IncomingCall(c)
	for {
		switch d.Action {
		case ActionAnswer:
			if d.Media == nil {
				c.mu.Lock()
				d.Media = c.media
				c.mu.Unlock()
			}
			u.answer(c, req, tx, d.Media)
			return
		case ActionReject:
			code := d.Code
			if code < 400 || code > 699 {
				code = sip.StatusTemporarilyUnavailable
			}
			reason := d.Reason
			if reason == "" {
				reason = reasonPhrase(code)
			}
			u.respondTagged(tx, req, c.localTag, code, nil,
				sip.NewHeader("Reason", reasonValue(code, reason)),
				sip.NewHeader("Warning", warningValue(u.o.UserAgent, reason)))
			c.end(ErrCallEnded, fmt.Sprintf("rejected %d: %s", code, reason))
			return
		case ActionRing:
			c.mu.Lock()
			if d.Media != nil {
				c.media = d.Media
			}
			c.mu.Unlock()
			u.respondTagged(tx, req, c.localTag, sip.StatusRinging, nil,
				c.contactHeader(),
				sip.NewHeader("Allow", allowValue),
				sip.NewHeader("Allow-Events", allowEvents))
			u.h.CallState(c, CallStateRinging, "ringing")
			select {
			case d = <-c.decide:
				continue
			case <-c.cancelled:
				c.end(ErrCallEnded, "cancelled")
				return
			case <-tx.Done():
				c.end(ErrCallEnded, "caller gave up")
				return
			case <-u.ctx.Done():
				u.respondTagged(tx, req, c.localTag, sip.StatusTemporarilyUnavailable, nil, sip.NewHeader("Reason", reasonValue(sip.StatusTemporarilyUnavailable, "shutdown")))
				c.end(ErrCallEnded, "shutdown")
				return
			}
		default:
			u.respondTagged(tx, req, c.localTag, sip.StatusTemporarilyUnavailable, nil,
				sip.NewHeader("Reason", reasonValue(sip.StatusTemporarilyUnavailable, "no decision")),
				sip.NewHeader("Warning", warningValue(u.o.UserAgent, "no decision")))
			c.end(ErrCallEnded, "rejected 480: no decision")
			return
		}
	}
}

// accountFor finds the account an incoming request is addressed to; with
// none matching, the first account (or standalone 0).
func (u *UA) accountFor(ruri sip.Uri) (int, *Account) {
	accts := u.accounts()
	for i := range accts {
		a := &accts[i]
		if a.User == ruri.User {
			return a.ID, a
		}
	}
	if len(accts) > 0 {
		return accts[0].ID, &accts[0]
	}
	return 0, nil
}

// answer sends the 2xx with our SDP and waits for the ACK (RFC 3261 §13.3.1.4).
func (u *UA) answer(c *Call, req *sip.Request, tx sip.ServerTransaction, m Media) {
	if m == nil {
		u.respondTagged(tx, req, c.localTag, sip.StatusInternalServerError, nil, sip.NewHeader("Warning", warningValue(u.o.UserAgent, "no media")))
		c.end(ErrCallEnded, "rejected 500: no media")
		return
	}
	c.mu.Lock()
	c.media = m
	c.mu.Unlock()
	var body []byte
	var err error
	late := len(req.Body()) == 0
	if late {
		// Late offer: we offer in the 2xx, the answer comes in the ACK (RFC 3264 §4).
		body, err = m.Offer(media.SendRecv)
	} else {
		body, err = m.Answer(req.Body())
	}
	if err != nil {
		code := mediaErrCode(err)
		u.respondTagged(tx, req, c.localTag, code, nil, sip.NewHeader("Warning", warningValue(u.o.UserAgent, err.Error())))
		c.end(ErrCallEnded, fmt.Sprintf("rejected %d: %v", code, err))
		return
	}
	hdrs := []sip.Header{
		c.contactHeader(),
		sip.NewHeader("Allow", allowValue),
		sip.NewHeader("Supported", supportedValue),
		sip.NewHeader("Content-Type", "application/sdp"),
	}
	hdrs = append(hdrs, c.sessionHeaders(req)...)
	c.mu.Lock()
	c.lateOffer = late
	c.mu.Unlock()
	// The call is accepted from the 2xx on (RFC 3261 §13.3.1.4): a BYE the
	// caller sends the instant it sees the 2xx must not be taken for an
	// early-dialog BYE (the caller giving up).
	c.mu.Lock()
	c.accepting = true
	c.mu.Unlock()
	res, err := u.sendTagged(tx, req, c.localTag, sip.StatusOK, body, hdrs...)
	if err != nil {
		// A CANCEL won the race: the transaction answered 487 and sends
		// no 2xx (RFC 3261 §9.2).
		c.end(ErrCallEnded, "cancelled")
		return
	}
	c.setState(CallStateActive, "answered")
	if !c.waitAck(tx, res, late) {
		return
	}
	if !late {
		c.remoteOffer(req.Body())
	}
	c.startSessionTimer()
	if old := c.Replaces(); old != nil {
		u.log.Debug("call replaced", "call", old.id, "by", c.id)
		old.endReplaced(c)
	}
}

// waitAck retransmits the 2xx until the ACK comes (T1 doubling to T2,
// give up after 64*T1 with a BYE; RFC 3261 §13.3.1.4). The UAS core does
// so on every transport, TCP and TLS included: a proxy on the way may
// forward over UDP, and the transaction layer never retransmits a 2xx
// (RFC 3261 §17.2.1, RFC 6026 §7.1).
func (c *Call) waitAck(tx sip.ServerTransaction, res *sip.Response, late bool) bool {
	u := c.u
	interval := sip.T1
	deadline := u.clock.After(64 * sip.T1)
	for {
		retrans := u.clock.After(interval)
		select {
		case ack := <-c.acks:
			if cs := ack.CSeq(); cs == nil || cs.SeqNo != res.CSeq().SeqNo {
				continue // a retransmitted ACK of an earlier INVITE
			}
			if late {
				if err := c.applyAnswer(ack.Body()); err != nil {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = c.hangup(ctx, "bad answer in ack")
					cancel()
					return false
				}
			}
			return true
		case <-retrans:
			_ = tx.Respond(res)
			interval *= 2
			if interval > sip.T2 {
				interval = sip.T2
			}
		case <-deadline:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.hangup(ctx, "no ack")
			cancel()
			return false
		case <-c.ctx.Done():
			return false
		case <-u.ctx.Done():
			return false
		}
	}
}

func (c *Call) applyAnswer(body []byte) error {
	if len(body) == 0 {
		return fmt.Errorf("sip: ack without sdp answer")
	}
	c.mu.Lock()
	m := c.media
	c.mu.Unlock()
	return m.SetAnswer(body)
}

// remoteOffer updates the held state from a remote offer we answered
// (RFC 3264 §8.4). The media package reads the SDP; an offer it cannot read
// leaves the state as it was.
func (c *Call) remoteOffer(offer []byte) {
	d, err := media.RemoteDirection(offer)
	if err != nil {
		c.u.log.Debug("remote offer direction", "call", c.id, "error", err)
		return
	}
	hold := d.Holds()
	c.mu.Lock()
	was := c.remoteHld
	c.remoteHld = hold
	local := c.localHold
	c.mu.Unlock()
	switch {
	case hold && !was:
		c.setState(CallStateHeld, "remote hold")
	case !hold && was && !local:
		c.setState(CallStateActive, "remote resume")
	}
}

// onReInvite answers a re-INVITE: 491 while one is pending (RFC 3261
// §14.2), else an SDP answer (or offer, when it carries none).
func (u *UA) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog(req, tx)
	if c == nil {
		return
	}
	if !u.precheck(req, tx) {
		return
	}
	c.mu.Lock()
	if c.pending || (c.state != CallStateActive && c.state != CallStateHeld) {
		c.mu.Unlock()
		u.respond(tx, req, sip.StatusRequestPending, nil)
		return
	}
	c.pending = true
	m := c.media
	local := c.localHold
	tag := c.localTag
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.pending = false
		c.mu.Unlock()
	}()
	if t := req.Contact(); t != nil {
		c.mu.Lock()
		c.remoteTarget = t.Address // RFC 3261 §12.2.2 target refresh
		c.mu.Unlock()
	}
	late := len(req.Body()) == 0
	var body []byte
	var err error
	if late {
		dir := media.SendRecv
		if local {
			dir = media.SendOnly
		}
		body, err = m.Offer(dir)
	} else {
		body, err = m.Answer(req.Body())
	}
	if err != nil {
		code := mediaErrCode(err)
		u.respondTagged(tx, req, tag, code, nil, sip.NewHeader("Warning", warningValue(u.o.UserAgent, err.Error())))
		return
	}
	hdrs := []sip.Header{
		c.contactHeader(),
		sip.NewHeader("Allow", allowValue),
		sip.NewHeader("Supported", supportedValue),
		sip.NewHeader("Content-Type", "application/sdp"),
	}
	hdrs = append(hdrs, c.sessionHeaders(req)...)
	res := u.respondTagged(tx, req, tag, sip.StatusOK, body, hdrs...)
	if !c.waitAck(tx, res, late) {
		return
	}
	c.noteRefresh()
	if !late {
		c.remoteOffer(req.Body())
	}
}

func stripPort(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
