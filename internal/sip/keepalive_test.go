package sip

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/softphone/softphone/internal/testbed"
)

// TestIntegrationKeepAliveOptions: on UDP the UA sends an OPTIONS to the
// registrar every KeepAlive interval while registered (a sipp registrar
// counts them), every request's Via asks for rport (RFC 3581 §3), and
// Close ends with the un-REGISTER.
func TestIntegrationKeepAliveOptions(t *testing.T) {
	testbed.Require(t, "sipp")
	scenario, err := filepath.Abs(filepath.Join("testdata", "registrar_keepalive.xml"))
	if err != nil {
		t.Fatal(err)
	}
	reg := testbed.StartSipp(t, testbed.SippOptions{Scenario: scenario, Timeout: 20 * time.Second})
	leakCheck(t) // after the peer: its log reader is the testbed's to stop
	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp"}, Accounts: []Account{
		{ID: 1, User: "alice", Server: reg.Addr(), RegTimeout: time.Minute, KeepAlive: 300 * time.Millisecond},
	}}, h)
	h.waitReg(t, RegRegistered, waitTimeout)
	r := u.regs[0]
	if !waitUntil(func() bool { return r.keepalives.Load() >= 3 }) {
		t.Fatalf("%d keep-alives answered, want 3", r.keepalives.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := u.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := u.Registrations()[0]; st.State != RegUnregistered || st.Detail != "closed" {
		t.Fatalf("after close %+v, want unregistered by a 200", st)
	}
	res, err := reg.Wait(10 * time.Second)
	if err != nil {
		t.Fatalf("%v\nmessages:\n%s", err, res.Messages)
	}
	if n := strings.Count(res.Logs, "options="); n < 3 {
		t.Fatalf("registrar logged %d OPTIONS, want at least 3:\n%s", n, res.Logs)
	}
	if !strings.Contains(res.Logs, "unregister=") {
		t.Fatalf("no un-REGISTER logged:\n%s", res.Logs)
	}
	if !strings.Contains(res.Messages, "OPTIONS sip:"+reg.Addr()+" SIP/2.0") {
		t.Fatalf("OPTIONS not addressed to the registrar %s:\n%s", reg.Addr(), res.Messages)
	}
}

// streamRegistrar is a registrar on a raw TCP or TLS listener that
// answers every request 200 and counts, per connection, the requests and
// the CRLFCRLF keep-alive pings between them (RFC 5626 §3.5.1), answering
// each ping with a CRLF pong (§4.4.1). No packaged peer shows these pings,
// so the test reads the bytes itself.
type streamRegistrar struct {
	l      net.Listener
	caFile string
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  []net.Conn
	pings  []int
	reqs   [][]string // methods per connection
	errors []error
}

func startStreamRegistrar(t *testing.T, proto string) *streamRegistrar {
	t.Helper()
	s := &streamRegistrar{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if proto == "tls" {
		cert, caFile := selfSignedCert(t)
		s.caFile = caFile
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.l = l
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		s.l.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *streamRegistrar) addr() string { return s.l.Addr().String() }

func (s *streamRegistrar) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		i := len(s.conns)
		s.conns = append(s.conns, c)
		s.pings = append(s.pings, 0)
		s.reqs = append(s.reqs, nil)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(i, c)
	}
}

func (s *streamRegistrar) fail(err error) {
	s.mu.Lock()
	s.errors = append(s.errors, err)
	s.mu.Unlock()
}

// serve reads connection i: lone CRLF lines between messages are
// keep-alive, two make one ping; everything else is a message framed by
// Content-Length (RFC 3261 §18.3).
func (s *streamRegistrar) serve(i int, c net.Conn) {
	defer s.wg.Done()
	br := bufio.NewReader(c)
	crlf := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if line == "\r\n" {
			crlf++
			if crlf == 2 {
				crlf = 0
				s.mu.Lock()
				s.pings[i]++
				s.mu.Unlock()
				if _, err := c.Write([]byte("\r\n")); err != nil {
					return
				}
			}
			continue
		}
		crlf = 0
		head := line
		clen := 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head += l
			if l == "\r\n" {
				break
			}
			name, value, _ := strings.Cut(l, ":")
			if n := strings.ToLower(strings.TrimSpace(name)); n == "content-length" || n == "l" {
				clen, _ = strconv.Atoi(strings.TrimSpace(value))
			}
		}
		body := make([]byte, clen)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(head), body...))
		if err != nil {
			s.fail(fmt.Errorf("parse: %w", err))
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			continue
		}
		s.mu.Lock()
		s.reqs[i] = append(s.reqs[i], string(req.Method))
		s.mu.Unlock()
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		if ct := req.Contact(); ct != nil && req.Method == sip.REGISTER {
			if exp := headerValue(req, "Expires"); exp != "0" {
				cc := ct.Clone()
				cc.Params = sip.NewParams()
				cc.Params.Add("expires", "60")
				res.AppendHeader(cc)
			}
		}
		if _, err := c.Write([]byte(res.String())); err != nil {
			return
		}
	}
}

// snapshot returns pings and request methods per connection, and any
// parse errors.
func (s *streamRegistrar) snapshot() ([]int, [][]string, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reqs := make([][]string, len(s.reqs))
	for i, r := range s.reqs {
		reqs[i] = append([]string(nil), r...)
	}
	return append([]int(nil), s.pings...), reqs, append([]error(nil), s.errors...)
}

// selfSignedCert makes a certificate for 127.0.0.1 that is its own CA and
// writes it as a PEM file to trust.
func selfSignedCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// TestKeepAliveCRLF: on TCP and TLS the UA pings the registrar with
// CRLFCRLF every KeepAlive interval on the registration's own connection
// (RFC 5626 §4.4.1), takes the CRLF pongs in its stride, and un-registers
// on that same connection.
func TestKeepAliveCRLF(t *testing.T) {
	for _, proto := range []string{"tcp", "tls"} {
		t.Run(proto, func(t *testing.T) {
			leakCheck(t)
			srv := startStreamRegistrar(t, proto)
			h := newRecHandler(nil)
			u := startUA(t, Options{Transports: []string{"udp", "tcp"}, Accounts: []Account{
				{ID: 1, User: "alice", Server: srv.addr(), Protocol: proto, CAFile: srv.caFile, RegTimeout: time.Minute, KeepAlive: 300 * time.Millisecond},
			}}, h)
			h.waitReg(t, RegRegistered, waitTimeout)
			if !waitUntil(func() bool { p, _, _ := srv.snapshot(); return len(p) > 0 && p[0] >= 3 }) {
				p, _, errs := srv.snapshot()
				t.Fatalf("pings per connection %v, want 3 on the first; errors %v", p, errs)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := u.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if st := u.Registrations()[0]; st.State != RegUnregistered || st.Detail != "closed" {
				t.Fatalf("after close %+v, want unregistered by a 200", st)
			}
			pings, reqs, errs := srv.snapshot()
			if len(errs) > 0 {
				t.Fatalf("registrar errors: %v", errs)
			}
			if len(pings) != 1 || len(reqs) != 1 {
				t.Fatalf("%d connections (pings %v, requests %v), want the registration's one", len(pings), pings, reqs)
			}
			if got := strings.Join(reqs[0], ","); got != "REGISTER,REGISTER" {
				t.Fatalf("requests on the connection %s, want REGISTER,REGISTER (register, un-register) with no OPTIONS", got)
			}
		})
	}
}
