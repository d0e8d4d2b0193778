package sip

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// TestOutgoingSessionTimer: our INVITE asks for the configured session
// interval (RFC 4028 §7.1); a 422 is retried once with the peer's Min-SE
// (§7.4); the 2xx's Session-Expires is what the call then runs with.
func TestOutgoingSessionTimer(t *testing.T) {
	leakCheck(t)
	invites := make(chan *sip.Request, 4)
	p := newPeer(t, func(s *sipgo.Server) {
		s.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
			invites <- req
			if headerValue(req, "Session-Expires") == "1800" {
				res := sip.NewResponseFromRequest(req, 422, "Session Interval Too Small", nil)
				res.AppendHeader(sip.NewHeader("Min-SE", "1900"))
				_ = tx.Respond(res)
				return
			}
			res := sip.NewResponseFromRequest(req, 200, "OK", offerSDP())
			res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			res.AppendHeader(sip.NewHeader("Session-Expires", headerValue(req, "Session-Expires")+";refresher=uac"))
			res.AppendHeader(sip.NewHeader("Require", "timer"))
			// The peer's own URI, which the INVITE is addressed to (reading
			// p here would race with its assignment).
			res.AppendHeader(&sip.ContactHeader{Address: req.Recipient})
			_ = tx.Respond(res)
		})
	})
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp"}, SessionExpires: 30 * time.Minute}, h)
	target := p.uri()
	c, err := u.Dial(context.Background(), 0, target.String(), newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	first := recv(t, invites, "INVITE")
	if se, min := headerValue(first, "Session-Expires"), headerValue(first, "Min-SE"); se != "1800" || min != "90" {
		t.Errorf("first INVITE: Session-Expires %q Min-SE %q, want 1800 and 90", se, min)
	}
	second := recv(t, invites, "INVITE after 422")
	if se, min := headerValue(second, "Session-Expires"), headerValue(second, "Min-SE"); se != "1900" || min != "1900" {
		t.Errorf("retried INVITE: Session-Expires %q Min-SE %q, want 1900 and 1900", se, min)
	}
	if second.CSeq().SeqNo <= first.CSeq().SeqNo || second.CallID().Value() != first.CallID().Value() {
		t.Errorf("retry CSeq %d after %d, Call-ID %s vs %s", second.CSeq().SeqNo, first.CSeq().SeqNo, second.CallID().Value(), first.CallID().Value())
	}
	h.waitState(t, CallStateActive)
	c.mu.Lock()
	se, we := c.sessionSE, c.refresher
	c.mu.Unlock()
	if se != 1900*time.Second || !we {
		t.Errorf("call runs with %v, refresher us %v; want 1900 s and us", se, we)
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}

	// Asking for none: no Session-Expires, no Min-SE.
	u.SetSessionExpires(0)
	c, err = u.Dial(context.Background(), 0, target.String(), newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	if inv := recv(t, invites, "INVITE without timer"); headerValue(inv, "Session-Expires") != "" || headerValue(inv, "Min-SE") != "" {
		t.Errorf("INVITE with session timers off carries %q / %q", headerValue(inv, "Session-Expires"), headerValue(inv, "Min-SE"))
	}
	h.waitState(t, CallStateActive)
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
}
