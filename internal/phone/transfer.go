package phone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/sip"
)

// A received REFER (the contact-centre server or the caller hands our call
// over: a blind transfer, RFC 3515) is carried out here; the SIP layer
// keeps the subscription and sends the NOTIFYs we report.
//
//	REFER ─▶ sip.UA: 202, NOTIFY 100 ─▶ transferRequested ─▶ dial target (new call)
//	new call 180/183            ─▶ ReferProgress(18x)        transfer "ringing"
//	new call answered           ─▶ ReferProgress(200)        transfer "succeeded";
//	                               the original call ends: the transferor's
//	                               BYE, else ours after TransferGrace
//	new call refused / failed   ─▶ ReferProgress(4xx-6xx)    transfer "failed";
//	or not placed at all           the original call stays up: what to do
//	                               with it is the transferor's call
//
// Every step is a "transfer" event, and the original call's CallInfo
// carries the latest one, so an agent desktop sees a failed transfer.

// TransferState is where a transfer asked of one of our calls stands.
type TransferState int

// Transfer states.
const (
	TransferUnknown   TransferState = iota
	TransferTrying                  // REFER accepted, the new call is being placed
	TransferRinging                 // the new call rings (180/183)
	TransferSucceeded               // the new call was answered
	TransferFailed                  // the new call was refused, failed, or could not be placed
)

var transferStateNames = []string{"unknown", "trying", "ringing", "succeeded", "failed"}

// String returns the state's name.
func (s TransferState) String() string {
	if s < 0 || int(s) >= len(transferStateNames) {
		return transferStateNames[0]
	}
	return transferStateNames[s]
}

// ParseTransferState parses a transfer state name.
func ParseTransferState(v string) (TransferState, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	for i, n := range transferStateNames {
		if i > 0 && n == v {
			return TransferState(i), nil
		}
	}
	return TransferUnknown, fmt.Errorf("phone: unknown transfer state %q", v)
}

// final reports whether the transfer's outcome is known.
func (s TransferState) final() bool { return s == TransferSucceeded || s == TransferFailed }

// transfer is one REFER being carried out; guarded by sipSide.mu but
// for follow.
type transfer struct {
	follow  sync.Mutex // held while a state of the new call is reported
	orig    *sip.Call  // the call the REFER came in
	target  string
	state   TransferState
	code    int
	reason  string
	newCall string
}

// info is the front ends' view; nil for no transfer. Call with s.mu held.
func (t *transfer) info() *TransferInfo {
	if t == nil {
		return nil
	}
	return &TransferInfo{Target: t.target, State: t.state.String(), Code: t.code, Reason: t.reason, NewCall: t.newCall}
}

// transferDialTimeout bounds placing the new call (resolving the account's
// server); its progress is followed through the call's states.
const transferDialTimeout = 10 * time.Second

// transferRequested starts carrying out a REFER received in orig's
// dialog: the target is called from the same connection in a goroutine
// (the SIP handler must not wait for name resolution), joined at shutdown.
func (p *Phone) transferRequested(orig *sip.Call, target string) {
	s := p.sipSide()
	if s == nil {
		return
	}
	t := &transfer{orig: orig, target: target, state: TransferTrying}
	s.mu.Lock()
	if e := s.calls[orig.ID()]; e != nil {
		e.transfer = t
	}
	ev := TransferEvent{Call: orig.ID(), TransferInfo: *t.info()}
	s.mu.Unlock()
	p.log.Info("transfer requested", "call", orig.ID(), "target", target)
	p.events.publish(EventTransfer, ev)
	place := func() {
		ctx, cancel := context.WithTimeout(s.ctx, transferDialTimeout)
		defer cancel()
		if _, err := p.dialFor(ctx, target, orig.Account(), t); err != nil {
			code := p.transferErrCode(err)
			p.transferOutcome(s, t, TransferFailed, code, err.Error(), "")
		}
	}
	if !s.bg.Go(place) {
		p.transferOutcome(s, t, TransferFailed, 503, "the phone is shutting down", "")
	}
}

// transferErrCode is the status reported for a new call that could not be
// placed (RFC 3515 §2.4.5 lets the sipfrag carry any status line; these
// are the ones a UAS would have answered for the same reason).
func (p *Phone) transferErrCode(err error) int {
	switch {
	case errors.Is(err, ErrOutgoingBlocked):
		// The policy refuses calls now (no headset): the same code the
		// phone answers incoming calls with for that reason.
		if c := p.Decision().RejectCode; c >= 400 && c <= 699 {
			return c
		}
		return 480
	case errors.Is(err, ErrInvalidArgument), errors.Is(err, sip.ErrInvalidTarget):
		return 400 // the Refer-To URI cannot be called
	case errors.Is(err, sip.ErrClosed), errors.Is(err, context.Canceled):
		return 503 // shutting down
	}
	return 500
}

// followTransfer reports a state of the new call placed for t. It is
// called for every state of that call and once more when the call's entry
// learns the transfer, from two goroutines then, so each step is reported
// once and in order: t.follow serialises the reports, and a target that
// rang before it answered or refused is reported ringing first even when
// the state that said so was never seen here.
func (p *Phone) followTransfer(s *sipSide, t *transfer, c *sip.Call, st sip.CallState) {
	t.follow.Lock()
	defer t.follow.Unlock()
	switch st {
	case sip.CallStateEarly:
		p.transferRinging(s, t, c)
	case sip.CallStateActive, sip.CallStateHeld:
		p.transferRinging(s, t, c)
		p.transferOutcome(s, t, TransferSucceeded, 200, "OK", "OK")
	case sip.CallStateEnded:
		p.transferRinging(s, t, c)
		code, reason := c.LastResponse()
		if code < 300 {
			// Ended without a failure response (cancelled, shut down):
			// RFC 3261 §21.4.25.
			code, reason = 487, "Request Terminated"
		}
		p.transferOutcome(s, t, TransferFailed, code, reason, reason)
	}
}

// transferRinging reports the last 18x of t's new call, once for each
// code, unless the outcome is known. The 18x, not the last response: a
// final one may have followed already.
func (p *Phone) transferRinging(s *sipSide, t *transfer, c *sip.Call) {
	code, reason := c.RingResponse()
	if code == 0 {
		return
	}
	s.mu.Lock()
	if t.state.final() || (t.state == TransferRinging && t.code == code) {
		s.mu.Unlock()
		return
	}
	t.state, t.code, t.reason = TransferRinging, code, reason
	ev := TransferEvent{Call: t.orig.ID(), TransferInfo: *t.info()}
	s.mu.Unlock()
	p.referProgress(t, code, reason)
	p.log.Info("transfer target ringing", "call", t.orig.ID(), "target", t.target, "code", code)
	p.events.publish(EventTransfer, ev)
}

// transferOutcome records and reports the final status of t once:
// reason is what the agent sees, sipReason the phrase of the transferor's
// sipfrag ("" = the standard one; a local error's text is not sent). On
// success the original call is marked transferred and ended after the
// grace unless the transferor ends it first; on failure it stays up.
func (p *Phone) transferOutcome(s *sipSide, t *transfer, st TransferState, code int, reason, sipReason string) {
	s.mu.Lock()
	if t.state.final() {
		s.mu.Unlock()
		return
	}
	t.state, t.code, t.reason = st, code, reason
	ev := TransferEvent{Call: t.orig.ID(), TransferInfo: *t.info()}
	oe := s.calls[t.orig.ID()]
	if st == TransferSucceeded && oe != nil {
		oe.endReason = "transferred to " + t.target
	}
	s.mu.Unlock()
	p.referProgress(t, code, sipReason)
	p.events.publish(EventTransfer, ev)
	if st == TransferFailed {
		msg := "transfer failed: the original call stays up"
		if oe == nil {
			msg = "transfer failed: the original call has ended already"
		}
		p.log.Warn(msg, "call", t.orig.ID(), "target", t.target, "code", code, "reason", reason)
		return
	}
	p.log.Info("transfer succeeded", "call", t.orig.ID(), "target", t.target, "new_call", ev.NewCall)
	if oe == nil {
		return
	}
	// RFC 3515 §2.4.7 leaves ending the original call to the transferor,
	// who normally sends BYE on the 200 NOTIFY; the agent must not be left
	// with two calls when it does not.
	p.endAfterGrace(s, oe, "", "transferred call not ended by the transferor: hung up")
}

// endAfterGrace hangs e's call up once the transfer grace is over, unless
// it ended meanwhile, and logs msg. A reason given becomes the call's end
// reason then.
func (p *Phone) endAfterGrace(s *sipSide, e *call, reason, msg string) {
	e.after(p.transferGrace, func() {
		s.mu.Lock()
		if reason != "" {
			e.endReason = reason
		}
		e.ending = true
		s.mu.Unlock()
		if err := e.sip.Hangup(); err == nil {
			p.log.Info(msg, "call", e.sip.ID(), "after", p.transferGrace)
		}
	})
}

// referProgress hands one status to the SIP layer; a subscription that is
// over (the guard ran out, the dialog ended) is no error here.
func (p *Phone) referProgress(t *transfer, code int, reason string) {
	if err := t.orig.ReferProgress(code, reason); err != nil && !errors.Is(err, sip.ErrNoSubscription) {
		p.log.Warn("transfer progress not sent", "call", t.orig.ID(), "code", code, "err", err)
	}
}
