package sip

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// traceLog collects the UA's "sip trace" records (Options.Trace) so a test
// can wait for a message it sent or received.
type traceLog struct {
	mu      sync.Mutex
	msgs    []string // "recv|send " + message
	changed chan struct{}
}

func newTraceLog() *traceLog { return &traceLog{changed: make(chan struct{})} }

func (l *traceLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *traceLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *traceLog) WithGroup(string) slog.Handler            { return l }
func (l *traceLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "sip trace" {
		return nil
	}
	var dir, msg string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "dir":
			dir = a.Value.String()
		case "msg":
			msg = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, dir+" "+msg)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// wait returns the first traced message with the given direction ("recv"
// or "send") whose text matches re, waiting up to timeout for it.
func (l *traceLog) wait(t *testing.T, dir string, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for _, m := range l.msgs {
			if msg, ok := strings.CutPrefix(m, dir+" "); ok && re.MatchString(msg) {
				l.mu.Unlock()
				return msg
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			l.mu.Lock()
			var first []string
			for _, m := range l.msgs {
				first = append(first, strings.SplitN(m, "\r\n", 2)[0])
			}
			l.mu.Unlock()
			t.Fatalf("no %s message matching %s within %s; traced:\n%s", dir, re, timeout, strings.Join(first, "\n"))
		}
	}
}

// count returns how many traced messages with the direction match re.
func (l *traceLog) count(dir string, re *regexp.Regexp) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if msg, ok := strings.CutPrefix(m, dir+" "); ok && re.MatchString(msg) {
			n++
		}
	}
	return n
}

// traced sets o up to trace into a new traceLog.
func traced(o *Options) *traceLog {
	l := newTraceLog()
	o.Trace = true
	o.Logger = slog.New(l)
	return l
}

// TestIntegrationTLSFlowBehindNATRegistrar: an agent with protocol = tls,
// no client certificate and no TLS listener registers at Kamailio (tls
// module, nathelper's fix_nated_register/fix_nated_contact, no outbound)
// and verifies its certificate (and the same with protocol = tcp). The Contact names the connection the
// REGISTER went on, so calls arrive over it: baresip calls us through
// Kamailio (INVITE, ACK and BYE reach us over our connection) and we call
// baresip (its BYE comes back the same way).
func TestIntegrationTLSFlowBehindNATRegistrar(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd", "baresip")
	for _, proto := range []string{"tls", "tcp"} {
		t.Run(proto, func(t *testing.T) { flowCalls(t, proto) })
	}
}

// TestIntegrationWebSocketFlow: the same over SIP over WebSocket and
// secure WebSocket (RFC 7118) at Kamailio's websocket module, the agent
// with no listener of its own but UDP: it registers with digest auth over
// the WebSocket it opens (on the account's ws_path; wss verifying
// Kamailio's certificate), and calls come and go over that connection.
func TestIntegrationWebSocketFlow(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd", "baresip")
	for _, proto := range []string{"ws", "wss"} {
		t.Run(proto, func(t *testing.T) { flowCalls(t, proto) })
	}
}

func flowCalls(t *testing.T, proto string) {
	ws := webSocket(proto)
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, TLS: true, NAT: true, WS: ws})
	users := k.Users()
	bob := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: users["bob"], Registrar: k.Addr(), AnswerMode: "auto"})
	leakCheck(t) // after the peers, whose log readers the testbed stops
	h := newRecHandler(answerWith(newFakeMedia()))
	server, listen := k.TLSAddr(), []string{"udp", "tcp"}
	switch proto {
	case "tcp":
		server, listen = k.Addr(), []string{"udp"}
	case "ws":
		server, listen = k.WSAddr(), []string{"udp"}
	case "wss":
		server, listen = k.WSSAddr(), []string{"udp"}
	}
	o := Options{Transports: listen, Accounts: []Account{
		{ID: 1, User: "alice", Password: users["alice"], Server: server, Protocol: proto, CAFile: k.CAFile(), RegTimeout: time.Minute, WSPath: "/sip"},
	}}
	if ws {
		o.Accounts[0].KeepAlive = time.Second // a restarted registrar noticed within a second
	}
	tr := traced(&o)
	u := startUA(t, o, h)
	h.waitReg(t, RegRegistered, 10*time.Second)
	// Kamailio writes its log on its own time: wait for the line
	// rather than read the log once as the registration completes.
	if ws && !testbed.WaitFor(5*time.Second, func() bool { return strings.Contains(k.Log(), "path /sip") }) {
		t.Errorf("the WebSocket upgrade did not ask for the account's ws_path /sip:\n%s", k.Log())
	}
	flow, _ := u.Flow(1)
	if flow == "" || flow == u.ListenAddr("tcp") {
		t.Fatalf("flow %q: want the local address of the registration's connection", flow)
	}
	cs := k.WaitContacts(t, "alice", 1, 5*time.Second)
	if want := "sip:alice@" + flow + ";transport=" + proto; !strings.HasPrefix(cs[0], want) {
		t.Fatalf("contact %q, want %s", cs[0], want)
	}

	// baresip → Kamailio → us over the registration's connection.
	if err := bob.Dial("sip:alice@" + k.Addr()); err != nil {
		t.Fatal(err)
	}
	c := recv(t, h.incoming, "incoming call")
	h.waitState(t, CallStateActive)
	ok := tr.wait(t, "send", regexp.MustCompile(`(?s)^SIP/2\.0 200 .*CSeq: \d+ INVITE`), 5*time.Second)
	if !strings.Contains(ok, "Contact: <sip:alice@"+flow+";transport="+proto+">") {
		t.Errorf("our 200 does not name the connection %s:\n%s", flow, ok)
	}
	tr.wait(t, "recv", regexp.MustCompile(`^ACK sip:alice@`+regexp.QuoteMeta(flow)), 10*time.Second)
	if _, err := bob.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := bob.Hangup(); err != nil {
		t.Fatal(err)
	}
	<-c.Context().Done()
	if cause := context.Cause(c.Context()); !strings.Contains(cause.Error(), "remote hangup") {
		t.Fatalf("incoming call ended with %v, want the remote hangup", cause)
	}

	// us → Kamailio → baresip; baresip's BYE comes back over our connection.
	oc, err := u.Dial(context.Background(), 1, "bob", newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	inv := tr.wait(t, "send", regexp.MustCompile(`^INVITE sip:bob@`), 5*time.Second)
	if !strings.Contains(inv, "Contact: <sip:alice@"+flow+";transport="+proto+">") {
		t.Errorf("our INVITE does not name the connection %s:\n%s", flow, inv)
	}
	if err := bob.Hangup(); err != nil {
		t.Fatal(err)
	}
	<-oc.Context().Done()
	if cause := context.Cause(oc.Context()); !strings.Contains(cause.Error(), "remote hangup") {
		t.Fatalf("outgoing call ended with %v, want the remote hangup", cause)
	}
	if strings.Contains(k.Log(), "failed to parse") {
		t.Errorf("kamailio could not parse something:\n%s", k.Log())
	}
	if ws {
		wsRestartAndClose(t, k, u, flow)
	}
}

// wsRestartAndClose: Kamailio restarted (its WebSocket gone, every
// binding lost) sees the agent register again over a new WebSocket at its
// next keep-alive; closing the agent removes the binding.
func wsRestartAndClose(t *testing.T, k *testbed.Kamailio, u *UA, flow string) {
	t.Helper()
	k.Restart(t)
	cs := k.WaitContacts(t, "alice", 1, 20*time.Second)
	if nf, _ := u.Flow(1); nf == flow || !strings.Contains(cs[0], nf) {
		t.Errorf("after the restart: flow %q (was %q), contact %q", nf, flow, cs[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if cs := k.Contacts(t, "alice"); len(cs) != 0 {
		t.Errorf("alice still registered after Close: %v", cs)
	}
}

// TestIntegrationWebSocketBadPassword: a wrong password over wss ends in
// the registration failing with the registrar's answer, as over UDP.
func TestIntegrationWebSocketBadPassword(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, TLS: true, WS: true})
	leakCheck(t)
	h := newRecHandler(answerWith(newFakeMedia()))
	o := Options{Transports: []string{"udp"}, Accounts: []Account{
		{ID: 1, User: "alice", Password: "wrong", Server: k.WSSAddr(), Protocol: "wss", CAFile: k.CAFile(), RegTimeout: time.Minute},
	}}
	startUA(t, o, h)
	r := h.waitReg(t, RegFailed, 10*time.Second)
	if !strings.Contains(r.Detail, "401") && !strings.Contains(r.Detail, "403") {
		t.Errorf("failed registration detail %q, want the registrar's 401/403", r.Detail)
	}
}

// writeCertKey writes a certificate made by selfSignedCert and its key as
// PEM files for a TLS listener and returns their paths and the CA file.
func writeCertKey(t *testing.T) (certFile, keyFile, caFile string) {
	t.Helper()
	cert, ca := selfSignedCert(t)
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, ca
}

// TestIntegrationTLSDirectCall: baresip calls sip:agent@host:port;transport=tls
// straight at our TLS listener. Our 200 carries a sip: Contact (the
// Request-URI was not sips, RFC 3261 §12.1.1) with the called user and
// the connection's address, baresip ACKs it, and the call ends with its
// BYE. The same over TCP.
func TestIntegrationTLSDirectCall(t *testing.T) {
	testbed.Require(t, "baresip")
	certFile, keyFile, ca := writeCertKey(t)
	for _, proto := range []string{"tls", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			bob := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", CAFile: ca})
			leakCheck(t)
			h := newRecHandler(answerWith(newFakeMedia()))
			o := Options{Transports: []string{"udp", proto}, TLSCertFile: certFile, TLSKeyFile: keyFile}
			tr := traced(&o)
			u := startUA(t, o, h)
			addr := u.ListenAddr(proto)
			if err := bob.Dial("sip:agent@" + addr + ";transport=" + proto); err != nil {
				t.Fatal(err)
			}
			c := recv(t, h.incoming, "incoming call")
			ok := tr.wait(t, "send", regexp.MustCompile(`(?s)^SIP/2\.0 200 .*CSeq: \d+ INVITE`), 10*time.Second)
			want := "Contact: <sip:agent@" + addr + ";transport=" + proto + ">"
			if !strings.Contains(ok, want) {
				t.Errorf("our 200 lacks %q:\n%s", want, ok)
			}
			tr.wait(t, "recv", regexp.MustCompile(`^ACK sip:agent@`+regexp.QuoteMeta(addr)), 10*time.Second)
			if _, err := bob.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := bob.Hangup(); err != nil {
				t.Fatal(err)
			}
			<-c.Context().Done()
			if cause := context.Cause(c.Context()); !strings.Contains(cause.Error(), "remote hangup") {
				t.Fatalf("call ended with %v, want the remote hangup", cause)
			}
		})
	}
}

// tcpNAT stands for a NAT in front of the agent's desktop on TCP: every
// connection to its address leaves from a port of its own towards the
// server, so the server sees another source than the UA's Via and Contact.
type tcpNAT struct {
	l      net.Listener
	server string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	gen    int // connections made so far
	frozen int // connections below this number carry nothing any more
}

func startTCPNAT(t *testing.T, server string) *tcpNAT {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &tcpNAT{l: l, server: server}
	n.wg.Add(1)
	go n.accept()
	t.Cleanup(func() {
		l.Close()
		n.drop()
		n.wg.Wait()
	})
	return n
}

func (n *tcpNAT) addr() string { return n.l.Addr().String() }

func (n *tcpNAT) accept() {
	defer n.wg.Done()
	for {
		in, err := n.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", n.server)
		if err != nil {
			in.Close()
			continue
		}
		n.mu.Lock()
		n.conns = append(n.conns, in, out)
		gen := n.gen
		n.gen++
		n.mu.Unlock()
		n.wg.Add(2)
		go n.pipe(in, out, gen)
		go n.pipe(out, in, gen)
	}
}

func (n *tcpNAT) pipe(dst, src net.Conn, gen int) {
	defer n.wg.Done()
	buf := make([]byte, 4096)
	for {
		k, err := src.Read(buf)
		n.mu.Lock()
		pass := gen >= n.frozen
		n.mu.Unlock()
		if k > 0 && pass {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

// freeze makes every connection so far a black hole, both ways, while
// leaving it open: a NAT that lost its mapping without telling anyone.
// New connections pass.
func (n *tcpNAT) freeze() {
	n.mu.Lock()
	n.frozen = n.gen
	n.mu.Unlock()
}

// drop forgets every mapping at once, resetting both sides of each
// connection (SO_LINGER 0), as a NAT that lost its state or a rebooted
// router would.
func (n *tcpNAT) drop() {
	n.mu.Lock()
	conns := n.conns
	n.conns = nil
	n.mu.Unlock()
	for _, c := range conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
}

// onlyBinding waits until alice's only binding at k names flow.
func onlyBinding(t *testing.T, k *testbed.Kamailio, flow string) {
	t.Helper()
	var bs []testbed.Binding
	if !testbed.WaitFor(5*time.Second, func() bool {
		bs = k.Bindings(t, "alice")
		return len(bs) == 1 && strings.Contains(bs[0].Address, flow)
	}) {
		t.Fatalf("bindings %+v, want only the connection %s", bs, flow)
	}
}

// waitNewFlow waits until the UA has registered over a connection other
// than flow and returns it.
func waitNewFlow(t *testing.T, u *UA, account int, flow string) string {
	t.Helper()
	var now string
	if !testbed.WaitFor(30*time.Second, func() bool {
		now, _ = u.Flow(account)
		return now != "" && now != flow && u.Registrations()[0].State == RegRegistered
	}) {
		t.Fatalf("no registration over a new connection after %s died (flow %q)", flow, now)
	}
	return now
}

// callIn has baresip call alice through Kamailio and checks the call
// reaches the UA, is ACKed and ends with baresip's BYE.
func callIn(t *testing.T, h *recHandler, tr *traceLog, bob *testbed.Baresip, k *testbed.Kamailio) {
	t.Helper()
	acks := regexp.MustCompile(`^ACK sip:alice@`)
	before := tr.count("recv", acks)
	if err := bob.Dial("sip:alice@" + k.Addr()); err != nil {
		t.Fatal(err)
	}
	c := recv(t, h.incoming, "incoming call")
	if _, err := bob.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !testbed.WaitFor(10*time.Second, func() bool { return tr.count("recv", acks) > before }) {
		t.Fatal("no ACK")
	}
	if err := bob.Hangup(); err != nil {
		t.Fatal(err)
	}
	<-c.Context().Done()
	if cause := context.Cause(c.Context()); !strings.Contains(cause.Error(), "remote hangup") {
		t.Fatalf("incoming call ended with %v, want the remote hangup", cause)
	}
	if _, err := bob.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestIntegrationTLSFlowRecovery: an agent behind a NAT registers over TLS.
// When the registration's connection dies (the NAT resets it), the UA notices it at the next keep-alive,
// registers again over a new connection and the old binding goes:
//   - at a registrar without outbound (nathelper only) by expires=0 on
//     the old Contact in the same REGISTER;
//   - at an RFC 5626 registrar (Kamailio's outbound module), which answers
//     Require: outbound and a Flow-Timer, by the same +sip.instance and
//     reg-id replacing it (§4.5, §6); our dialog-forming requests carry ;ob.
//
// Calls from baresip arrive before and after.
func TestIntegrationTLSFlowRecovery(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd", "baresip")
	for _, outbound := range []bool{false, true} {
		name := "nat"
		if outbound {
			name = "outbound"
		}
		t.Run(name, func(t *testing.T) {
			k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, TLS: true, NAT: true, Outbound: outbound, FlowTimer: 25})
			users := k.Users()
			bob := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: users["bob"], Registrar: k.Addr(), AnswerMode: "auto"})
			nat := startTCPNAT(t, k.TLSAddr())
			leakCheck(t)
			h := newRecHandler(answerWith(newFakeMedia()))
			o := Options{Transports: []string{"udp", "tcp"}, InstanceID: "urn:uuid:00000000-0000-4000-8000-00000000000a", Accounts: []Account{
				{ID: 1, User: "alice", Password: users["alice"], Server: nat.addr(), Protocol: "tls", CAFile: k.CAFile(), RegTimeout: time.Minute, KeepAlive: time.Second},
			}}
			tr := traced(&o)
			u := startUA(t, o, h)
			h.waitReg(t, RegRegistered, 10*time.Second)
			flow, ob := u.Flow(1)
			if ob != outbound {
				t.Fatalf("outbound in use %v, want %v", ob, outbound)
			}
			reg := tr.wait(t, "send", regexp.MustCompile(`^REGISTER `), 5*time.Second)
			for _, want := range []string{`+sip.instance="<urn:uuid:00000000-0000-4000-8000-00000000000a>"`, "reg-id=1", "Supported: path, outbound"} {
				if !strings.Contains(reg, want) {
					t.Errorf("REGISTER lacks %s:\n%s", want, reg)
				}
			}
			// The registrar saw the REGISTER come from the NAT's port, not
			// from the flow named in the Contact (nathelper's
			// fix_nated_register, or outbound's flow).
			if bs := k.Bindings(t, "alice"); len(bs) != 1 || bs[0].Received == "" || strings.Contains(bs[0].Received, flow) {
				t.Fatalf("bindings %+v, want one received from the NAT, not %s", bs, flow)
			}
			if outbound {
				ok := tr.wait(t, "recv", regexp.MustCompile(`(?s)^SIP/2\.0 200 .*CSeq: \d+ REGISTER`), 5*time.Second)
				if !strings.Contains(ok, "Flow-Timer: 25") {
					t.Errorf("the 200 to REGISTER has no Flow-Timer 25:\n%s", ok)
				}
				bs := k.Bindings(t, "alice")
				if len(bs) != 1 || bs[0].RegID != "1" || !strings.Contains(bs[0].Instance, "00000000000a") {
					t.Fatalf("bindings %+v, want one with our instance and reg-id 1", bs)
				}
				// Keep-alives count only once their pong came back
				// (RFC 5626 §4.4.1), and the flow stays the same.
				if !testbed.WaitFor(10*time.Second, func() bool { return u.regs[0].keepalives.Load() >= 2 }) {
					t.Fatalf("%d keep-alives answered with a pong, want 2", u.regs[0].keepalives.Load())
				}
				if now, _ := u.Flow(1); now != flow {
					t.Fatalf("flow moved from %s to %s without a failure", flow, now)
				}
			}
			callIn(t, h, tr, bob, k)
			if outbound {
				// Our INVITE and its Contact with ;ob (RFC 5626 §4.3).
				oc, err := u.Dial(context.Background(), 1, "bob", newFakeMedia())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := bob.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
					t.Fatal(err)
				}
				// Our 200 to baresip's INVITE over the flow carried ;ob too.
				ok := tr.wait(t, "send", regexp.MustCompile(`(?s)^SIP/2\.0 200 .*CSeq: \d+ INVITE`), 5*time.Second)
				if !strings.Contains(ok, "Contact: <sip:alice@"+flow+";transport=tls;ob>") {
					t.Errorf("our 200's Contact lacks the flow and ;ob:\n%s", ok)
				}
				inv := tr.wait(t, "send", regexp.MustCompile(`^INVITE sip:bob@`), 5*time.Second)
				if !strings.Contains(inv, "Contact: <sip:alice@"+flow+";transport=tls;ob>") {
					t.Errorf("our INVITE's Contact lacks the flow and ;ob:\n%s", inv)
				}
				if err := oc.Hangup(); err != nil {
					t.Fatal(err)
				}
				if _, err := bob.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
					t.Fatal(err)
				}
			}

			// The connection is reset.
			nat.drop()
			now := waitNewFlow(t, u, 1, flow)
			onlyBinding(t, k, now)
			callIn(t, h, tr, bob, k)
			// The connection goes silent: no pong within 10 s of a ping
			// (RFC 5626 §4.4.1). Kamailio answers pings with or without
			// outbound; without, the UA expects pongs once it has seen one.
			r := u.regs[0]
			if !testbed.WaitFor(10*time.Second, func() bool {
				r.mu.Lock()
				defer r.mu.Unlock()
				return r.pongSeen
			}) {
				t.Fatal("kamailio never answered a keep-alive ping")
			}
			nat.freeze()
			after := waitNewFlow(t, u, 1, now)
			onlyBinding(t, k, after)
			callIn(t, h, tr, bob, k)
		})
	}
}

// TestIntegrationTCPDialWithoutListener: the agent calls baresip straight
// over TCP with no TCP listener of its own; the INVITE's Contact names the
// connection it goes on, so baresip's BYE comes back over it.
func TestIntegrationTCPDialWithoutListener(t *testing.T) {
	testbed.Require(t, "baresip")
	bob := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Transport: "tcp", AnswerMode: "auto"})
	leakCheck(t)
	h := newRecHandler(nil)
	o := Options{Transports: []string{"udp"}}
	tr := traced(&o)
	u := startUA(t, o, h)
	c, err := u.Dial(context.Background(), 0, bob.URI(), newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	inv := tr.wait(t, "send", regexp.MustCompile(`^INVITE sip:bob@`), 5*time.Second)
	m := regexp.MustCompile(`Contact: <sip:softphone@127\.0\.0\.1:(\d+);transport=tcp>`).FindStringSubmatch(inv)
	if m == nil || "127.0.0.1:"+m[1] == u.ListenAddr("udp") {
		t.Fatalf("INVITE Contact does not name its TCP connection:\n%s", inv)
	}
	if err := bob.Hangup(); err != nil {
		t.Fatal(err)
	}
	<-c.Context().Done()
	if cause := context.Cause(c.Context()); !strings.Contains(cause.Error(), "remote hangup") {
		t.Fatalf("call ended with %v, want the remote hangup", cause)
	}
}
