package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func answerWith(m Media) func(*Call) Decision {
	return func(*Call) Decision { return Decision{Action: ActionAnswer, Media: m} }
}

func TestOptionsAnd8_2Answers(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(nil)
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	addr := u.ListenAddr("udp")

	tests := []struct {
		name     string
		req      func() *sip.Request
		code     int
		header   string
		contains string
	}{
		{"options", func() *sip.Request { return p.request(sip.OPTIONS, addr, nil, "") }, 200, "Allow", "INVITE"},
		{"options accept", func() *sip.Request { return p.request(sip.OPTIONS, addr, nil, "") }, 200, "Accept", "application/sdp"},
		{"options supported", func() *sip.Request { return p.request(sip.OPTIONS, addr, nil, "") }, 200, "Supported", "timer"},
		{"unknown method 405", func() *sip.Request { return p.request(sip.MESSAGE, addr, []byte("hi"), "text/plain") }, 405, "Allow", "BYE"},
		{"subscribe 405", func() *sip.Request { return p.request(sip.SUBSCRIBE, addr, nil, "") }, 405, "Allow", "NOTIFY"},
		{"bye unknown dialog 481", func() *sip.Request {
			r := p.request(sip.BYE, addr, nil, "")
			r.To().Params.Add("tag", "nosuch")
			return r
		}, 481, "", ""},
		{"notify unknown dialog 481", func() *sip.Request {
			r := p.request(sip.NOTIFY, addr, nil, "", sip.NewHeader("Event", "talk"))
			r.To().Params.Add("tag", "nosuch")
			return r
		}, 481, "", ""},
		{"require unsupported 420", func() *sip.Request {
			return p.request(sip.INVITE, addr, offerSDP(), "application/sdp", sip.NewHeader("Require", "100rel, foo"))
		}, 420, "Unsupported", "100rel, foo"},
		{"body not sdp 415", func() *sip.Request {
			return p.request(sip.INVITE, addr, []byte("hello"), "text/plain")
		}, 415, "Accept", "application/sdp"},
		{"session interval too small 422", func() *sip.Request {
			return p.request(sip.INVITE, addr, offerSDP(), "application/sdp", sip.NewHeader("Session-Expires", "30"))
		}, 422, "Min-SE", "90"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := p.do(tc.req())
			if res.StatusCode != tc.code {
				t.Fatalf("code = %d, want %d", res.StatusCode, tc.code)
			}
			if tc.header != "" {
				if got := headerValue(res, tc.header); !strings.Contains(got, tc.contains) {
					t.Fatalf("%s = %q, want it to contain %q", tc.header, got, tc.contains)
				}
			}
		})
	}
	select {
	case c := <-h.incoming:
		t.Fatalf("handler saw a call %s from a refused request", c.ID())
	default:
	}
}

func TestIncomingAnswerThenRemoteBye(t *testing.T) {
	leakCheck(t)
	m := newFakeMedia()
	h := newRecHandler(answerWith(m))
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)

	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP(), sip.NewHeader("Call-Info", "<sip:x>;answer-after=3"))
	res := next(t, tx, 200)
	if res.StatusCode != 200 {
		t.Fatalf("INVITE answered %d", res.StatusCode)
	}
	if !strings.Contains(string(res.Body()), "m=audio 40000 RTP/AVP 0") {
		t.Fatalf("200 body is not our SDP: %q", res.Body())
	}
	p.ack(inv, res, nil)
	c := recv(t, h.incoming, "incoming call")
	if d, ok := c.AutoAnswer(); !ok || d != 3*time.Second {
		t.Fatalf("AutoAnswer = %v, %v; want 3s, true", d, ok)
	}
	if pu := p.uri(); c.Remote() != pu.String() || c.RemoteName() != "Peer" {
		t.Fatalf("remote = %q %q", c.Remote(), c.RemoteName())
	}
	h.waitState(t, CallStateActive)

	bye := p.inDialog(sip.BYE, inv, res, inv.CSeq().SeqNo+1, nil, "")
	if r := p.do(bye); r.StatusCode != 200 {
		t.Fatalf("BYE answered %d", r.StatusCode)
	}
	e := h.waitState(t, CallStateEnded)
	if e.reason != "remote hangup" {
		t.Fatalf("ended reason %q", e.reason)
	}
	<-c.Context().Done()
	if cause := context.Cause(c.Context()); !errors.Is(cause, ErrCallEnded) || !strings.Contains(cause.Error(), "remote hangup") {
		t.Fatalf("cause = %v", cause)
	}
	if _, offers, _, closed := m.snapshot(); offers != 1 || closed != 1 {
		t.Fatalf("media offers=%d closed=%d, want 1 and 1", offers, closed)
	}
}

func TestIncomingReject(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(func(*Call) Decision {
		return Decision{Action: ActionReject, Code: 486, Reason: "headset not available"}
	})
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	_, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	res := next(t, tx, 200)
	if res.StatusCode != 486 {
		t.Fatalf("code %d, want 486", res.StatusCode)
	}
	if got := headerValue(res, "Reason"); got != `SIP;cause=486;text="headset not available"` {
		t.Fatalf("Reason = %q", got)
	}
	if got := headerValue(res, "Warning"); !strings.HasPrefix(got, "399 ") || !strings.Contains(got, "headset not available") {
		t.Fatalf("Warning = %q", got)
	}
	e := h.waitState(t, CallStateEnded)
	if !strings.Contains(e.reason, "486") {
		t.Fatalf("reason %q", e.reason)
	}
}

func TestIncomingNotAcceptable(t *testing.T) {
	leakCheck(t)
	m := newFakeMedia()
	m.answerErr = fmt.Errorf("no common codec: %w", ErrNotAcceptable)
	h := newRecHandler(answerWith(m))
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	_, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	if res := next(t, tx, 200); res.StatusCode != 488 {
		t.Fatalf("code %d, want 488", res.StatusCode)
	}
	h.waitState(t, CallStateEnded)
}

func TestRingThenCancel(t *testing.T) {
	leakCheck(t)
	m := newFakeMedia()
	h := newRecHandler(func(*Call) Decision { return Decision{Action: ActionRing, Media: m} })
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	ring := next(t, tx, 180)
	if ring.StatusCode != 180 || headerValue(ring, "Allow-Events") != "talk, hold" {
		t.Fatalf("ringing = %d, Allow-Events %q", ring.StatusCode, headerValue(ring, "Allow-Events"))
	}
	c := recv(t, h.incoming, "incoming call")
	h.waitState(t, CallStateRinging)

	cancel := sip.NewRequest(sip.CANCEL, inv.Recipient)
	cancel.AppendHeader(inv.Via().Clone())
	cancel.AppendHeader(sip.HeaderClone(inv.From()))
	cancel.AppendHeader(sip.HeaderClone(inv.To()))
	cancel.AppendHeader(sip.HeaderClone(inv.CallID()))
	cancel.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	cancel.SetTransport("UDP")
	cancel.SetDestination(inv.Destination())
	ctx, stop := context.WithTimeout(context.Background(), waitTimeout)
	defer stop()
	cres, err := p.client.Do(ctx, cancel)
	if err != nil || cres.StatusCode != 200 {
		t.Fatalf("CANCEL: %v %v", cres, err)
	}
	if res := next(t, tx, 200); res.StatusCode != 487 {
		t.Fatalf("INVITE answered %d after CANCEL, want 487", res.StatusCode)
	}
	e := h.waitState(t, CallStateEnded)
	if e.reason != "cancelled" {
		t.Fatalf("reason %q", e.reason)
	}
	if err := c.Answer(nil); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("Answer after cancel = %v", err)
	}
}

func TestRingNotifyTalkThenAnswer(t *testing.T) {
	leakCheck(t)
	m := newFakeMedia()
	h := newRecHandler(func(*Call) Decision { return Decision{Action: ActionRing, Media: m} })
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	ring := next(t, tx, 180)
	c := recv(t, h.incoming, "incoming call")

	notify := p.inDialog(sip.NOTIFY, inv, ring, inv.CSeq().SeqNo+1, nil, "", sip.NewHeader("Event", "talk"))
	nres := p.do(notify)
	if nres.StatusCode != 200 || len(nres.Body()) != 0 {
		t.Fatalf("NOTIFY answered %d with body %q", nres.StatusCode, nres.Body())
	}
	ev := recv(t, h.remote, "remote control")
	if ev.ev != RemoteTalk || ev.call != c {
		t.Fatalf("remote control %v for %p", ev.ev, ev.call)
	}
	if err := c.Answer(nil); err != nil {
		t.Fatal(err)
	}
	res := next(t, tx, 200)
	if res.StatusCode != 200 {
		t.Fatalf("answered %d", res.StatusCode)
	}
	p.ack(inv, res, nil)
	h.waitState(t, CallStateActive)
	if err := c.Answer(nil); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("second Answer = %v", err)
	}
	// Remote hold via re-INVITE sendonly, then our hangup.
	hold := p.inDialog(sip.INVITE, inv, res, inv.CSeq().SeqNo+2, newFakeMedia().sdp(SendOnly), "application/sdp")
	rtx, err := p.client.TransactionRequest(context.Background(), hold)
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Terminate()
	hres := next(t, rtx, 200)
	if hres.StatusCode != 200 || !strings.Contains(string(hres.Body()), "a=recvonly") {
		t.Fatalf("re-INVITE answered %d %q", hres.StatusCode, hres.Body())
	}
	p.ack(hold, hres, nil)
	if e := h.waitState(t, CallStateHeld); e.reason != "remote hold" {
		t.Fatalf("held reason %q", e.reason)
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	p.waitReq(t, sip.BYE)
	h.waitState(t, CallStateEnded)
}

func TestLateOffer(t *testing.T) {
	leakCheck(t)
	m := newFakeMedia()
	h := newRecHandler(answerWith(m))
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	inv, tx := p.invite(u.ListenAddr("udp"), nil)
	res := next(t, tx, 200)
	if res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=sendrecv") {
		t.Fatalf("late-offer 200: %d %q", res.StatusCode, res.Body())
	}
	p.ack(inv, res, offerSDP())
	h.waitState(t, CallStateActive)
	recv(t, m.answered, "the ACK's SDP at Media.SetAnswer")
	if _, _, answers, _ := m.snapshot(); answers != 1 {
		t.Fatalf("SetAnswer called %d times", answers)
	}
}

func TestInfoDTMFAndRefer(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(answerWith(newFakeMedia()))
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	res := next(t, tx, 200)
	p.ack(inv, res, nil)
	c := recv(t, h.incoming, "call")
	h.waitState(t, CallStateActive)

	seq := inv.CSeq().SeqNo
	for _, tc := range []struct {
		ctype, body, want string
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"},
		{"application/dtmf", "#", "#"},
	} {
		seq++
		r := p.do(p.inDialog(sip.INFO, inv, res, seq, []byte(tc.body), tc.ctype))
		if r.StatusCode != 200 {
			t.Fatalf("INFO %s answered %d", tc.ctype, r.StatusCode)
		}
		if got := recv(t, h.dtmf, "dtmf"); got != tc.want {
			t.Fatalf("dtmf %q, want %q", got, tc.want)
		}
	}
	seq++
	refer := p.inDialog(sip.REFER, inv, res, seq, nil, "", sip.NewHeader("Refer-To", "<sip:carol@127.0.0.1>"))
	if r := p.do(refer); r.StatusCode != 202 {
		t.Fatalf("REFER answered %d", r.StatusCode)
	}
	if got := recv(t, h.transfers, "transfer"); got != "sip:carol@127.0.0.1" {
		t.Fatalf("transfer target %q", got)
	}
	// RFC 3515 §2.4.4: 100 Trying at once, the outcome when reported.
	if n := p.waitReq(t, sip.NOTIFY); !strings.HasPrefix(string(n.Body()), "SIP/2.0 100") {
		t.Fatalf("first refer NOTIFY body %q", n.Body())
	}
	if err := c.ReferProgress(200, ""); err != nil {
		t.Fatal(err)
	}
	if n := p.waitReq(t, sip.NOTIFY); !strings.HasPrefix(string(n.Body()), "SIP/2.0 200") {
		t.Fatalf("final refer NOTIFY body %q", n.Body())
	}
	// We send DTMF too.
	if err := c.SendDTMF("1*"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Signal=1", "Signal=*"} {
		info := p.waitReq(t, sip.INFO)
		if !strings.Contains(string(info.Body()), want) {
			t.Fatalf("INFO body %q, want %q", info.Body(), want)
		}
	}
}

func TestDialAnsweredHoldResumeHangup(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(nil)
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	m := newFakeMedia()
	c, err := u.Dial(context.Background(), 0, "sip:peer@"+p.addr, m)
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(t, CallStateActive)
	p.waitReq(t, sip.INVITE)
	p.waitReq(t, sip.ACK)
	if _, _, answers, _ := m.snapshot(); answers != 1 {
		t.Fatalf("SetAnswer called %d times, want 1", answers)
	}
	if err := c.Hold(); err != nil {
		t.Fatal(err)
	}
	reinv := p.waitReq(t, sip.INVITE)
	if !strings.Contains(string(reinv.Body()), "a=sendonly") {
		t.Fatalf("hold offer %q", reinv.Body())
	}
	if c.State() != CallStateHeld {
		t.Fatalf("state %s after Hold", c.State())
	}
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if reinv := p.waitReq(t, sip.INVITE); !strings.Contains(string(reinv.Body()), "a=sendrecv") {
		t.Fatalf("resume offer %q", reinv.Body())
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	p.waitReq(t, sip.BYE)
	if e := h.waitState(t, CallStateEnded); e.reason != "local hangup" {
		t.Fatalf("reason %q", e.reason)
	}
}

func TestDialRejected(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(nil)
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	p.setAnswer(func(*sip.Request) int { return 486 })
	c, err := u.Dial(context.Background(), 0, "sip:peer@"+p.addr, newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	e := h.waitState(t, CallStateEnded)
	if e.reason != "486 Busy Here" {
		t.Fatalf("reason %q", e.reason)
	}
	if !strings.Contains(context.Cause(c.Context()).Error(), "486") {
		t.Fatalf("cause %v", context.Cause(c.Context()))
	}
}

func TestDialErrors(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp"}, Accounts: []Account{{ID: 1, User: "a", Server: "127.0.0.1:9"}}}, h)
	tests := []struct {
		name    string
		account int
		target  string
		wantErr error
	}{
		{"unknown account", 7, "sip:x@127.0.0.1", ErrUnknownAccount},
		{"empty target", 1, "", ErrInvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := u.Dial(context.Background(), tc.account, tc.target, newFakeMedia())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestStandaloneRegistration(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp", "tcp"}, Accounts: []Account{{ID: 3, User: "a", Server: "127.0.0.1"}}}, h)
	r := h.waitReg(t, RegStandalone, waitTimeout)
	if r.Account != 3 {
		t.Fatalf("registration %+v", r)
	}
	regs := u.Registrations()
	if len(regs) != 1 || regs[0].State != RegStandalone {
		t.Fatalf("Registrations() = %+v", regs)
	}
	if got := u.ListenAddrs(); len(got) != 2 || !strings.HasPrefix(got[0], "udp/127.0.0.1:") || !strings.HasPrefix(got[1], "tcp/127.0.0.1:") {
		t.Fatalf("ListenAddrs = %v", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	h := newRecHandler(nil)
	tests := []struct {
		name    string
		o       Options
		wantErr bool
	}{
		{"defaults", Options{}, false},
		{"bad transport", Options{Transports: []string{"sctp"}}, true},
		{"tls without cert", Options{Transports: []string{"tls"}}, true},
		{"bad port", Options{Port: 70000}, true},
		{"duplicate account", Options{Accounts: []Account{{ID: 1}, {ID: 1}}}, true},
		{"bad protocol", Options{Accounts: []Account{{ID: 1, Protocol: "sctp"}}}, true},
		{"bad ws path", Options{Accounts: []Account{{ID: 1, Protocol: "wss", WSPath: "sip"}}}, true},
		{"register without server", Options{Accounts: []Account{{ID: 1, User: "a", RegTimeout: time.Minute}}}, true},
		{"bad dscp", Options{Accounts: []Account{{ID: 1, DSCP: 64}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o, h)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err %v does not wrap ErrInvalidOptions", err)
			}
		})
	}
}

func TestListenAllInterfacesNoAccounts(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(nil)
	u, err := New(Options{}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := u.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	addrs := u.ListenAddrs()
	if len(addrs) != 2 || !strings.HasPrefix(addrs[0], "udp/") || !strings.HasPrefix(addrs[1], "tcp/") {
		t.Fatalf("ListenAddrs = %v", addrs)
	}
	if r := h.waitReg(t, RegStandalone, waitTimeout); r.Detail != "no account configured" {
		t.Fatalf("standalone detail %q", r.Detail)
	}
	if u.host == "" || u.host == "0.0.0.0" || u.host == "::" {
		t.Fatalf("advertised host %q", u.host)
	}
	// A request to any user at our address is answered.
	p := newPeer(t)
	_, port, _ := strings.Cut(u.ListenAddr("udp"), "]:")
	if port == "" {
		_, port, _ = strings.Cut(u.ListenAddr("udp"), ":")
	}
	if res := p.do(p.request(sip.OPTIONS, "127.0.0.1:"+port, nil, "")); res.StatusCode != 200 {
		t.Fatalf("OPTIONS %d", res.StatusCode)
	}
}
