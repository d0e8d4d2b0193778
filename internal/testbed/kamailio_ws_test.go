package testbed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestKamailioWebSocket: the test bed's Kamailio speaks SIP over
// WebSocket (RFC 7118) on its ws and wss ports: an OPTIONS sent in a text
// frame after the "sip" subprotocol upgrade gets its 200, and plain SIP
// on the WebSocket port gets nothing routed (403).
func TestKamailioWebSocket(t *testing.T) {
	Require(t, "kamailio", "kamcmd")
	t.Parallel()
	k := StartKamailio(t, KamailioOptions{WS: true, TLS: true})
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(k.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	for _, c := range []struct{ url, addr string }{{"ws://" + k.WSAddr() + "/", k.WSAddr()}, {"wss://" + k.WSSAddr() + "/", k.WSSAddr()}} {
		d := ws.Dialer{Protocols: []string{"sip"}, Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		conn, _, hs, err := d.Dial(context.Background(), c.url)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.url, err, k.Log())
		}
		if hs.Protocol != "sip" {
			t.Errorf("%s: subprotocol %q, want sip", c.url, hs.Protocol)
		}
		local := conn.LocalAddr().String()
		tr := "WS"
		if strings.HasPrefix(c.url, "wss") {
			tr = "WSS"
		}
		opt := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bKws%d;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:%s>\r\nCall-ID: ws-%d\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			c.addr, tr, local, time.Now().UnixNano(), c.addr, time.Now().UnixNano())
		if err := wsutil.WriteClientText(conn, []byte(opt)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		msg, err := wsutil.ReadServerText(conn)
		conn.Close()
		if err != nil {
			t.Fatalf("%s: no answer: %v\n%s", c.url, err, k.Log())
		}
		if !strings.HasPrefix(string(msg), "SIP/2.0 200") {
			t.Errorf("%s: answer %q, want 200", c.url, firstLineOf(msg))
		}
	}
	// Plain SIP on the WebSocket port is refused.
	c, err := net.Dial("tcp", k.WSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := fmt.Sprintf("OPTIONS sip:x@%s SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bKplain\r\nMax-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\n"+
		"To: <sip:x@%s>\r\nCall-ID: plain-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", k.WSAddr(), c.LocalAddr(), k.WSAddr())
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); !strings.HasPrefix(got, "SIP/2.0 403") && !strings.HasPrefix(got, "HTTP/") {
		t.Errorf("plain SIP on the WebSocket port: %q, want 403", firstLineOf(buf[:n]))
	}
}

func firstLineOf(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}
