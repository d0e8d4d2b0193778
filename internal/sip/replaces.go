package sip

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The Replaces header (RFC 3891) lets a new INVITE take the place of a
// dialog: it is how an attended (consultation) transfer completes.
//
//   - As the target (the agent was consulted): an INVITE whose Replaces
//     names one of our dialogs is answered at once, without ringing, and
//     the replaced dialog is ended (BYE, or CANCEL for our own early one)
//     once the new one is confirmed by its ACK (§3). The answers: 400 for
//     more than one Replaces or one that does not parse, 481 for no such
//     dialog or for an early dialog we did not start, 486 for a confirmed
//     dialog when the header says early-only, 603 for a dialog that is
//     ending.
//   - As the transferee: a Refer-To URI may carry headers for the request
//     it triggers (RFC 3261 §19.1.5; RFC 3515 §2.1). Replaces is honoured
//     and the REFER's Referred-By is copied (RFC 3892 §3); other URI
//     headers are dropped, since a URI must not set headers such as From,
//     Route or Call-ID of our requests. Headers never stay in the
//     Request-URI (RFC 3261 §19.1.1, table 1).

// replacesRef is a parsed Replaces header: the dialog as its sender sees
// it, to-tag being our tag and from-tag the remote party's.
type replacesRef struct {
	callID, toTag, fromTag string
	earlyOnly              bool
}

// parseReplaces parses "call-id;to-tag=X;from-tag=Y[;early-only]" (RFC
// 3891 §6.1): both tags are required.
func parseReplaces(v string) (replacesRef, error) {
	parts := strings.Split(v, ";")
	r := replacesRef{callID: strings.TrimSpace(parts[0])}
	if r.callID == "" {
		return r, fmt.Errorf("no call-id")
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if seen[k] {
			return r, fmt.Errorf("%s twice", k)
		}
		seen[k] = true
		switch k {
		case "to-tag":
			r.toTag = val
		case "from-tag":
			r.fromTag = val
		case "early-only":
			r.earlyOnly = true
		}
	}
	if !seen["to-tag"] || !seen["from-tag"] {
		return r, fmt.Errorf("to-tag and from-tag are required")
	}
	return r, nil
}

// Replaces returns the call this incoming call replaces (an INVITE with a
// Replaces header naming it), or nil.
func (c *Call) Replaces() *Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replaces
}

// matchReplaces applies RFC 3891 §3 to a new INVITE. It returns the call
// the INVITE replaces (nil when it has no Replaces header), or answers the
// INVITE itself and returns ok false.
func (u *UA) matchReplaces(req *sip.Request, tx sip.ServerTransaction) (old *Call, ok bool) {
	vals := headerValues(req, "Replaces")
	if len(vals) == 0 {
		return nil, true
	}
	refuse := func(code int, why string) (*Call, bool) {
		u.respond(tx, req, code, nil, sip.NewHeader("Warning", warningValue(u.o.UserAgent, why)))
		return nil, false
	}
	if len(vals) > 1 || strings.Contains(vals[0], ",") {
		return refuse(sip.StatusBadRequest, "more than one replaces header")
	}
	r, err := parseReplaces(vals[0])
	if err != nil {
		return refuse(sip.StatusBadRequest, "bad replaces header: "+err.Error())
	}
	u.mu.Lock()
	c := u.calls[r.callID+"|"+r.toTag]
	u.mu.Unlock()
	if c == nil {
		return refuse(sip.StatusCallTransactionDoesNotExists, "no dialog to replace")
	}
	c.mu.Lock()
	st, dir, remote, ended, hanging := c.state, c.dir, c.remoteTag, c.ended, c.hangupReq
	c.mu.Unlock()
	switch {
	case remote != r.fromTag:
		return refuse(sip.StatusCallTransactionDoesNotExists, "no dialog to replace")
	case ended || hanging:
		return refuse(sip.StatusGlobalDecline, "the dialog to replace is ending")
	case st == CallStateActive || st == CallStateHeld:
		if r.earlyOnly {
			return refuse(sip.StatusBusyHere, "the dialog to replace is confirmed and the replaces header says early-only")
		}
	case dir == Outgoing && st == CallStateEarly:
		// Our own early dialog (call pickup, RFC 3891 §7.1): replaced.
	default:
		// An early dialog we did not start (a call ringing here), or
		// one not yet early.
		return refuse(sip.StatusCallTransactionDoesNotExists, "the dialog to replace is not established")
	}
	return c, true
}

// endReplaced ends the call a new one replaced, once that one is
// confirmed: BYE for a confirmed dialog, CANCEL for our early one.
func (c *Call) endReplaced(by *Call) {
	c.mu.Lock()
	c.replacedBy = by.id
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.hangup(ctx, "replaced by call "+by.id); err != nil {
		c.u.log.Debug("end replaced call", "call", c.id, "by", by.id, "error", err)
	}
}

// uriHeaders takes the headers off a target URI (they never stay in a
// Request-URI) and returns those honoured for the request it triggers,
// with the names of the dropped ones.
func uriHeaders(to *sip.Uri) (keep []sip.Header, dropped []string) {
	for _, kv := range to.Headers {
		v, err := url.PathUnescape(kv.V)
		if err != nil {
			v = kv.V
		}
		if strings.EqualFold(kv.K, "Replaces") && v != "" {
			keep = append(keep, sip.NewHeader("Replaces", v))
			continue
		}
		dropped = append(dropped, kv.K)
	}
	to.Headers = nil
	return keep, dropped
}

// TransferReplacing does an attended transfer (RFC 5589 §7): the remote
// party of c is referred to the remote party of other, with a Replaces
// naming other's dialog as that party knows it (its tag is our remote
// tag), so that its new call takes the place of ours. Both calls must be
// up. It returns once the transfer's outcome is known; on success c is
// hung up ("transferred"), and other is left to the target, whose
// replaced dialog ends with its BYE.
//
// The Refer-To is other's remote URI (the party's address, routed like
// any call), as most phones do: its Contact may not be reachable from the
// transferee.
func (c *Call) TransferReplacing(other *Call) error {
	if other == nil || other == c {
		return ErrInvalidState
	}
	for _, x := range []*Call{c, other} {
		if st := x.State(); st != CallStateActive && st != CallStateHeld {
			return ErrInvalidState
		}
	}
	other.mu.Lock()
	to := other.remoteURI.Clone()
	ref := fmt.Sprintf("%s;to-tag=%s;from-tag=%s", other.id, other.remoteTag, other.localTag)
	other.mu.Unlock()
	// A Call-ID and tags hold no space, so query escaping (which writes a
	// space as "+") gives a valid URI header value (RFC 3261 §25.1).
	to.Headers = sip.HeaderParams{{K: "Replaces", V: url.QueryEscape(ref)}}
	return c.sendRefer(*to)
}
