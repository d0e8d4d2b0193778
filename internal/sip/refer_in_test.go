package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/softphone/softphone/internal/testbed"
)

// referCall is an answered call from the peer (the transferor) to the UA.
type referCall struct {
	p   *peer
	h   *recHandler
	u   *UA
	c   *Call
	inv *sip.Request
	res *sip.Response
	seq uint32
}

func startReferCall(t *testing.T, o Options, extra ...func(s *sipgo.Server)) *referCall {
	t.Helper()
	h := newRecHandler(answerWith(newFakeMedia()))
	p := newPeer(t, extra...)
	o.Transports = []string{"udp"}
	u := startUA(t, o, h)
	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	res := next(t, tx, 200)
	p.ack(inv, res, nil)
	c := recv(t, h.incoming, "call")
	h.waitState(t, CallStateActive)
	return &referCall{p: p, h: h, u: u, c: c, inv: inv, res: res, seq: inv.CSeq().SeqNo}
}

// refer sends a REFER in the dialog and returns the response and its CSeq.
func (rc *referCall) refer(t *testing.T, hdrs ...sip.Header) (*sip.Response, uint32) {
	t.Helper()
	rc.seq++
	return rc.p.do(rc.p.inDialog(sip.REFER, rc.inv, rc.res, rc.seq, nil, "", hdrs...)), rc.seq
}

// notify is a NOTIFY of the refer subscription as the transferor reads it.
type notify struct {
	code     int
	reason   string
	state    string // Subscription-State
	event    string
	ctype    string
	body     string
	dialogOK bool // From/To/Call-ID are the dialog's
}

func (rc *referCall) waitNotify(t *testing.T) notify {
	t.Helper()
	req := rc.p.waitReq(t, sip.NOTIFY)
	n := notify{
		state: headerValue(req, "Subscription-State"),
		event: headerValue(req, "Event"),
		ctype: headerValue(req, "Content-Type"),
		body:  string(req.Body()),
	}
	code, err := sipfragStatus(req.Body())
	if err != nil {
		t.Fatalf("NOTIFY body %q: %v", req.Body(), err)
	}
	n.code = code
	if f := strings.Fields(strings.SplitN(n.body, "\r\n", 2)[0]); len(f) > 2 {
		n.reason = strings.Join(f[2:], " ")
	}
	ftag, _ := req.From().Params.Get("tag")
	ttag, _ := req.To().Params.Get("tag")
	itag, _ := rc.inv.From().Params.Get("tag")
	rtag, _ := rc.res.To().Params.Get("tag")
	n.dialogOK = req.CallID().Value() == rc.inv.CallID().Value() && ftag == rtag && ttag == itag
	return n
}

// nextIsInfo sends DTMF from the UA and checks that the next request the
// peer sees is that INFO: no NOTIFY was sent in between.
func (rc *referCall) nextIsInfo(t *testing.T) {
	t.Helper()
	if err := rc.c.SendDTMF("5"); err != nil {
		t.Fatal(err)
	}
	req := recv(t, rc.p.reqs, "request at the peer")
	if req.Method != sip.INFO {
		t.Fatalf("peer got %s %q, want only the INFO", req.Method, req.Body())
	}
}

func TestReferInNotifySequence(t *testing.T) {
	leakCheck(t)
	rc := startReferCall(t, Options{})
	res, seq := rc.refer(t, sip.NewHeader("Refer-To", "<sip:carol@127.0.0.1>"))
	if res.StatusCode != 202 || headerValue(res, "Refer-Sub") != "" {
		t.Fatalf("REFER answered %d Refer-Sub %q, want 202 without", res.StatusCode, headerValue(res, "Refer-Sub"))
	}
	if got := recv(t, rc.h.transfers, "transfer"); got != "sip:carol@127.0.0.1" {
		t.Fatalf("transfer target %q", got)
	}
	event := fmt.Sprintf("refer;id=%d", seq)
	want := []struct {
		report      int
		code        int
		reason      string
		statePrefix string
	}{
		{0, 100, "Trying", "active;expires=180"},
		{180, 180, "Ringing", "active;expires="},
		{200, 200, "OK", "terminated;reason=noresource"},
	}
	for _, w := range want {
		if w.report != 0 {
			if err := rc.c.ReferProgress(w.report, ""); err != nil {
				t.Fatalf("ReferProgress(%d): %v", w.report, err)
			}
		}
		n := rc.waitNotify(t)
		if n.code != w.code || n.reason != w.reason || !strings.HasPrefix(n.state, w.statePrefix) ||
			n.event != event || n.ctype != "message/sipfrag;version=2.0" || !n.dialogOK {
			t.Fatalf("NOTIFY %+v, want %d %s, state %s…, event %s", n, w.code, w.reason, w.statePrefix, event)
		}
		if w.code == 180 {
			// Still in progress: a second REFER is refused (RFC 3261 §21.4.27).
			if res, _ := rc.refer(t, sip.NewHeader("Refer-To", "<sip:dave@127.0.0.1>")); res.StatusCode != 491 {
				t.Fatalf("REFER during a transfer answered %d, want 491", res.StatusCode)
			}
		}
	}
	// A second final status is dropped: no NOTIFY follows.
	if err := rc.c.ReferProgress(486, ""); !errors.Is(err, ErrNoSubscription) {
		t.Fatalf("second final = %v, want ErrNoSubscription", err)
	}
	rc.nextIsInfo(t)
	if st := rc.c.State(); st != CallStateActive {
		t.Fatalf("call %s after the transfer's NOTIFYs, want active (the transferor ends it)", st)
	}
	select {
	case target := <-rc.h.transfers:
		t.Fatalf("the refused REFER reached the handler: %s", target)
	default:
	}

	// Once the first is over, a new REFER is accepted with its own id;
	// a failure is reported with its code and the caller's reason.
	res, seq = rc.refer(t, sip.NewHeader("Refer-To", "<sip:dave@127.0.0.1>"))
	if res.StatusCode != 202 {
		t.Fatalf("second REFER answered %d", res.StatusCode)
	}
	recv(t, rc.h.transfers, "second transfer")
	if n := rc.waitNotify(t); n.code != 100 || n.event != fmt.Sprintf("refer;id=%d", seq) {
		t.Fatalf("second subscription's first NOTIFY %+v", n)
	}
	if err := rc.c.ReferProgress(486, "Busy Here\r\nX: y"); err != nil {
		t.Fatal(err)
	}
	// The reason cannot break the sipfrag into more lines.
	if n := rc.waitNotify(t); n.code != 486 || n.reason != "Busy Here X: y" || strings.Count(n.body, "\r\n") != 1 ||
		n.state != "terminated;reason=noresource" {
		t.Fatalf("failure NOTIFY %+v", n)
	}
}

func TestReferProgressCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refer   bool
		code    int
		wantErr error
	}{
		{"no refer received", false, 200, ErrNoSubscription},
		{"below 100", true, 99, ErrInvalidStatus},
		{"above 699", true, 700, ErrInvalidStatus},
		{"100 is accepted and ignored", true, 100, nil},
		{"ringing", true, 180, nil},
		{"final", true, 603, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := New(Options{}, newRecHandler(nil))
			if err != nil {
				t.Fatal(err)
			}
			c := u.newCall(Incoming)
			if tc.refer {
				c.refer = &referSub{wake: make(chan struct{}, 1)}
			}
			err = c.ReferProgress(tc.code, "")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("ReferProgress(%d) = %v, want %v", tc.code, err, tc.wantErr)
			}
			if tc.refer && tc.wantErr == nil && tc.code > 100 {
				if len(c.refer.queue) != 1 || c.refer.queue[0].code != tc.code || c.refer.final != (tc.code >= 200) {
					t.Fatalf("queue %+v final %v", c.refer.queue, c.refer.final)
				}
			}
		})
	}
}

func TestReferInReferSubFalse(t *testing.T) {
	leakCheck(t)
	rc := startReferCall(t, Options{})
	res, _ := rc.refer(t, sip.NewHeader("Refer-To", "<sip:carol@127.0.0.1>"), sip.NewHeader("Refer-Sub", "false"))
	if res.StatusCode != 202 || headerValue(res, "Refer-Sub") != "false" {
		t.Fatalf("REFER answered %d Refer-Sub %q, want 202 with false", res.StatusCode, headerValue(res, "Refer-Sub"))
	}
	recv(t, rc.h.transfers, "transfer")
	// The transfer is tracked (a second REFER waits for its outcome) but
	// nothing is sent.
	if res, _ := rc.refer(t, sip.NewHeader("Refer-To", "<sip:dave@127.0.0.1>")); res.StatusCode != 491 {
		t.Fatalf("REFER during a silent transfer answered %d, want 491", res.StatusCode)
	}
	if err := rc.c.ReferProgress(180, ""); err != nil {
		t.Fatal(err)
	}
	if err := rc.c.ReferProgress(200, ""); err != nil {
		t.Fatal(err)
	}
	rc.nextIsInfo(t)
}

func TestReferInGuardTimer(t *testing.T) {
	leakCheck(t)
	rc := startReferCall(t, Options{ReferTimeout: 300 * time.Millisecond})
	if res, _ := rc.refer(t, sip.NewHeader("Refer-To", "<sip:carol@127.0.0.1>")); res.StatusCode != 202 {
		t.Fatalf("REFER answered %d", res.StatusCode)
	}
	recv(t, rc.h.transfers, "transfer")
	if n := rc.waitNotify(t); n.code != 100 || n.state != "active;expires=1" {
		t.Fatalf("first NOTIFY %+v", n)
	}
	// The phone never reports: the guard ends the subscription.
	n := rc.waitNotify(t)
	if n.code != 408 || n.reason != "Request Timeout" || n.state != "terminated;reason=timeout" {
		t.Fatalf("guard NOTIFY %+v", n)
	}
	if err := rc.c.ReferProgress(200, ""); !errors.Is(err, ErrNoSubscription) {
		t.Fatalf("report after the guard = %v, want ErrNoSubscription", err)
	}
	rc.nextIsInfo(t)
	if st := rc.c.State(); st != CallStateActive {
		t.Fatalf("call %s after the guard, want active", st)
	}
}

func TestReferInBadRequests(t *testing.T) {
	leakCheck(t)
	rc := startReferCall(t, Options{})
	for _, tc := range []struct {
		name    string
		inDlg   bool
		hdrs    []sip.Header
		want    int
		warning string
	}{
		{"no Refer-To", true, nil, 400, "missing refer-to"},
		{"outside any dialog", false, []sip.Header{sip.NewHeader("Refer-To", "<sip:carol@127.0.0.1>")}, 481, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res *sip.Response
			if tc.inDlg {
				res, _ = rc.refer(t, tc.hdrs...)
			} else {
				res = rc.p.do(rc.p.request(sip.REFER, rc.u.ListenAddr("udp"), nil, "", tc.hdrs...))
			}
			if res.StatusCode != tc.want || !strings.Contains(headerValue(res, "Warning"), tc.warning) {
				t.Fatalf("answered %d (Warning %q), want %d", res.StatusCode, headerValue(res, "Warning"), tc.want)
			}
		})
	}
	select {
	case target := <-rc.h.transfers:
		t.Fatalf("a refused REFER reached the handler: %s", target)
	default:
	}
}

// A transferor that answers our NOTIFY with 481 has dropped the
// subscription; the call itself stays up (RFC 5057 §5.2).
func TestReferInNotifyRefusedKeepsCall(t *testing.T) {
	leakCheck(t)
	refused := make(chan *sip.Request, 4)
	rc := startReferCall(t, Options{}, func(s *sipgo.Server) {
		s.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
			refused <- req
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		})
	})
	if res, _ := rc.refer(t, sip.NewHeader("Refer-To", "<sip:carol@127.0.0.1>")); res.StatusCode != 202 {
		t.Fatalf("REFER answered %d", res.StatusCode)
	}
	recv(t, rc.h.transfers, "transfer")
	if n := recv(t, refused, "NOTIFY"); !strings.HasPrefix(string(n.Body()), "SIP/2.0 100") {
		t.Fatalf("NOTIFY body %q", n.Body())
	}
	// The subscription is over once the refusal is in; the call is not.
	if !testbed.WaitFor(waitTimeout, func() bool {
		rc.c.mu.Lock()
		defer rc.c.mu.Unlock()
		return rc.c.refer.final
	}) {
		t.Fatal("the subscription outlived a 481 to its NOTIFY")
	}
	if err := rc.c.ReferProgress(180, ""); !errors.Is(err, ErrNoSubscription) {
		t.Fatalf("report after the refusal = %v, want ErrNoSubscription", err)
	}
	if st := rc.c.State(); st != CallStateActive {
		t.Fatalf("call %s after a refused NOTIFY, want active", st)
	}
	rc.nextIsInfo(t)
}

// The outcome of an outgoing call is readable for the transfer report.
func TestLastResponse(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(nil)
	p := newPeer(t)
	p.setAnswer(func(*sip.Request) int { return 486 })
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	c, err := u.Dial(context.Background(), 0, "sip:peer@"+p.addr, newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	if e := h.waitState(t, CallStateEnded); !strings.Contains(e.reason, "486") {
		t.Fatalf("end reason %q", e.reason)
	}
	if code, reason := c.LastResponse(); code != 486 || reason != "Busy Here" {
		t.Fatalf("LastResponse = %d %q, want 486 Busy Here", code, reason)
	}
	// The peer rang before it refused: the 180 stays known beside the
	// 486, unless it was handled after the 486 (they are sent back to
	// back and the transport may hand them over in either order), and a
	// final response is never taken for a ring.
	if code, reason := c.RingResponse(); code != 0 && (code != 180 || reason != "Ringing") {
		t.Fatalf("RingResponse = %d %q, want 180 Ringing or none", code, reason)
	}

	// While it rings: the provisional response.
	p.setAnswer(func(*sip.Request) int { return 180 })
	c, err = u.Dial(context.Background(), 0, "sip:peer@"+p.addr, newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(t, CallStateEarly)
	if code, reason := c.LastResponse(); code != 180 || reason != "Ringing" {
		t.Fatalf("LastResponse = %d %q, want 180 Ringing", code, reason)
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, CallStateEnded)
	// Once it has ended, the call is still known to have rung.
	if code, reason := c.RingResponse(); code != 180 || reason != "Ringing" {
		t.Fatalf("RingResponse after the end = %d %q, want 180 Ringing", code, reason)
	}
}
