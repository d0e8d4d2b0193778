package sip

import (
	"context"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// notifyToUs builds a NOTIFY from the peer (the callee of our INVITE) in
// the call's dialog.
func notifyToUs(c *Call, p *peer, u *UA, seq uint32, event, ctype string, body []byte) *sip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	host, port, _ := sip.ParseAddr(u.ListenAddr("udp"))
	req := sip.NewRequest(sip.NOTIFY, sip.Uri{Scheme: "sip", User: "softphone", Host: host, Port: port})
	from := &sip.FromHeader{Address: c.remoteURI, Params: sip.NewParams()}
	from.Params.Add("tag", c.remoteTag)
	to := &sip.ToHeader{Address: c.localURI, Params: sip.NewParams()}
	to.Params.Add("tag", c.localTag)
	cid := sip.CallIDHeader(c.id)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.NOTIFY})
	req.AppendHeader(&sip.ContactHeader{Address: p.uri()})
	req.AppendHeader(sip.NewHeader("Event", event))
	if ctype != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	}
	req.SetBody(body)
	req.SetTransport("UDP")
	return req
}

func TestTransferOutAndNotifyEvents(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	c, err := u.Dial(context.Background(), 0, "sip:peer@"+p.addr, newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(t, CallStateActive)

	// Remote control and unknown events inside the confirmed dialog.
	for i, tc := range []struct {
		event string
		code  int
		want  RemoteEvent
	}{
		{"hold", 200, RemoteHold},
		{"talk", 200, RemoteTalk},
		{"presence", 489, RemoteUnknown},
	} {
		res := p.do(notifyToUs(c, p, u, uint32(10+i), tc.event, "", nil))
		if res.StatusCode != tc.code {
			t.Fatalf("NOTIFY %s answered %d, want %d", tc.event, res.StatusCode, tc.code)
		}
		if tc.want != RemoteUnknown {
			if ev := recv(t, h.remote, "remote event"); ev.ev != tc.want {
				t.Fatalf("event %s, want %s", ev.ev, tc.want)
			}
		}
	}

	done := make(chan error, 1)
	go func() { done <- c.Transfer("sip:carol@127.0.0.1") }()
	refer := p.waitReq(t, sip.REFER)
	if rt := headerValue(refer, "Refer-To"); !strings.Contains(rt, "sip:carol@127.0.0.1") {
		t.Fatalf("Refer-To %q", rt)
	}
	for i, frag := range []string{"SIP/2.0 100 Trying\r\n", "SIP/2.0 200 OK\r\n"} {
		res := p.do(notifyToUs(c, p, u, uint32(20+i), "refer", "message/sipfrag;version=2.0", []byte(frag)))
		if res.StatusCode != 200 {
			t.Fatalf("NOTIFY sipfrag answered %d", res.StatusCode)
		}
	}
	if err := recv(t, done, "transfer result"); err != nil {
		t.Fatal(err)
	}
	p.waitReq(t, sip.BYE)
	if e := h.waitState(t, CallStateEnded); e.reason != "transferred" {
		t.Fatalf("reason %q", e.reason)
	}
}

func TestCloseHangsUpCalls(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	h := newRecHandler(func(c *Call) Decision { return Decision{Action: ActionRing, Media: newFakeMedia()} })
	u, err := New(Options{Host: "127.0.0.1", Transports: []string{"udp"}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// One established outgoing call and one ringing incoming call.
	if _, err := u.Dial(context.Background(), 0, "sip:peer@"+p.addr, newFakeMedia()); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, CallStateActive)
	_, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	next(t, tx, 180)
	in := recv(t, h.incoming, "incoming")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := u.Close(ctx); err != nil {
		t.Fatal(err)
	}
	p.waitReq(t, sip.BYE)
	if res := next(t, tx, 200); res.StatusCode != 480 {
		t.Fatalf("ringing call got %d at Close, want 480", res.StatusCode)
	}
	<-in.Context().Done()
	if _, err := u.Dial(context.Background(), 0, "sip:peer@"+p.addr, newFakeMedia()); err != ErrClosed {
		t.Fatalf("Dial after Close = %v", err)
	}
	if err := u.Close(ctx); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}
