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
	"strconv"
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
func (l *traceLog) WithAttrs([]slog.Attr) slog.Handler        { return l }
func (l *traceLog) WithGroup(string) slog.Handler             { return l }
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
// and verifies its certificate. The Contact names the connection the
// REGISTER went on, so calls arrive over it: baresip calls us through
// Kamailio (INVITE, ACK and BYE reach us over our connection) and we call
// baresip (its BYE comes back the same way).
func TestIntegrationTLSFlowBehindNATRegistrar(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd", "baresip")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, TLS: true, NAT: true})
	users := k.Users()
	bob := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: users["bob"], Registrar: k.Addr(), AnswerMode: "auto"})
	leakCheck(t) // after the peers, whose log readers the testbed stops
	h := newRecHandler(answerWith(newFakeMedia()))
	o := Options{Transports: []string{"udp", "tcp"}, Accounts: []Account{
		{ID: 1, User: "alice", Password: users["alice"], Server: k.TLSAddr(), Protocol: "tls", CAFile: k.CAFile(), RegTimeout: time.Minute},
	}}
	tr := traced(&o)
	u := startUA(t, o, h)
	h.waitReg(t, RegRegistered, 10*time.Second)
	flow, _ := u.Flow(1)
	if flow == "" || flow == u.ListenAddr("tcp") {
		t.Fatalf("flow %q: want the local address of the registration's connection", flow)
	}
	cs := k.WaitContacts(t, "alice", 1, 5*time.Second)
	if want := "sip:alice@" + flow + ";transport=tls"; !strings.HasPrefix(cs[0], want) {
		t.Fatalf("contact %q, want %s", cs[0], want)
	}

	// baresip → Kamailio → us over the registration's connection.
	if err := bob.Dial("sip:alice@" + k.Addr()); err != nil {
		t.Fatal(err)
	}
	c := recv(t, h.incoming, "incoming call")
	h.waitState(t, CallStateActive)
	ok := tr.wait(t, "send", regexp.MustCompile(`(?s)^SIP/2\.0 200 .*CSeq: \d+ INVITE`), 5*time.Second)
	if !strings.Contains(ok, "Contact: <sip:alice@"+flow+";transport=tls>") {
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
	if !strings.Contains(inv, "Contact: <sip:alice@"+flow+";transport=tls>") {
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

// keep the imports used by later tests in this file.
var _ = net.JoinHostPort
var _ = strconv.Itoa
