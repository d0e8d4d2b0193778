package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// registrar is an in-process digest-authenticating registrar.
type registrar struct {
	mu       sync.Mutex
	password string
	code     int    // 401 or 407
	algo     string // "", "MD5", "SHA-256"
	grant    int    // expires granted, seconds
	refuse   int    // final code when credentials are right (0 = 200)
	expires  []int  // Expires of every authorised REGISTER
	nonce    string
	min      int // Min-Expires; shorter requests get 423
}

func (r *registrar) install(s *sipgo.Server) {
	s.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		r.mu.Lock()
		defer r.mu.Unlock()
		authName, chName := "Authorization", "WWW-Authenticate"
		if r.code == 407 {
			authName, chName = "Proxy-Authorization", "Proxy-Authenticate"
		}
		chal := &digest.Challenge{Realm: "test", Nonce: r.nonce, Algorithm: r.algo, QOP: []string{"auth"}}
		if h := req.GetHeader(authName); h != nil {
			cred, err := digest.ParseCredentials(h.Value())
			if err == nil {
				want, err := digest.Digest(chal, digest.Options{
					Method: "REGISTER", URI: cred.URI, Username: cred.Username, Password: r.password,
					Cnonce: cred.Cnonce, Count: cred.Nc,
				})
				if err == nil && want.Response == cred.Response && strings.EqualFold(cred.Algorithm, r.algo) {
					code := 200
					if r.refuse != 0 {
						code = r.refuse
					}
					var asked int
					fmt.Sscan(headerValue(req, "Expires"), &asked)
					if r.min > 0 && asked > 0 && asked < r.min {
						res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
						res.AppendHeader(sip.NewHeader("Min-Expires", fmt.Sprint(r.min)))
						_ = tx.Respond(res)
						return
					}
					res := sip.NewResponseFromRequest(req, code, reasonPhrase(code), nil)
					if code == 200 {
						exp := headerValue(req, "Expires")
						var n int
						fmt.Sscan(exp, &n)
						r.expires = append(r.expires, n)
						if c := req.Contact(); c != nil && n > 0 {
							cc := c.Clone()
							cc.Params = sip.NewParams()
							cc.Params.Add("expires", fmt.Sprint(r.grant))
							res.AppendHeader(cc)
						}
					}
					_ = tx.Respond(res)
					return
				}
			}
		}
		res := sip.NewResponseFromRequest(req, r.code, reasonPhrase(r.code), nil)
		res.AppendHeader(sip.NewHeader(chName, chal.String()))
		_ = tx.Respond(res)
	})
}

func (r *registrar) seen() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.expires...)
}

func TestRegisterDigest(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		algo       string
		password   string
		refuse     int
		wantState  RegState
		wantDetail string
		min        int
		wantFirst  int
	}{
		{name: "interval too brief", code: 401, algo: "MD5", password: "pw", wantState: RegRegistered, wantDetail: "200 OK", min: 120, wantFirst: 120},
		{"md5 401", 401, "MD5", "pw", 0, RegRegistered, "200 OK", 0, 0},
		{"sha-256 401", 401, "SHA-256", "pw", 0, RegRegistered, "200 OK", 0, 0},
		{"sha-256 407", 407, "SHA-256", "pw", 0, RegRegistered, "200 OK", 0, 0},
		{"wrong password", 401, "MD5", "nope", 0, RegFailed, "401 Unauthorized", 0, 0},
		{"forbidden", 401, "SHA-256", "pw", 403, RegFailed, "403 Forbidden", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			reg := &registrar{password: tc.password, code: tc.code, algo: tc.algo, grant: 2, refuse: tc.refuse, nonce: sip.GenerateTagN(10), min: tc.min}
			if tc.wantFirst == 0 {
				tc.wantFirst = 60
			}
			p := newPeer(t, reg.install)
			h := newRecHandler(nil)
			u := startUA(t, Options{Transports: []string{"udp"}, Accounts: []Account{
				{ID: 5, User: "alice", Password: "pw", Server: p.addr, RegTimeout: time.Minute},
			}}, h)
			if r := h.waitReg(t, RegRegistering, waitTimeout); r.Account != 5 {
				t.Fatalf("first event %+v", r)
			}
			r := h.waitReg(t, tc.wantState, waitTimeout)
			if r.Detail != tc.wantDetail {
				t.Fatalf("detail %q, want %q", r.Detail, tc.wantDetail)
			}
			if tc.wantState == RegFailed {
				// Keeps retrying with backoff, reporting the same failure once.
				rg := u.regs[0]
				if !waitUntil(func() bool { return rg.attempts.Load() >= 2 }) {
					t.Fatal("no retry after failure")
				}
				select {
				case e := <-h.regs:
					t.Fatalf("extra event for an unchanged failure: %+v", e)
				default:
				}
				return
			}
			// The server granted 2 s: the UA refreshes before that.
			if !waitUntil(func() bool { return len(reg.seen()) >= 2 }) {
				t.Fatalf("no refresh: %v", reg.seen())
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := u.Close(ctx); err != nil {
				t.Fatal(err)
			}
			seen := reg.seen()
			if seen[0] != tc.wantFirst || seen[len(seen)-1] != 0 {
				t.Fatalf("Expires sent %v, want %d first and 0 (un-REGISTER) last", seen, tc.wantFirst)
			}
			if got := h.waitReg(t, RegUnregistered, waitTimeout); got.Account != 5 {
				t.Fatalf("unregistered event %+v", got)
			}
		})
	}
}

// waitUntil polls cond for another process's effect (the peer's state).
func waitUntil(cond func() bool) bool {
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func TestBackupServerFailover(t *testing.T) {
	leakCheck(t)
	reg := &registrar{password: "pw", code: 401, algo: "MD5", grant: 60, nonce: "n1"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := pc.LocalAddr().String()
	pc.Close()
	// A TCP registrar on its own sipgo server.
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	reg.install(srv)
	l, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		t.Fatalf("tcp listener on the udp port: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.ServeTCP(l) }()
	t.Cleanup(func() { _ = ua.Close(); _ = l.Close(); wg.Wait() })

	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp", "tcp"}, Accounts: []Account{
		{ID: 1, User: "alice", Password: "pw", Server: dead, BackupServer: tcpAddr, Protocol: "tcp", RegTimeout: time.Minute},
	}}, h)
	h.waitReg(t, RegFailed, waitTimeout)
	h.waitReg(t, RegRegistered, waitTimeout)
	u.regs[0].mu.Lock()
	target := u.regs[0].target
	u.regs[0].mu.Unlock()
	if target != tcpAddr {
		t.Fatalf("registered at %s, want the backup %s", target, tcpAddr)
	}
}

func TestDSCPMarksSockets(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp", "tcp"}, DSCP: 46}, h)
	for _, l := range u.listeners {
		var sc syscall.Conn
		switch v := l.(type) {
		case *net.UDPConn:
			sc = v
		case *net.TCPListener:
			sc = v
		default:
			t.Fatalf("listener %T", l)
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var tos int
		var gerr error
		if err := raw.Control(func(fd uintptr) { tos, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if tos != 46<<2 {
			t.Fatalf("%T IP_TOS = %d, want %d", l, tos, 46<<2)
		}
	}
}

func TestDialCancelBeforeAnswer(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	p.setAnswer(func(*sip.Request) int { return 180 })
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	c, err := u.Dial(context.Background(), 0, "sip:peer@"+p.addr, newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(t, CallStateEarly)
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	if e := h.waitState(t, CallStateEnded); e.reason != "487 Request Terminated" {
		t.Fatalf("reason %q", e.reason)
	}
}

func TestDialRedirect(t *testing.T) {
	leakCheck(t)
	p2 := newPeer(t)
	p1 := newPeer(t)
	p1.mu.Lock()
	p1.redirect = p2.uri()
	p1.mu.Unlock()
	p1.setAnswer(func(*sip.Request) int { return 302 })
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	if _, err := u.Dial(context.Background(), 0, "sip:peer@"+p1.addr, newFakeMedia()); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, CallStateActive)
	if inv := p2.waitReq(t, sip.INVITE); inv.Recipient.Port != p2.uri().Port {
		t.Fatalf("redirected INVITE went to %s", inv.Recipient.String())
	}
}

func TestReInvitePending491(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	h := newRecHandler(answerWith(newFakeMedia()))
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	res := next(t, tx, 200)
	p.ack(inv, res, nil)
	h.waitState(t, CallStateActive)

	r1 := p.inDialog(sip.INVITE, inv, res, inv.CSeq().SeqNo+1, newFakeMedia().sdp(SendRecv), "application/sdp")
	tx1, err := p.client.TransactionRequest(context.Background(), r1)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Terminate()
	if res1 := next(t, tx1, 200); res1.StatusCode != 200 {
		t.Fatalf("first re-INVITE %d", res1.StatusCode)
	}
	// No ACK yet: the first re-INVITE is still pending (RFC 3261 §14.2).
	r2 := p.inDialog(sip.INVITE, inv, res, inv.CSeq().SeqNo+2, newFakeMedia().sdp(SendRecv), "application/sdp")
	tx2, err := p.client.TransactionRequest(context.Background(), r2)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Terminate()
	if res2 := next(t, tx2, 200); res2.StatusCode != 491 {
		t.Fatalf("second re-INVITE %d, want 491", res2.StatusCode)
	}
}

// fakeClock fires After channels only when advanced.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	added   chan struct{}
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_700_000_000, 0), added: make(chan struct{}, 1024)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	f.waiters = append(f.waiters, fakeWaiter{f.now.Add(d), ch})
	select {
	case f.added <- struct{}{}:
	default:
	}
	return ch
}

// waitersAt reports how many timers are due at exactly now+d.
func (f *fakeClock) waitersFor(d time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.waiters {
		if w.at.Equal(f.now.Add(d)) {
			n++
		}
	}
	return n
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	var keep []fakeWaiter
	for _, w := range f.waiters {
		if !w.at.After(f.now) {
			w.ch <- f.now
		} else {
			keep = append(keep, w)
		}
	}
	f.waiters = keep
	f.mu.Unlock()
}

func TestSessionTimer(t *testing.T) {
	tests := []struct {
		name      string
		refresher string
		wantHdr   string
		advance   time.Duration
		want      sip.RequestMethod
	}{
		// The caller refreshes; none comes, so we end the call at
		// SE - min(32, SE/3) = 90 - 30 s (RFC 4028 §10).
		{"peer refresher expires", "uac", "90;refresher=uac", 60 * time.Second, sip.BYE},
		// We refresh at SE/2.
		{"we refresh", "uas", "90;refresher=uas", 45 * time.Second, sip.INVITE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			p := newPeer(t)
			clk := newFakeClock()
			h := newRecHandler(answerWith(newFakeMedia()))
			u := startUA(t, Options{Transports: []string{"udp"}, Clock: clk}, h)
			inv, tx := p.invite(u.ListenAddr("udp"), offerSDP(),
				sip.NewHeader("Session-Expires", "90;refresher="+tc.refresher), sip.NewHeader("Supported", "timer"))
			res := next(t, tx, 200)
			if got := headerValue(res, "Session-Expires"); got != tc.wantHdr {
				t.Fatalf("Session-Expires %q, want %q", got, tc.wantHdr)
			}
			if got := headerValue(res, "Require"); got != "timer" {
				t.Fatalf("Require %q", got)
			}
			p.ack(inv, res, nil)
			h.waitState(t, CallStateActive)
			if !waitUntil(func() bool { return clk.waitersFor(tc.advance) == 1 }) {
				t.Fatal("session timer not armed")
			}
			clk.Advance(tc.advance)
			r := p.waitReq(t, tc.want)
			if tc.want == sip.INVITE && headerValue(r, "Session-Expires") == "" {
				t.Fatalf("refresh re-INVITE without Session-Expires")
			}
			if tc.want == sip.BYE {
				if e := h.waitState(t, CallStateEnded); e.reason != "session expired" {
					t.Fatalf("reason %q", e.reason)
				}
			}
		})
	}
}

func TestCallOperationsInWrongState(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	h := newRecHandler(func(*Call) Decision { return Decision{Action: ActionReject, Code: 603, Reason: "no"} })
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	_, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	if res := next(t, tx, 200); res.StatusCode != 603 {
		t.Fatalf("code %d", res.StatusCode)
	}
	c := recv(t, h.incoming, "call")
	h.waitState(t, CallStateEnded)
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"answer", func() error { return c.Answer(nil) }, ErrInvalidState},
		{"reject", func() error { return c.Reject(486, "x") }, ErrInvalidState},
		{"reject bad code", func() error { return c.Reject(200, "x") }, ErrInvalidCode},
		{"hangup", c.Hangup, ErrInvalidState},
		{"hold", c.Hold, ErrInvalidState},
		{"transfer", func() error { return c.Transfer("sip:x@y") }, ErrInvalidState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUpdateRefreshAndOffer(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	m := newFakeMedia()
	h := newRecHandler(answerWith(m))
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	res := next(t, tx, 200)
	p.ack(inv, res, nil)
	h.waitState(t, CallStateActive)
	seq := inv.CSeq().SeqNo
	// RFC 4028 §10: a refresh by UPDATE without a body.
	r := p.do(p.inDialog(sip.UPDATE, inv, res, seq+1, nil, "", sip.NewHeader("Session-Expires", "120;refresher=uac"), sip.NewHeader("Supported", "timer")))
	if r.StatusCode != 200 || headerValue(r, "Session-Expires") != "120;refresher=uac" || len(r.Body()) != 0 {
		t.Fatalf("UPDATE refresh: %d %q %q", r.StatusCode, headerValue(r, "Session-Expires"), r.Body())
	}
	// RFC 3311: an UPDATE with an offer is answered with SDP; inactive holds us.
	r = p.do(p.inDialog(sip.UPDATE, inv, res, seq+2, newFakeMedia().sdp(Inactive), "application/sdp"))
	if r.StatusCode != 200 || !strings.Contains(string(r.Body()), "a=inactive") {
		t.Fatalf("UPDATE offer: %d %q", r.StatusCode, r.Body())
	}
	h.waitState(t, CallStateHeld)
	// An older CSeq is refused (RFC 3261 §12.2.2).
	if r := p.do(p.inDialog(sip.INFO, inv, res, seq, []byte("Signal=1"), "application/dtmf-relay")); r.StatusCode != 500 {
		t.Fatalf("out-of-order CSeq answered %d, want 500", r.StatusCode)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestTraceMasksCredentials(t *testing.T) {
	leakCheck(t)
	reg := &registrar{password: "pw", code: 401, algo: "SHA-256", grant: 60, nonce: "n3"}
	p := newPeer(t, reg.install)
	buf := &lockedBuf{}
	h := newRecHandler(nil)
	u, err := New(Options{Host: "127.0.0.1", Transports: []string{"udp"}, Trace: true,
		Logger:   slog.New(slog.NewTextHandler(buf, nil)),
		Accounts: []Account{{ID: 1, User: "alice", Password: "pw", Server: p.addr, RegTimeout: time.Minute}}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.waitReg(t, RegRegistered, waitTimeout)
	if err := u.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "REGISTER sip:") || !strings.Contains(out, "SIP/2.0 401") {
		t.Fatalf("trace lacks the REGISTER exchange:\n%s", out)
	}
	if !strings.Contains(out, `response=\"***\"`) {
		t.Fatalf("trace does not show a masked response:\n%s", out)
	}
	if strings.Count(out, "response=") != strings.Count(out, `response=\"***\"`) {
		t.Fatalf("an unmasked digest response is in the trace:\n%s", out)
	}
}

func TestDialEarlyMedia(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	release := make(chan struct{})
	p.mu.Lock()
	p.release = release
	p.mu.Unlock()
	p.setAnswer(func(*sip.Request) int { return 183 })
	m := newFakeMedia()
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	if _, err := u.Dial(context.Background(), 0, "sip:peer@"+p.addr, m); err != nil {
		t.Fatal(err)
	}
	if e := h.waitState(t, CallStateEarly); e.reason != "183 Session Progress" {
		t.Fatalf("early reason %q", e.reason)
	}
	recv(t, m.answered, "early media SDP at SetAnswer")
	close(release)
	h.waitState(t, CallStateActive)
	if _, _, answers, _ := m.snapshot(); answers != 2 {
		t.Fatalf("SetAnswer called %d times, want 2 (183 and 200)", answers)
	}
}
