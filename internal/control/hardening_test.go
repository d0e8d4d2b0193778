package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
)

// rawConn dials the server and returns the connection with a hang guard:
// no read may block longer than 10 s.
func rawConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

// readAnswer reads one HTTP answer from c, then reports whether the server
// closed the connection after it.
func readAnswer(t *testing.T, c net.Conn) (*http.Response, bool) {
	t.Helper()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp, errors.Is(err, io.EOF)
}

// TestRefusalsAnswerAtOnceAndClose sends requests whose body never
// finishes: each refusal comes before the body and the server closes the
// connection instead of waiting for the rest.
func TestRefusalsAnswerAtOnceAndClose(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{ReadTimeout: time.Hour})
	tests := []struct {
		name, head string
		want       int
	}{
		{"no token", "POST /v1/calls HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"uri\":", 401},
		{"no route", "POST /nowhere HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{", 404},
		{"foreign host", "POST /v1/calls HTTP/1.1\r\nHost: evil.example:%s\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{", 403},
		{"body too large", "POST /v1/calls HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer " + testToken + "\r\nContent-Type: application/json\r\nContent-Length: 9999999\r\n\r\n{", 413},
		{"not json", "POST /v1/calls HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer " + testToken + "\r\nContent-Type: text/plain\r\nContent-Length: 60000\r\n\r\nx", 415},
		{"wrong method", "PUT /v1/status HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer " + testToken + "\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{", 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := rawConn(t, s.Addr())
			fmt.Fprintf(c, tc.head, s.Addr())
			resp, closed := readAnswer(t, c)
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if !closed {
				t.Error("the connection stayed open after the refusal")
			}
		})
	}
}

// TestReadDeadlines: a header or a body that stops arriving costs the
// server its connection after ReadTimeout, not forever.
func TestReadDeadlines(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{ReadTimeout: 200 * time.Millisecond})
	t.Run("header", func(t *testing.T) {
		c := rawConn(t, s.Addr())
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nX-Slow: ", s.Addr())
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("the server did not close the stalled connection: %v", err)
		}
	})
	t.Run("body", func(t *testing.T) {
		c := rawConn(t, s.Addr())
		fmt.Fprintf(c, "POST /v1/calls HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"uri\":", s.Addr(), testToken)
		resp, closed := readAnswer(t, c)
		if resp.StatusCode != http.StatusBadRequest || !closed {
			t.Errorf("status %d, closed %v; want 400 and the connection closed", resp.StatusCode, closed)
		}
	})
}

// TestHeaderLimit refuses a header block over MaxHeaderBytes (plus the
// slack net/http allows) with 431.
func TestHeaderLimit(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{})
	c := rawConn(t, s.Addr())
	fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n", s.Addr(), strings.Repeat("a", 24<<10))
	resp, _ := readAnswer(t, c)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// TestConnectionCap holds MaxConnections connections busy (event
// streams): one more is not served until one of them closes.
func TestConnectionCap(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{MaxConnections: 4})
	var held []net.Conn
	for range 4 {
		c := rawConn(t, s.Addr())
		fmt.Fprintf(c, "GET /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", s.Addr(), testToken)
		waitSub(t, f)
		held = append(held, c)
	}
	extra := rawConn(t, s.Addr()) // the kernel completes the handshake; the server does not accept
	fmt.Fprintf(extra, "GET /v1/openapi.json HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", s.Addr())
	_ = extra.SetReadDeadline(time.Now().Add(4 * shedAfter))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("a fifth connection was served while four streams were open")
	}
	held[0].Close()
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, _ := readAnswer(t, extra)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d once a slot was free", resp.StatusCode)
	}
}

// TestConnectionCapShedsStalledClients fills every slot with clients that
// stall in their request header: a new client is still answered, and the
// stalled ones lose their connections.
func TestConnectionCapShedsStalledClients(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{MaxConnections: 4, ReadTimeout: time.Hour})
	var stalled []net.Conn
	for range 12 {
		c := rawConn(t, s.Addr())
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: %s\r\nX-Stalled: ", s.Addr())
		stalled = append(stalled, c)
	}
	status, _, b := request(t, s, "GET", "/v1/openapi.json", "", "")
	if status != http.StatusOK {
		t.Fatalf("a client behind 12 stalled ones: %d %s", status, b)
	}
	for i, c := range stalled[:4] { // ahead of the answered client: they had to go
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("stalled client %d: %v, want its connection closed", i, err)
		}
	}
}

// TestEventStreamsCapped: MaxEventStreams streams at once; one more gets
// 503 with Retry-After, and a slot frees when a stream ends.
func TestEventStreamsCapped(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{MaxEventStreams: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := NewClient("http://"+s.Addr(), testToken)
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- c.Events(ctx, func(phone.Event) {}) }()
		waitSub(t, f)
	}
	status, h, b := request(t, s, "GET", "/v1/events", "Bearer "+testToken, "")
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || errorCode(t, b).Code != CodeTooManyStreams {
		t.Fatalf("third stream: %d %v %s", status, h, b)
	}
	cancel()
	<-done
	<-done
}

// TestEventsLaggingClientDropped: a client that stops reading while
// events keep coming is dropped once EventQueue events wait for it, long
// before any write deadline, and the phone's subscription ends with it.
func TestEventsLaggingClientDropped(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{EventQueue: 8, EventWriteTimeout: time.Hour})
	c := rawConn(t, s.Addr())
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(c, "GET /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", s.Addr(), testToken)
	sub := waitSub(t, f)
	data, _ := json.Marshal(struct{ P string }{strings.Repeat("z", 64<<10)})
	sent := 0
	for seq := uint64(1); seq < 100000 && sub.send(phone.Event{Seq: seq, Type: "call", Data: data}); seq++ {
		sent++
	}
	select {
	case <-sub.cancelled():
	default:
		t.Fatalf("%d events sent and the lagging client is still served", sent)
	}
	t.Logf("%d events of 64 KiB taken before the lagging client was dropped", sent)
}

// TestBrowserHardening: nosniff and no-store on answers; a cross-site
// request without Origin is refused, a link to the page is not; a body
// must be JSON.
func TestBrowserHardening(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{})
	send := func(method, path, body string, hdr map[string]string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+s.Addr()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	status, h := send("GET", "/v1/status", "", nil)
	if status != 200 || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("status %d, headers %v", status, h)
	}
	if status, _ := send("GET", "/v1/status", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}); status != 403 {
		t.Errorf("cross-site without Origin: %d, want 403", status)
	}
	if status, _ := send("POST", "/v1/hangup", "{}", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}); status != 403 {
		t.Errorf("cross-site post without Origin: %d, want 403", status)
	}
	if status, _ := send("GET", "/", "", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}); status != 200 {
		t.Errorf("a link to the page: %d, want 200", status)
	}
	if status, _ := send("GET", "/v1/status", "", map[string]string{"Sec-Fetch-Site": "same-origin"}); status != 200 {
		t.Errorf("same-origin: %d, want 200", status)
	}
	if status, _ := send("POST", "/v1/hangup", "{}", map[string]string{"Content-Type": "text/plain"}); status != 415 {
		t.Errorf("text/plain body: %d, want 415", status)
	}
	if status, _ := send("POST", "/v1/hangup", "{}", map[string]string{"Content-Type": "application/json; charset=utf-8"}); status != 204 {
		t.Errorf("json body: %d, want 204", status)
	}
}

// TestTokenRotationEndpoint: POST /v1/token/rotate writes a new token;
// the old one fails at once and an event stream opened with it ends.
func TestTokenRotationEndpoint(t *testing.T) {
	f := newFakePhone()
	path := filepath.Join(t.TempDir(), "token")
	tok, err := LoadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	s, c := startServer(t, f, Options{Token: tok, TokenFile: path})
	ended := make(chan error, 1)
	go func() { ended <- c.Events(context.Background(), func(phone.Event) {}) }()
	waitSub(t, f)
	if err := c.RotateToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-ended; !errors.Is(err, ErrStreamEnded) {
		t.Errorf("stream after rotation: %v, want it ended", err)
	}
	if _, err := c.Status(context.Background()); err == nil {
		t.Fatal("the old token still works")
	}
	nt, err := ReadToken(path)
	if err != nil || nt == tok {
		t.Fatalf("new token %q (%v)", nt, err)
	}
	if _, err := NewClient("http://"+s.Addr(), nt).Status(context.Background()); err != nil {
		t.Errorf("the new token: %v", err)
	}
	_, nc := startServer(t, f, Options{})
	if err := nc.RotateToken(context.Background()); !errors.Is(err, phone.ErrInvalidState) {
		t.Errorf("rotation without a token file: %v", err)
	}
}

// TestConnectorOverUnixSocket: the unix socket's peer is this process's
// user, so a token-less Connector request is served there.
func TestConnectorOverUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	s := NewServer(Options{Token: testToken, Listen: ListenNone, UnixSocket: sock, ConnectorWithoutToken: true}, newFakePhone())
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := NewClient("unix:"+sock, "").Session(context.Background()); err != nil {
		t.Errorf("token-less session over the unix socket: %v", err)
	}
	if _, err := NewClient("unix:"+sock, "").Status(context.Background()); err == nil {
		t.Error("/v1/status without a token over the unix socket")
	}
}

// TestSocketOwners reads this process's own sockets back from
// /proc/net/tcp: a listener and both ends of a connection.
func TestSocketOwners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lap, _ := addrPort(ln.Addr())
	self := uint32(os.Geteuid())
	if uid, err := listenerUID(lap); err != nil || uid != self {
		t.Errorf("listener uid %d (%v), want %d", uid, err, self)
	}
	if err := VerifyListener(ln.Addr().String()); err != nil {
		t.Errorf("VerifyListener: %v", err)
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cap, _ := addrPort(c.LocalAddr())
	if uid, err := connUID(cap, lap); err != nil || uid != self {
		t.Errorf("client uid %d (%v), want %d", uid, err, self)
	}
	if _, err := connUID(netip.MustParseAddrPort("127.0.0.1:1"), lap); !errors.Is(err, errNoSocket) {
		t.Errorf("no such socket: %v", err)
	}
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := free.Addr().String()
	free.Close()
	if err := VerifyListener(addr); !errors.Is(err, ErrNotYours) {
		t.Errorf("nothing listening: %v, want ErrNotYours", err)
	}
}

func TestParseProcAddr(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"0100007F:1F90", "127.0.0.1:8080", false},
		{"00000000:0050", "0.0.0.0:80", false},
		{"00000000000000000000000001000000:0016", "[::1]:22", false},
		{"0000000000000000FFFF00000100007F:1F90", "127.0.0.1:8080", false}, // ::ffff:127.0.0.1
		{"0100007F", "", true},
		{"XYZ:0050", "", true},
		{"0100007F:FFFFF", "", true},
	}
	for _, tc := range tests {
		got, err := parseProcAddr(tc.in)
		if (err != nil) != tc.wantErr || (err == nil && got.String() != tc.want) {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestUnixSocketPathTooLong names the fix instead of the kernel's EINVAL.
func TestUnixSocketPathTooLong(t *testing.T) {
	path := filepath.Join(t.TempDir(), strings.Repeat("s", 110))
	s := NewServer(Options{Token: testToken, Listen: ListenNone, UnixSocket: path}, newFakePhone())
	err := s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "set [control] unix_socket to a shorter path") {
		t.Errorf("start: %v", err)
	}
	_ = s.Close(context.Background())
}
