package sip

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/softphone/softphone/internal/testbed"
)

// streamCaller is a hand-driven caller on one TCP or TLS connection to the
// UA, reading and writing raw SIP so that it can hold its ACK back.
type streamCaller struct {
	t     *testing.T
	conn  net.Conn
	r     *bufio.Reader
	proto string
	to    string // the UA's host:port
	cid   string
}

func dialStream(t *testing.T, proto, addr, caFile string) *streamCaller {
	t.Helper()
	var conn net.Conn
	var err error
	if proto == "tls" {
		pem, rerr := os.ReadFile(caFile)
		if rerr != nil {
			t.Fatal(rerr)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &streamCaller{t: t, conn: conn, r: bufio.NewReader(conn), proto: proto, to: addr, cid: sip.GenerateTagN(16)}
}

func (s *streamCaller) send(msg string) {
	s.t.Helper()
	if _, err := io.WriteString(s.conn, msg); err != nil {
		s.t.Fatal(err)
	}
}

// read returns the next SIP message on the connection (keep-alive CRLFs
// skipped), or fails the test after timeout.
func (s *streamCaller) read(timeout time.Duration) string {
	s.t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
	var head strings.Builder
	n := -1
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read: %v (so far %q)", err, head.String())
		}
		if line == "\r\n" {
			if head.Len() == 0 {
				continue
			}
			break
		}
		head.WriteString(line)
		if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, max(n, 0))
	if _, err := io.ReadFull(s.r, body); err != nil {
		s.t.Fatal(err)
	}
	return head.String() + "\r\n" + string(body)
}

func (s *streamCaller) request(method, ruri string, seq int, toTag, body string) string {
	local := s.conn.LocalAddr().String()
	to := "<sip:agent@" + s.to + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	msg := method + " " + ruri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + strings.ToUpper(s.proto) + " " + local + ";branch=z9hG4bK" + sip.GenerateTagN(10) + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:caller@127.0.0.1>;tag=caller1\r\n" +
		"To: " + to + "\r\n" +
		"Call-ID: " + s.cid + "\r\n" +
		"CSeq: " + strconv.Itoa(seq) + " " + method + "\r\n" +
		"Contact: <sip:caller@" + local + ";transport=" + s.proto + ">\r\n"
	if body != "" {
		msg += "Content-Type: application/sdp\r\n"
	}
	return msg + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// reply answers req with 200, echoing its transaction headers.
func (s *streamCaller) reply(req string) {
	var hdrs []string
	for _, l := range strings.Split(req, "\r\n") {
		name := strings.ToLower(strings.SplitN(l, ":", 2)[0])
		if name == "via" || name == "from" || name == "to" || name == "call-id" || name == "cseq" {
			hdrs = append(hdrs, l)
		}
	}
	s.send("SIP/2.0 200 OK\r\n" + strings.Join(hdrs, "\r\n") + "\r\nContent-Length: 0\r\n\r\n")
}

var (
	toTagRe   = regexp.MustCompile(`(?mi)^To:.*;tag=([^;\s>]+)`)
	contactRe = regexp.MustCompile(`(?mi)^Contact:\s*<([^>]+)>`)
)

// TestStream2xxRetransmittedUntilACK: over TLS and TCP the UAS core
// retransmits the 2xx to an INVITE (T1, doubling) until the ACK arrives
// (RFC 3261 §13.3.1.4), and a call never ACKed within 64*T1 ends with a
// BYE rather than staying up one-way.
func TestStream2xxRetransmittedUntilACK(t *testing.T) {
	certFile, keyFile, ca := writeCertKey(t)
	for _, proto := range []string{"tls", "tcp"} {
		for _, acked := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/acked=%v", proto, acked), func(t *testing.T) {
				leakCheck(t)
				clk := newFakeClock()
				h := newRecHandler(answerWith(newFakeMedia()))
				u := startUA(t, Options{Transports: []string{"udp", proto}, TLSCertFile: certFile, TLSKeyFile: keyFile, Clock: clk}, h)
				addr := u.ListenAddr(proto)
				s := dialStream(t, proto, addr, ca)
				ruri := "sip:agent@" + addr + ";transport=" + proto
				s.send(s.request("INVITE", ruri, 1, "", string(offerSDP())))
				var ok string
				for ok == "" {
					if m := s.read(5 * time.Second); strings.HasPrefix(m, "SIP/2.0 200 ") {
						ok = m
					}
				}
				contact := contactRe.FindStringSubmatch(ok)
				if contact == nil || contact[1] != "sip:agent@"+addr+";transport="+proto {
					t.Fatalf("200 Contact %v, want sip:agent@%s;transport=%s", contact, addr, proto)
				}
				tag := toTagRe.FindStringSubmatch(ok)
				if tag == nil {
					t.Fatalf("200 without To tag:\n%s", ok)
				}
				// The first retransmission is due T1 after the 200.
				if !testbed.WaitFor(5*time.Second, func() bool { return clk.waitersFor(sip.T1) > 0 }) {
					t.Fatal("no retransmission timer after the 200")
				}
				clk.Advance(sip.T1)
				if again := s.read(5 * time.Second); !strings.HasPrefix(again, "SIP/2.0 200 ") || !strings.Contains(again, "CSeq: 1 INVITE") {
					t.Fatalf("after T1 got %q, want the 200 again", again)
				}
				if acked {
					s.send(s.request("ACK", contact[1], 1, tag[1], ""))
					s.send(s.request("BYE", contact[1], 2, tag[1], ""))
					for {
						m := s.read(5 * time.Second)
						if strings.HasPrefix(m, "SIP/2.0 200 ") && strings.Contains(m, "CSeq: 2 BYE") {
							break
						}
					}
					if e := h.waitState(t, CallStateEnded); !strings.Contains(e.reason, "remote hangup") {
						t.Fatalf("call ended with %q, want the remote hangup", e.reason)
					}
					return
				}
				// No ACK: at 64*T1 the UA gives up with a BYE (RFC 3261 §13.3.1.4).
				clk.Advance(64 * sip.T1)
				for {
					m := s.read(5 * time.Second)
					if strings.HasPrefix(m, "BYE ") {
						s.reply(m)
						break
					}
				}
				if e := h.waitState(t, CallStateEnded); !strings.Contains(e.reason, "no ack") {
					t.Fatalf("call ended with %q, want no ack", e.reason)
				}
			})
		}
	}
}

// TestStreamContactSchemeFollowsRequestURI: our Contact is sips only when
// the INVITE's Request-URI was sips (RFC 3261 §12.1.1, §8.1.1.8), else sip
// with ;transport=tls; its user is the called user.
func TestStreamContactSchemeFollowsRequestURI(t *testing.T) {
	certFile, keyFile, ca := writeCertKey(t)
	leakCheck(t)
	h := newRecHandler(answerWith(newFakeMedia()))
	u := startUA(t, Options{Transports: []string{"udp", "tls"}, TLSCertFile: certFile, TLSKeyFile: keyFile, Accounts: []Account{
		{ID: 1, User: "alice", Server: "127.0.0.1:9", Protocol: "tls"},
	}}, h)
	addr := u.ListenAddr("tls")
	for _, tc := range []struct{ ruri, want string }{
		{"sip:agent@" + addr + ";transport=tls", "sip:agent@" + addr + ";transport=tls"},
		{"sips:agent@" + addr, "sips:agent@" + addr + ";transport=tls"},
	} {
		s := dialStream(t, "tls", addr, ca)
		s.send(s.request("INVITE", tc.ruri, 1, "", string(offerSDP())))
		var ok string
		for ok == "" {
			if m := s.read(5 * time.Second); strings.HasPrefix(m, "SIP/2.0 200 ") {
				ok = m
			}
		}
		if c := contactRe.FindStringSubmatch(ok); c == nil || c[1] != tc.want {
			t.Errorf("INVITE %s: Contact %v, want %s", tc.ruri, c, tc.want)
		}
		tag := toTagRe.FindStringSubmatch(ok)
		if tag == nil {
			t.Fatalf("200 without To tag:\n%s", ok)
		}
		s.send(s.request("ACK", tc.want, 1, tag[1], ""))
		s.send(s.request("BYE", tc.want, 2, tag[1], ""))
		for {
			if m := s.read(5 * time.Second); strings.HasPrefix(m, "SIP/2.0 200 ") && strings.Contains(m, "CSeq: 2 BYE") {
				break
			}
		}
		h.waitState(t, CallStateEnded)
	}
}
