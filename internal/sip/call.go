package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/softphone/softphone/internal/media"
)

// Call is one call (a dialog and its INVITE session, RFC 3261 §12-14).
type Call struct {
	u       *UA
	id      string // Call-ID
	dir     CallDirection
	account int
	acct    *Account // nil when standalone
	cred    credentials

	ctx    context.Context
	cancel context.CancelCauseFunc

	// incoming, until answered or rejected
	decide    chan Decision
	cancelled chan struct{}
	acks      chan *sip.Request
	refreshed chan struct{}
	notifies  chan int // sipfrag status codes of our REFER

	autoDelay time.Duration
	autoOK    bool

	mu        sync.Mutex
	state     CallState
	media     Media
	decided   bool
	ended     bool
	pending   bool // a re-INVITE is in progress (RFC 3261 §14.1)
	localHold bool
	remoteHld bool
	lateOffer bool
	accepting bool // incoming: our 2xx is being sent
	hangupReq bool // outgoing: Hangup before any provisional response
	sessionSE time.Duration
	refresher bool // we send the session refreshes (RFC 4028 §7.1)
	// refer is the implicit subscription of the last REFER received in
	// the dialog (see refer.go); nil before any.
	refer *referSub
	// lastCode and lastReason are the last response to our INVITE
	// (outgoing calls): a provisional one while it rings, then the final
	// one, or the code standing for a local failure (408 timeout, 503
	// transport error, RFC 3261 §8.1.3.1).
	lastCode   int
	lastReason string
	// ringCode and ringReason are the last 18x among them: what the call
	// rang with, still known once a final response has followed.
	ringCode   int
	ringReason string
	// replaces is the call an incoming INVITE with Replaces takes the
	// place of (RFC 3891); extra are headers our INVITE carries for its
	// target URI or the REFER it follows (Replaces, Referred-By).
	replaces *Call
	extra    []sip.Header
	// replacedBy is the id of the call that replaced this one while it
	// was still ringing out: the 487 to our CANCEL ends it with that
	// reason.
	replacedBy string

	// dialog state (RFC 3261 §12.1)
	localTag, remoteTag string
	localURI, remoteURI sip.Uri
	localName           string
	remoteName          string
	remoteTarget        sip.Uri
	routeSet            []sip.Uri
	transport           string
	localSeq            uint32
	remoteSeq           uint32
	invite              *sip.Request // our INVITE (outgoing) or theirs (incoming)
	inviteTx            sip.ClientTransaction
	proxyDest           string // outbound proxy / server for requests without route set
	connAddr            string // TCP/TLS: local address of the call's connection (see contactHeader)
}

func (u *UA) newCall(dir CallDirection) *Call {
	c := &Call{
		u:         u,
		dir:       dir,
		decide:    make(chan Decision, 1),
		cancelled: make(chan struct{}, 1),
		acks:      make(chan *sip.Request, 4),
		refreshed: make(chan struct{}, 1),
		notifies:  make(chan int, 8),
		localTag:  sip.GenerateTagN(16),
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

// ID returns the Call-ID.
func (c *Call) ID() string { return c.id }

// Direction says whether the call came in or went out.
func (c *Call) Direction() CallDirection { return c.dir }

// Account returns the account ID the call belongs to.
func (c *Call) Account() int { return c.account }

// State returns the call's current state.
func (c *Call) State() CallState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Remote returns the remote party's URI (From of an incoming call, To of an
// outgoing one).
func (c *Call) Remote() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteURI.String()
}

// RemoteName returns the remote party's display name.
func (c *Call) RemoteName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteName
}

// Local returns our URI in the dialog.
func (c *Call) Local() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localURI.String()
}

// AutoAnswer reports whether the INVITE asked to be answered automatically
// and after which delay (Call-Info answer-after, Alert-Info
// alert-autoanswer, RFC 5373 Answer-Mode: Auto).
func (c *Call) AutoAnswer() (time.Duration, bool) { return c.autoDelay, c.autoOK }

// LastResponse returns the last response to an outgoing call's INVITE
// (for example 180 Ringing while it rings, 486 Busy Here once refused);
// code 0 before any. A call that failed locally reports 408 Request
// Timeout (no answer in time) or 503 Service Unavailable (transport error),
// as RFC 3261 §8.1.3.1 has it.
func (c *Call) LastResponse() (code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastCode, c.lastReason
}

// RingResponse returns the last 18x response to an outgoing call's
// INVITE (180 Ringing, 183 Session Progress), code 0 when none came. It
// outlives the final response, so that one who learns of the call late
// can still tell that it rang.
func (c *Call) RingResponse() (code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ringCode, c.ringReason
}

func (c *Call) noteResponse(code int, reason string) {
	c.mu.Lock()
	c.lastCode, c.lastReason = code, reason
	if code >= 180 && code <= 199 {
		c.ringCode, c.ringReason = code, reason
	}
	c.mu.Unlock()
}

// Context is cancelled when the call ends; context.Cause tells why.
func (c *Call) Context() context.Context { return c.ctx }

func (c *Call) key() string { return c.id + "|" + c.localTag }

func (c *Call) setState(st CallState, reason string) {
	c.mu.Lock()
	if c.ended || c.state == st {
		c.mu.Unlock()
		return
	}
	c.state = st
	c.mu.Unlock()
	c.u.h.CallState(c, st, reason)
}

// end finishes the call once: state Ended, context cancelled with cause,
// media closed, Handler told.
func (c *Call) end(cause error, reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.state = CallStateEnded
	m := c.media
	c.mu.Unlock()
	c.u.mu.Lock()
	delete(c.u.calls, c.key())
	c.u.mu.Unlock()
	if cause == nil {
		cause = ErrCallEnded
	}
	c.cancel(fmt.Errorf("%w: %s", cause, reason))
	if m != nil {
		if err := m.Close(); err != nil {
			c.u.log.Debug("media close", "call", c.id, "error", err)
		}
	}
	c.u.log.Debug("call ended", "call", c.id, "reason", reason)
	c.u.h.CallState(c, CallStateEnded, reason)
}

// Answer answers a ringing incoming call with m (nil keeps the Media given
// with the Ring decision).
func (c *Call) Answer(m Media) error {
	return c.decideOnce(Decision{Action: ActionAnswer, Media: m})
}

// Reject rejects a ringing incoming call with code (400-699) and reason.
func (c *Call) Reject(code int, reason string) error {
	if code < 400 || code > 699 {
		return ErrInvalidCode
	}
	return c.decideOnce(Decision{Action: ActionReject, Code: code, Reason: reason})
}

func (c *Call) decideOnce(d Decision) error {
	c.mu.Lock()
	if c.dir != Incoming || c.ended || c.decided || c.state != CallStateRinging {
		c.mu.Unlock()
		return ErrInvalidState
	}
	c.decided = true
	c.mu.Unlock()
	c.decide <- d
	return nil
}

// Hangup ends the call: CANCEL before an answer (outgoing), 480 for a
// ringing incoming call, BYE once established.
func (c *Call) Hangup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.hangup(ctx, "local hangup")
}

func (c *Call) hangup(ctx context.Context, reason string) error {
	c.mu.Lock()
	st, ended, dir, accepting := c.state, c.ended, c.dir, c.accepting
	c.mu.Unlock()
	if ended {
		return ErrInvalidState
	}
	switch {
	case dir == Incoming && st == CallStateRinging && !accepting:
		c.mu.Lock()
		decided := c.decided
		c.decided = true
		c.mu.Unlock()
		if decided {
			return ErrInvalidState
		}
		c.decide <- Decision{Action: ActionReject, Code: sip.StatusTemporarilyUnavailable, Reason: reason}
		return nil
	case dir == Outgoing && (st == CallStateCalling || st == CallStateEarly):
		return c.sendCancel(ctx, reason)
	default:
		_, err := c.request(ctx, sip.BYE, nil, "")
		c.end(ErrCallEnded, reason)
		if err != nil {
			return fmt.Errorf("sip: bye: %w", err)
		}
		return nil
	}
}

// newRequest builds an in-dialog request (RFC 3261 §12.2.1.1).
func (c *Call) newRequest(method sip.RequestMethod) *sip.Request {
	contact := c.contactHeader()
	c.mu.Lock()
	defer c.mu.Unlock()
	req := sip.NewRequest(method, c.remoteTarget)
	for _, r := range c.routeSet {
		req.AppendHeader(&sip.RouteHeader{Address: r})
	}
	from := &sip.FromHeader{DisplayName: c.localName, Address: c.localURI, Params: sip.NewParams()}
	from.Params.Add("tag", c.localTag)
	to := &sip.ToHeader{DisplayName: c.remoteName, Address: c.remoteURI, Params: sip.NewParams()}
	if c.remoteTag != "" {
		to.Params.Add("tag", c.remoteTag)
	}
	cid := sip.CallIDHeader(c.id)
	if method != sip.ACK {
		c.localSeq++
	}
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: c.localSeq, MethodName: method})
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("User-Agent", c.u.o.UserAgent))
	dest := ""
	if len(c.routeSet) == 0 && c.proxyDest != "" {
		dest = c.proxyDest
	}
	c.u.prepare(req, c.transport, dest)
	return req
}

func (c *Call) contactUser() string {
	if c.acct != nil {
		return c.acct.User
	}
	return c.localURI.User
}

// request sends an in-dialog request and returns its final response.
func (c *Call) request(ctx context.Context, method sip.RequestMethod, body []byte, ctype string, hdrs ...sip.Header) (*sip.Response, error) {
	req := c.newRequest(method)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	}
	req.SetBody(body)
	res, err := c.u.transact(ctx, req, c.cred)
	c.syncSeq(req)
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		if res.StatusCode == sip.StatusCallTransactionDoesNotExists || res.StatusCode == sip.StatusRequestTimeout {
			// RFC 3261 §12.2.1.2: the dialog is gone. A NOTIFY is another
			// usage of the dialog: its 481/408 ends only the subscription,
			// not the call (RFC 5057 §5.2, §5.3).
			if method != sip.BYE && method != sip.NOTIFY {
				c.end(ErrCallEnded, fmt.Sprintf("%d %s", res.StatusCode, res.Reason))
			}
		}
		return res, responseError(res)
	}
	return res, nil
}

func (c *Call) syncSeq(req *sip.Request) {
	if cs := req.CSeq(); cs != nil {
		c.mu.Lock()
		if cs.SeqNo > c.localSeq {
			c.localSeq = cs.SeqNo
		}
		c.mu.Unlock()
	}
}

// sendAck acknowledges a 2xx to our INVITE (RFC 3261 §13.2.2.4): a new
// transaction-less request with the INVITE's CSeq number.
func (c *Call) sendAck(seq uint32, body []byte) {
	req := c.newRequest(sip.ACK)
	req.CSeq().SeqNo = seq
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	c.u.trace("send", req)
	if err := c.u.client.WriteRequest(req); err != nil {
		c.u.log.Debug("ack", "call", c.id, "error", err)
	}
}

// reinvite sends a re-INVITE with an offer of direction dir and applies
// the answer (RFC 3261 §14.1, RFC 3264 §8.4).
func (c *Call) reinvite(ctx context.Context, dir media.Direction) error {
	c.mu.Lock()
	if c.ended || c.pending || c.media == nil || (c.state != CallStateActive && c.state != CallStateHeld) {
		busy := c.pending
		c.mu.Unlock()
		if busy {
			return ErrPending
		}
		return ErrInvalidState
	}
	c.pending = true
	m := c.media
	se := c.sessionSE
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.pending = false
		c.mu.Unlock()
	}()
	offer, err := m.Offer(dir)
	if err != nil {
		return fmt.Errorf("sip: offer: %w", err)
	}
	req := c.newRequest(sip.INVITE)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Allow", allowValue))
	req.AppendHeader(sip.NewHeader("Supported", supportedValue))
	if se > 0 {
		req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(se/time.Second), c.refresherParam())))
	}
	req.SetBody(offer)
	res, err := c.u.transact(ctx, req, c.cred)
	c.syncSeq(req)
	if err != nil {
		return err
	}
	if !res.IsSuccess() {
		if res.StatusCode == sip.StatusRequestPending {
			return ErrPending
		}
		if res.StatusCode == sip.StatusCallTransactionDoesNotExists || res.StatusCode == sip.StatusRequestTimeout {
			c.end(ErrCallEnded, fmt.Sprintf("%d %s", res.StatusCode, res.Reason))
		}
		return responseError(res)
	}
	c.sendAck(req.CSeq().SeqNo, nil)
	if len(res.Body()) > 0 {
		if err := m.SetAnswer(res.Body()); err != nil {
			return fmt.Errorf("sip: answer: %w", err)
		}
	}
	c.noteRefresh()
	return nil
}

func (c *Call) refresherParam() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	weUAC := c.dir == Outgoing
	if c.refresher == weUAC {
		return "uac"
	}
	return "uas"
}

// Hold puts the call on hold with a sendonly re-INVITE.
func (c *Call) Hold() error {
	ctx, cancel := context.WithTimeout(c.ctx, 32*time.Second)
	defer cancel()
	if err := c.reinvite(ctx, media.SendOnly); err != nil {
		return err
	}
	c.mu.Lock()
	c.localHold = true
	c.mu.Unlock()
	c.setState(CallStateHeld, "local hold")
	return nil
}

// Resume takes the call off hold with a sendrecv re-INVITE.
func (c *Call) Resume() error {
	ctx, cancel := context.WithTimeout(c.ctx, 32*time.Second)
	defer cancel()
	if err := c.reinvite(ctx, media.SendRecv); err != nil {
		return err
	}
	c.mu.Lock()
	c.localHold = false
	remote := c.remoteHld
	c.mu.Unlock()
	if !remote {
		c.setState(CallStateActive, "local resume")
	}
	return nil
}

// SendDTMF sends each digit in a SIP INFO (application/dtmf-relay).
func (c *Call) SendDTMF(digits string) error {
	for _, d := range digits {
		if !validDTMF(string(d)) {
			return fmt.Errorf("sip: dtmf digit %q invalid", d)
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 32*time.Second)
	defer cancel()
	for _, d := range strings.ToUpper(digits) {
		body := []byte(fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", d))
		if _, err := c.request(ctx, sip.INFO, body, "application/dtmf-relay"); err != nil {
			return fmt.Errorf("sip: dtmf: %w", err)
		}
	}
	return nil
}

// Transfer does a blind transfer: REFER to target (RFC 3515), then follows
// the NOTIFY sipfrag until a final status; on 2xx the call is hung up.
func (c *Call) Transfer(target string) error {
	c.mu.Lock()
	st := c.state
	host := c.remoteURI.Host
	if c.acct != nil {
		host = accountDomain(*c.acct)
	}
	c.mu.Unlock()
	if st != CallStateActive && st != CallStateHeld {
		return ErrInvalidState
	}
	to, err := parseTarget(target, host)
	if err != nil {
		return err
	}
	return c.sendRefer(to)
}

// sendRefer sends a REFER to to (RFC 3515) and follows the NOTIFY sipfrag
// until a final status; on 2xx the call is hung up.
func (c *Call) sendRefer(to sip.Uri) error {
	ctx, cancel := context.WithTimeout(c.ctx, 64*time.Second)
	defer cancel()
	refTo := &sip.ReferToHeader{Address: to}
	c.mu.Lock()
	by := &sip.ReferredByHeader{Address: c.localURI}
	c.mu.Unlock()
	if _, err := c.request(ctx, sip.REFER, nil, "", refTo, by); err != nil {
		return fmt.Errorf("sip: refer: %w", err)
	}
	for {
		select {
		case code := <-c.notifies:
			if code < 200 {
				continue
			}
			if code >= 300 {
				return fmt.Errorf("sip: transfer failed: %d", code)
			}
			hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer hcancel()
			return c.hangup(hctx, "transferred")
		case <-ctx.Done():
			return fmt.Errorf("sip: transfer: %w", context.Cause(ctx))
		}
	}
}

// noteRefresh tells the session timer that the session was refreshed.
func (c *Call) noteRefresh() {
	select {
	case c.refreshed <- struct{}{}:
	default:
	}
}

// startSessionTimer runs the RFC 4028 §10 timer: the refresher re-INVITEs
// at half the interval; the other side sends BYE when no refresh came
// before the interval minus min(32 s, interval/3).
func (c *Call) startSessionTimer() {
	c.mu.Lock()
	se, we := c.sessionSE, c.refresher
	c.mu.Unlock()
	if se <= 0 {
		return
	}
	c.u.spawn(func() {
		for {
			wait := se / 2
			if !we {
				margin := se / 3
				if margin > 32*time.Second {
					margin = 32 * time.Second
				}
				wait = se - margin
			}
			select {
			case <-c.ctx.Done():
				return
			case <-c.u.ctx.Done():
				return
			case <-c.refreshed:
				continue
			case <-c.u.clock.After(wait):
			}
			if we {
				c.mu.Lock()
				dir := media.SendRecv
				if c.localHold {
					dir = media.SendOnly
				}
				c.mu.Unlock()
				ctx, cancel := context.WithTimeout(c.ctx, 32*time.Second)
				err := c.reinvite(ctx, dir)
				cancel()
				if err != nil && !errors.Is(err, ErrPending) {
					c.u.log.Info("session refresh failed", "call", c.id, "error", err)
					bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
					_ = c.hangup(bctx, "session refresh failed")
					bcancel()
					return
				}
				continue
			}
			bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.hangup(bctx, "session expired")
			bcancel()
			return
		}
	})
}

func accountDomain(a Account) string {
	if a.Domain != "" {
		return a.Domain
	}
	return stripPort(a.Server)
}

// Header returns the first value of a header of the INVITE that created the
// call ("" when absent), e.g. Subject or a custom X- header for the phone's
// rules.
func (c *Call) Header(name string) string {
	c.mu.Lock()
	inv := c.invite
	c.mu.Unlock()
	if inv == nil {
		return ""
	}
	return headerValue(inv, name)
}

// Transport is the signalling transport of the call: "udp", "tcp" or
// "tls" (SDES keys travel in the SDP, so the media layer needs to know
// whether the signalling is encrypted).
func (c *Call) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transport
}
