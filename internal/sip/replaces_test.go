package sip

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestParseReplaces(t *testing.T) {
	for _, tt := range []struct {
		in    string
		want  replacesRef
		isErr bool
	}{
		{"abc@h;to-tag=1;from-tag=2", replacesRef{callID: "abc@h", toTag: "1", fromTag: "2"}, false},
		{" abc ; from-tag = 2 ; to-tag=1 ;early-only", replacesRef{callID: "abc", toTag: "1", fromTag: "2", earlyOnly: true}, false},
		{"abc;TO-TAG=1;From-Tag=2;x=y", replacesRef{callID: "abc", toTag: "1", fromTag: "2"}, false},
		{"abc;to-tag=1", replacesRef{}, true},
		{"abc;from-tag=2", replacesRef{}, true},
		{";to-tag=1;from-tag=2", replacesRef{}, true},
		{"abc;to-tag=1;to-tag=3;from-tag=2", replacesRef{}, true},
	} {
		got, err := parseReplaces(tt.in)
		if (err != nil) != tt.isErr || (!tt.isErr && got != tt.want) {
			t.Errorf("parseReplaces(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.isErr)
		}
	}
}

func TestURIHeaders(t *testing.T) {
	var u sip.Uri
	if err := sip.ParseUri("sip:bob@127.0.0.1:5090;transport=udp?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2&From=sip%3Aevil%40x&Route=%3Csip%3Ax%3E", &u); err != nil {
		t.Fatal(err)
	}
	keep, dropped := uriHeaders(&u)
	if len(keep) != 1 || keep[0].Name() != "Replaces" || keep[0].Value() != "abc@h;to-tag=1;from-tag=2" {
		t.Errorf("kept %v", keep)
	}
	if strings.Join(dropped, ",") != "From,Route" {
		t.Errorf("dropped %v", dropped)
	}
	if got := u.String(); got != "sip:bob@127.0.0.1:5090;transport=udp" {
		t.Errorf("uri after: %q", got)
	}
}

// replacesOf is the Replaces value naming the dialog of rc as the UA sees
// it: to-tag is the UA's tag, from-tag the peer's.
func replacesOf(rc *referCall, params string) string {
	ours, _ := rc.res.To().Params.Get("tag")
	theirs, _ := rc.inv.From().Params.Get("tag")
	return fmt.Sprintf("%s;to-tag=%s;from-tag=%s%s", rc.inv.CallID().Value(), ours, theirs, params)
}

// TestReplacesIncoming: an INVITE from another party that names the
// peer's confirmed call with the UA (an attended transfer completing
// towards the UA) is handed to the Handler with the call it replaces; once
// answered and acknowledged the old dialog gets a BYE. The refusals of RFC
// 3891 §3 leave the call alone.
func TestReplacesIncoming(t *testing.T) {
	leakCheck(t)
	rc := startReferCall(t, Options{})
	other := newPeer(t)
	addr := rc.u.ListenAddr("udp")

	for _, tt := range []struct {
		name string
		hdrs []sip.Header
		code int
	}{
		{"no such call-id", []sip.Header{sip.NewHeader("Replaces", "nope;to-tag=1;from-tag=2")}, 481},
		{"the remote tag does not match", []sip.Header{sip.NewHeader("Replaces", strings.Replace(replacesOf(rc, ""), "from-tag=", "from-tag=x", 1))}, 481},
		{"early-only on a confirmed dialog", []sip.Header{sip.NewHeader("Replaces", replacesOf(rc, ";early-only"))}, 486},
		{"two headers", []sip.Header{sip.NewHeader("Replaces", replacesOf(rc, "")), sip.NewHeader("Replaces", replacesOf(rc, ""))}, 400},
		{"no tags", []sip.Header{sip.NewHeader("Replaces", rc.inv.CallID().Value())}, 400},
	} {
		_, tx := other.invite(addr, offerSDP(), tt.hdrs...)
		if res := next(t, tx, 200); res.StatusCode != tt.code {
			t.Errorf("%s: answered %d, want %d", tt.name, res.StatusCode, tt.code)
		}
	}
	select {
	case c := <-rc.h.incoming:
		t.Fatalf("a refused INVITE reached the handler: %s", c.ID())
	default:
	}
	if st := rc.c.State(); st != CallStateActive {
		t.Fatalf("call %s after the refusals", st)
	}

	// The real one, with Require: replaces (we support it: no 420).
	inv, tx := other.invite(addr, offerSDP(), sip.NewHeader("Replaces", replacesOf(rc, "")), sip.NewHeader("Require", "replaces"))
	res := next(t, tx, 180)
	if res.StatusCode != 200 {
		t.Fatalf("replacing INVITE answered %d, want 200 at once", res.StatusCode)
	}
	c := recv(t, rc.h.incoming, "replacing call")
	if c.Replaces() != rc.c {
		t.Fatalf("Replaces() = %v, want the peer's call", c.Replaces())
	}
	other.ack(inv, res, nil)
	bye := rc.p.waitReq(t, sip.BYE)
	if bye.CallID().Value() != rc.inv.CallID().Value() {
		t.Errorf("BYE for %s, want the replaced call", bye.CallID().Value())
	}
	ev := recvMatch(t, rc.h.states, waitTimeout, "replaced call ended", func(e stateEvent) bool {
		return e.call == rc.c && e.state == CallStateEnded
	})
	if ev.reason != "replaced by call "+c.ID() {
		t.Errorf("old call ended with %q", ev.reason)
	}
	if st := c.State(); st != CallStateActive {
		t.Errorf("new call %s", st)
	}
	// The replaced dialog is gone: naming it again gets 481.
	_, tx = other.invite(addr, offerSDP(), sip.NewHeader("Replaces", replacesOf(rc, "")))
	if res := next(t, tx, 200); res.StatusCode != 481 {
		t.Errorf("INVITE replacing an ended call answered %d, want 481", res.StatusCode)
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
}

// TestReplacesRingingCall: a call ringing at the UA is an early dialog the
// UA did not start: it cannot be replaced (481) and keeps ringing.
func TestReplacesRingingCall(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(func(*Call) Decision { return Decision{Action: ActionRing} })
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	ring := next(t, tx, 180)
	c := recv(t, h.incoming, "ringing call")
	ours, _ := ring.To().Params.Get("tag")
	theirs, _ := inv.From().Params.Get("tag")
	other := newPeer(t)
	_, tx2 := other.invite(u.ListenAddr("udp"), offerSDP(), sip.NewHeader("Replaces", fmt.Sprintf("%s;to-tag=%s;from-tag=%s", inv.CallID().Value(), ours, theirs)))
	if res := next(t, tx2, 200); res.StatusCode != 481 {
		t.Errorf("replacing a ringing call answered %d, want 481", res.StatusCode)
	}
	if st := c.State(); st != CallStateRinging {
		t.Errorf("ringing call %s after the refusal", st)
	}
	if err := c.Reject(486, "test over"); err != nil {
		t.Fatal(err)
	}
	next(t, tx, 400)
}

// TestDialTransferCarriesReplaces: a REFER whose Refer-To carries
// Replaces (an attended transfer asked of the UA) is reported with the
// bare URI; the INVITE DialTransfer sends has Replaces and Referred-By as
// headers and nothing after the Request-URI's parameters.
func TestDialTransferCarriesReplaces(t *testing.T) {
	leakCheck(t)
	rc := startReferCall(t, Options{})
	target := newPeer(t)
	turi := target.uri()
	referTo := fmt.Sprintf("<sip:carol@%s:%d?Replaces=c1%%40x%%3Bto-tag%%3Dt1%%3Bfrom-tag%%3Df1&Call-ID=evil>", turi.Host, turi.Port)
	res, _ := rc.refer(t, sip.NewHeader("Refer-To", referTo), sip.NewHeader("Referred-By", "<sip:transferor@example.com>"))
	if res.StatusCode != 202 {
		t.Fatalf("REFER answered %d", res.StatusCode)
	}
	want := fmt.Sprintf("sip:carol@%s:%d", turi.Host, turi.Port)
	if got := recv(t, rc.h.transfers, "transfer"); got != want {
		t.Fatalf("transfer target %q, want %q", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	nc, err := rc.u.DialTransfer(ctx, rc.c, newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	inv := target.waitReq(t, sip.INVITE)
	if got := inv.Recipient.String(); got != want {
		t.Errorf("Request-URI %q, want %q", got, want)
	}
	if got := headerValue(inv, "Replaces"); got != "c1@x;to-tag=t1;from-tag=f1" {
		t.Errorf("Replaces %q", got)
	}
	if got := headerValue(inv, "Referred-By"); got != "<sip:transferor@example.com>" {
		t.Errorf("Referred-By %q", got)
	}
	if inv.CallID().Value() == "evil" || inv.CallID().Value() != nc.ID() {
		t.Errorf("Call-ID %q, want the new call's own", inv.CallID().Value())
	}
	rc.h.waitState(t, CallStateActive)
	if err := nc.Hangup(); err != nil {
		t.Fatal(err)
	}
	// A call without a REFER cannot be dialled for one.
	if _, err := rc.u.DialTransfer(ctx, nc, newFakeMedia()); err == nil {
		t.Error("DialTransfer without a REFER succeeded")
	}
}

// TestReplacesURIHeaderRoundTrip: a Replaces value escaped as
// TransferReplacing writes it into a Refer-To comes back whole through
// the URI parser and uriHeaders.
func TestReplacesURIHeaderRoundTrip(t *testing.T) {
	const v = "a84b4c76e66710@pc33.example.com;to-tag=8321234356;from-tag=9fxced76sl"
	esc := url.QueryEscape(v)
	if strings.ContainsAny(esc, ";=@&") {
		t.Errorf("escaped %q still holds a delimiter", esc)
	}
	var u sip.Uri
	if err := sip.ParseUri("sip:bob@example.com?Replaces="+esc, &u); err != nil {
		t.Fatal(err)
	}
	keep, _ := uriHeaders(&u)
	if len(keep) != 1 || keep[0].Value() != v {
		t.Errorf("round trip: %v, want %q", keep, v)
	}
}

func TestTransferReplacingNeedsTwoCallsUp(t *testing.T) {
	u, err := New(Options{}, newRecHandler(nil))
	if err != nil {
		t.Fatal(err)
	}
	up, ringing := u.newCall(Incoming), u.newCall(Incoming)
	up.state, ringing.state = CallStateActive, CallStateRinging
	for name, tc := range map[string][2]*Call{"nil": {up, nil}, "itself": {up, up}, "other ringing": {up, ringing}, "this ringing": {ringing, up}} {
		if err := tc[0].TransferReplacing(tc[1]); err != ErrInvalidState {
			t.Errorf("%s: %v, want ErrInvalidState", name, err)
		}
	}
}

// TestReplacesOurEarlyDialog: an INVITE naming our own outgoing call
// while it rings (call pickup, RFC 3891 §7.1) is taken, and the ringing
// call is cancelled once the new one is confirmed.
func TestReplacesOurEarlyDialog(t *testing.T) {
	leakCheck(t)
	callee := newPeer(t)
	callee.setAnswer(func(*sip.Request) int { return 180 }) // rings until cancelled
	h := newRecHandler(answerWith(newFakeMedia()))
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	target := callee.uri()
	out, err := u.Dial(context.Background(), 0, target.String(), newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	inv := callee.waitReq(t, sip.INVITE)
	h.waitState(t, CallStateEarly)
	out.mu.Lock()
	theirs := out.remoteTag
	out.mu.Unlock()
	ours, _ := inv.From().Params.Get("tag")

	picker := newPeer(t)
	pinv, tx := picker.invite(u.ListenAddr("udp"), offerSDP(), sip.NewHeader("Replaces", fmt.Sprintf("%s;to-tag=%s;from-tag=%s", inv.CallID().Value(), ours, theirs)))
	res := next(t, tx, 180)
	if res.StatusCode != 200 {
		t.Fatalf("pickup INVITE answered %d, want 200", res.StatusCode)
	}
	nc := recv(t, h.incoming, "pickup call")
	if nc.Replaces() != out {
		t.Fatalf("Replaces() = %v, want our ringing call", nc.Replaces())
	}
	picker.ack(pinv, res, nil)
	// The CANCEL is answered by the callee's transaction layer: the 487
	// to the INVITE shows it went out.
	ev := recvMatch(t, h.states, waitTimeout, "ringing call ended", func(e stateEvent) bool {
		return e.call == out && e.state == CallStateEnded
	})
	if code, _ := out.LastResponse(); code != 487 || ev.reason != "replaced by call "+nc.ID() {
		t.Errorf("ringing call ended with %q after %d, want the 487 to our CANCEL and the call that replaced it", ev.reason, code)
	}
	if err := nc.Hangup(); err != nil {
		t.Fatal(err)
	}
}
