package sip

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A REFER received in a call's dialog asks us to call a third party (a
// blind transfer, RFC 3515). Accepting it creates an implicit subscription
// to the "refer" event: the transferor learns from NOTIFYs carrying a
// message/sipfrag status line what became of the new call (§2.4.4-2.4.5).
//
//	transferor                 UA (this file)                     Handler
//	REFER ─────────────────────▶ 202 Accepted
//	NOTIFY 100 Trying ◀──────── active;expires=N ─────────▶ TransferRequested
//	                            ◀──────────────── ReferProgress(180, …)
//	NOTIFY 180 Ringing ◀─────── active;expires=left
//	                            ◀──────────────── ReferProgress(200 | 4xx-6xx)
//	NOTIFY 200 OK ◀──────────── terminated;reason=noresource
//
// One goroutine per subscription (owned by the UA, stopped by the call's
// end or Close) sends the NOTIFYs one after the other, so they leave in
// the order reported and CSeq order; ReferProgress only queues.
//
// Decisions, as a product:
//   - Refer-Sub: false (RFC 4488 §4; we advertise norefersub) is honoured:
//     202 with Refer-Sub: false and no NOTIFY at all. The transfer is still
//     tracked, so the rules below hold with and without a subscription.
//   - A REFER while another one of the same dialog has no final status yet
//     is answered 491 Request Pending (RFC 3261 §21.4.27: a request of the
//     kind is pending in the dialog; RFC 3515 §2.4.2 lets the recipient
//     refuse a REFER with any error). An agent's call can be handed over only
//     once: two transfers racing would end it twice.
//   - Every NOTIFY names its subscription with id = the REFER's CSeq (RFC
//     3515 §2.4.6), so a later REFER in the same dialog is never confused
//     with an earlier one.
//   - The guard: if no final status is reported within Options.ReferTimeout
//     (default DefaultReferTimeout, about a proxy's Timer C, RFC 3261 §16.6
//     step 11, beyond which no INVITE should still be ringing), a final
//     NOTIFY "408 Request Timeout" with Subscription-State
//     terminated;reason=timeout ends it: the subscription lived for the
//     expires we announced and was not refreshed (RFC 6665 §4.1.3); the
//     transferor reads 408 as "the new call did not complete in time" and
//     keeps its call with us.
//   - A NOTIFY that fails (no answer, or a non-2xx) ends the subscription
//     only, never the call (RFC 6665 §4.2.2, RFC 5057 §5.2).

// DefaultReferTimeout is the guard of a received REFER's subscription when
// Options.ReferTimeout is 0.
const DefaultReferTimeout = 3 * time.Minute

// notifyTimeout bounds one NOTIFY transaction (Timer F = 64*T1 with the
// default T1 of 500 ms, RFC 3261 §17.1.2.2).
const notifyTimeout = 32 * time.Second

// referStatus is one status line to report in a sipfrag.
type referStatus struct {
	code   int
	reason string
}

// referSub is the implicit subscription of one received REFER.
type referSub struct {
	id     uint32 // the REFER's CSeq (RFC 3515 §2.4.6)
	target string // the Refer-To URI, with its headers
	// referredBy is the REFER's Referred-By, for the new INVITE.
	referredBy string
	silent     bool      // Refer-Sub: false: track the transfer, send nothing
	deadline   time.Time // when the guard ends the subscription
	wake       chan struct{}

	// guarded by Call.mu
	queue []referStatus // reported, not sent yet
	final bool          // a final status is queued or sent: later reports are refused
}

// referSubFalse reports whether a REFER asked for no implicit
// subscription (RFC 4488 §3: Refer-Sub: false).
func referSubFalse(req *sip.Request) bool {
	v := strings.TrimSpace(strings.SplitN(headerValue(req, "Refer-Sub"), ";", 2)[0])
	return strings.EqualFold(v, "false")
}

// onRefer accepts a REFER in a dialog (RFC 3515 §2.4.2) and starts its
// implicit subscription.
func (u *UA) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	c := u.inDialog(req, tx)
	if c == nil {
		return
	}
	rt := req.ReferTo()
	if rt == nil {
		// RFC 3515 §2.4.1: exactly one Refer-To, else 400.
		u.respond(tx, req, sip.StatusBadRequest, nil, sip.NewHeader("Warning", warningValue(u.o.UserAgent, "missing refer-to")))
		return
	}
	// The Handler is told the URI without its headers (what the agent
	// sees); DialTransfer dials it with them.
	full := rt.Address.String()
	shown := rt.Address.Clone()
	shown.Headers = nil
	target := shown.String()
	silent := referSubFalse(req)
	s := &referSub{
		id:         req.CSeq().SeqNo,
		target:     full,
		referredBy: headerValue(req, "Referred-By"),
		silent:     silent,
		deadline:   u.clock.Now().Add(u.o.ReferTimeout),
		wake:       make(chan struct{}, 1),
	}
	c.mu.Lock()
	if c.refer != nil && !c.refer.final {
		c.mu.Unlock()
		u.respond(tx, req, sip.StatusRequestPending, nil, sip.NewHeader("Warning", warningValue(u.o.UserAgent, "a transfer of this call is in progress")))
		return
	}
	c.refer = s
	c.mu.Unlock()

	var hdrs []sip.Header
	switch {
	case silent:
		hdrs = append(hdrs, sip.NewHeader("Refer-Sub", "false"))
	case headerValue(req, "Refer-Sub") != "":
		hdrs = append(hdrs, sip.NewHeader("Refer-Sub", "true"))
	}
	// The 202 leaves before the goroutine below sends the first NOTIFY.
	u.respond(tx, req, sip.StatusAccepted, nil, hdrs...)
	if !u.spawn(func() { c.runRefer(s) }) {
		// Closing: the call is being hung up, the subscription with it.
		c.mu.Lock()
		s.final = true
		c.mu.Unlock()
		return
	}
	u.log.Debug("transfer requested", "call", c.id, "target", target, "subscription", !silent)
	u.h.TransferRequested(c, target)
}

// ReferProgress reports the progress of the call placed for the REFER
// received in this call's dialog: a provisional code (180, 183) is sent in
// a NOTIFY that keeps the subscription active; a final one (200-699) is
// sent with Subscription-State terminated;reason=noresource and ends it
// (RFC 3515 §2.4.5). reason "" takes the standard phrase. Reports are
// queued and sent in order; a provisional one still waiting is replaced by
// the next. 100 is accepted and ignored (it was sent with the 202). After
// the final status — or without a REFER — it returns ErrNoSubscription,
// which callers may ignore: the second final status is dropped.
func (c *Call) ReferProgress(code int, reason string) error {
	if code < 100 || code > 699 {
		return fmt.Errorf("%w: %d", ErrInvalidStatus, code)
	}
	reason = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, reason))
	if reason == "" {
		reason = reasonPhrase(code)
	}
	c.mu.Lock()
	s := c.refer
	if s == nil || s.final {
		c.mu.Unlock()
		return ErrNoSubscription
	}
	if code == sip.StatusTrying {
		c.mu.Unlock()
		return nil
	}
	st := referStatus{code: code, reason: reason}
	if n := len(s.queue); code < 200 && n > 0 && s.queue[n-1].code < 200 {
		s.queue[n-1] = st
	} else {
		s.queue = append(s.queue, st)
	}
	if code >= 200 {
		s.final = true
	}
	c.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// runRefer owns one subscription: the first NOTIFY, the reported ones,
// the guard. It returns at the final NOTIFY, a failed NOTIFY, the end of
// the call or Close.
func (c *Call) runRefer(s *referSub) {
	u := c.u
	defer func() {
		c.mu.Lock()
		s.final = true
		s.queue = nil
		c.mu.Unlock()
	}()
	guard := u.clock.After(s.deadline.Sub(u.clock.Now()))
	if !c.notifyRefer(s, referStatus{sip.StatusTrying, reasonPhrase(sip.StatusTrying)}, "") {
		return
	}
	for {
		select {
		case <-s.wake:
			for {
				c.mu.Lock()
				if len(s.queue) == 0 {
					c.mu.Unlock()
					break
				}
				st := s.queue[0]
				s.queue = s.queue[1:]
				c.mu.Unlock()
				if !c.notifyRefer(s, st, "noresource") || st.code >= 200 {
					return
				}
			}
		case <-guard:
			// A final status that came just now is sent instead; else
			// none can be queued from here on.
			c.mu.Lock()
			late := s.final
			s.final = true
			c.mu.Unlock()
			if late {
				continue
			}
			u.log.Info("transfer reported no outcome in time: subscription ended", "call", c.id, "after", u.o.ReferTimeout)
			c.notifyRefer(s, referStatus{sip.StatusRequestTimeout, reasonPhrase(sip.StatusRequestTimeout)}, "timeout")
			return
		case <-c.ctx.Done():
			return
		case <-u.ctx.Done():
			return
		}
	}
}

// notifyRefer sends one NOTIFY of the subscription (nothing when it is
// silent). A final status terminates it with reason; a provisional one
// keeps it active with the time left (RFC 6665 §4.1.3, §7.2). It returns
// false when the NOTIFY failed: the subscription is over then (RFC 6665
// §4.2.2).
func (c *Call) notifyRefer(s *referSub, st referStatus, reason string) bool {
	if s.silent {
		return true
	}
	u := c.u
	state := "terminated;reason=" + reason
	if st.code < 200 {
		left := s.deadline.Sub(u.clock.Now())
		secs := int((left + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		state = fmt.Sprintf("active;expires=%d", secs)
	}
	ctx, cancel := context.WithTimeout(c.ctx, notifyTimeout)
	defer cancel()
	// RFC 3515 §2.4.5: the body is a sipfrag with at least the status line.
	body := []byte(fmt.Sprintf("SIP/2.0 %d %s\r\n", st.code, st.reason))
	_, err := c.request(ctx, sip.NOTIFY, body, "message/sipfrag;version=2.0",
		sip.NewHeader("Event", fmt.Sprintf("refer;id=%d", s.id)),
		sip.NewHeader("Subscription-State", state))
	if err != nil {
		u.log.Info("transfer notify failed: subscription ended", "call", c.id, "status", st.code, "error", err)
		return false
	}
	return true
}
