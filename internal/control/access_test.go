package control

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestHostAllowed(t *testing.T) {
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8743}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 8743}
	lan := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 8743}
	tests := []struct {
		host  string
		bound *net.TCPAddr
		want  bool
	}{
		{"127.0.0.1:8743", lo, true},
		{"localhost:8743", lo, true},
		{"LocalHost:8743", lo, true},
		{"[::1]:8743", lo, true},
		{"127.0.0.1:8744", lo, false},
		{"127.0.0.1", lo, false},
		{"evil.example:8743", lo, false},
		{"localhost.evil.example:8743", lo, false},
		{"192.0.2.10:8743", lo, false},
		{"", lo, false},
		{"127.0.0.1:8743", nil, false},
		{"192.0.2.10:8743", any4, true},
		{"localhost:8743", any4, true},
		{"evil.example:8743", any4, false},
		{"192.0.2.10:8743", lan, true},
		{"192.0.2.11:8743", lan, false},
		{"localhost:8743", lan, false},
		{"[fe80::1%eth0]:8743", any4, false},
		{"localhost", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, true},
	}
	for _, tc := range tests {
		if got := hostAllowed(tc.host, tc.bound); got != tc.want {
			t.Errorf("hostAllowed(%q, %v) = %v, want %v", tc.host, tc.bound, got, tc.want)
		}
	}
}

func TestNormaliseOrigin(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://Desktop.Example.com", "https://desktop.example.com"},
		{"https://desktop.example.com/", "https://desktop.example.com"},
		{"https://desktop.example.com:443", "https://desktop.example.com"},
		{"http://desktop.example.com:80", "http://desktop.example.com"},
		{"http://localhost:3000", "http://localhost:3000"},
		{"http://[::1]:3000", "http://[::1]:3000"},
		{"null", ""},
		{"desktop.example.com", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := normaliseOrigin(tc.in); got != tc.want {
			t.Errorf("normaliseOrigin(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// do sends one request with extra headers and an optional Host.
func do(t *testing.T, s *Server, method, path, host string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestHostAndOriginChecks(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{AllowedOrigins: []string{"https://desktop.example.com", "http://localhost:3000/"}})
	port := s.Addr()[strings.LastIndex(s.Addr(), ":")+1:]
	auth := "Bearer " + testToken
	tests := []struct {
		name, method, path, host string
		hdr                      map[string]string
		wantStatus               int
		wantACAO                 string
		wantPNA                  bool
	}{
		{name: "page via 127.0.0.1", method: "GET", path: "/", wantStatus: 200},
		{name: "page via localhost", method: "GET", path: "/", host: "localhost:" + port, wantStatus: 200},
		{name: "page via ::1 name", method: "GET", path: "/", host: "[::1]:" + port, wantStatus: 200},
		{name: "rebound name", method: "GET", path: "/", host: "attacker.example:" + port, wantStatus: 403},
		{name: "rebound name on api", method: "GET", path: "/v1/status", host: "attacker.example:" + port, hdr: map[string]string{"Authorization": auth}, wantStatus: 403},
		{name: "wrong port", method: "GET", path: "/session", host: "127.0.0.1:1", hdr: map[string]string{"Authorization": auth}, wantStatus: 403},
		{name: "allowed origin", method: "GET", path: "/session", hdr: map[string]string{"Authorization": auth, "Origin": "https://desktop.example.com"}, wantStatus: 200, wantACAO: "https://desktop.example.com"},
		{name: "allowed origin other case", method: "GET", path: "/v1/status", hdr: map[string]string{"Authorization": auth, "Origin": "http://LOCALHOST:3000"}, wantStatus: 200, wantACAO: "http://LOCALHOST:3000"},
		{name: "foreign origin", method: "GET", path: "/session", hdr: map[string]string{"Authorization": auth, "Origin": "https://evil.example"}, wantStatus: 403},
		{name: "foreign origin on page", method: "GET", path: "/", hdr: map[string]string{"Origin": "https://evil.example"}, wantStatus: 403},
		{name: "null origin", method: "POST", path: "/register", hdr: map[string]string{"Authorization": auth, "Origin": "null"}, wantStatus: 403},
		{name: "same origin as page", method: "POST", path: "/v1/answer", hdr: map[string]string{"Authorization": auth, "Origin": "http://" + s.Addr()}, wantStatus: 204},
		{name: "allowed origin without token", method: "GET", path: "/session", hdr: map[string]string{"Origin": "https://desktop.example.com"}, wantStatus: 401, wantACAO: "https://desktop.example.com"},
		{name: "preflight", method: "OPTIONS", path: "/audio", hdr: map[string]string{"Origin": "https://desktop.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}, wantStatus: 204, wantACAO: "https://desktop.example.com"},
		{name: "private network preflight", method: "OPTIONS", path: "/calls", hdr: map[string]string{"Origin": "https://desktop.example.com", "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Private-Network": "true"}, wantStatus: 204, wantACAO: "https://desktop.example.com", wantPNA: true},
		{name: "preflight foreign origin", method: "OPTIONS", path: "/audio", hdr: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Private-Network": "true"}, wantStatus: 403},
		{name: "OPTIONS without origin", method: "OPTIONS", path: "/audio", hdr: map[string]string{"Authorization": auth}, wantStatus: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, s, tc.method, tc.path, tc.host, tc.hdr)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantACAO {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.wantACAO)
			}
			if got := resp.Header.Get("Access-Control-Allow-Private-Network"); (got == "true") != tc.wantPNA {
				t.Errorf("Access-Control-Allow-Private-Network %q, want %v", got, tc.wantPNA)
			}
			if tc.method == "OPTIONS" && tc.wantStatus == 204 {
				if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "DELETE") || !strings.Contains(m, "POST") {
					t.Errorf("Access-Control-Allow-Methods %q", m)
				}
				if h := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(h, "Authorization") {
					t.Errorf("Access-Control-Allow-Headers %q", h)
				}
			}
		})
	}
	want := []string{"answer"}
	if got := f.recorded(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("phone asked %q, want %q: a refused request reached it", got, want)
	}
}

func TestConnectorWithoutToken(t *testing.T) {
	// remote "real" sends the request from a real loopback socket of this
	// process's user; other addresses are set on a recorded request.
	tests := []struct {
		name       string
		open       bool
		path       string
		remote     string
		auth       string
		wantStatus int
	}{
		{"closed by default", false, "/session", "real", "", 401},
		{"open to the own user on loopback", true, "/session", "real", "", 200},
		{"a loopback address no socket of the user holds is refused", true, "/session", "127.0.0.1:5555", "", 403},
		{"not to the lan", true, "/session", "192.0.2.7:5555", "", 401},
		{"a wrong token is still wrong", true, "/session", "real", "Bearer nope", 401},
		{"the right token still works", true, "/session", "192.0.2.7:5555", "Bearer " + testToken, 200},
		{"v1 always needs the token", true, "/v1/status", "real", "", 401},
		{"page needs none", false, "/", "192.0.2.7:5555", "", 200},
		{"openapi needs none", false, "/v1/openapi.json", "192.0.2.7:5555", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := startServer(t, newFakePhone(), Options{ConnectorWithoutToken: tc.open})
			if tc.remote == "real" {
				status, _, b := request(t, s, "GET", tc.path, tc.auth, "")
				if status != tc.wantStatus {
					t.Errorf("status %d, want %d (%s)", status, tc.wantStatus, b)
				}
				return
			}
			h := s.Handler()
			req := httptest.NewRequest("GET", "http://"+s.Addr()+tc.path, nil)
			req.RemoteAddr = tc.remote
			req = req.WithContext(context.WithValue(req.Context(), connInfoKey{}, &connInfo{kind: connTCP}))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Errorf("status %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
		})
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "softphone.sock")
	f := newFakePhone()
	s := NewServer(Options{Listen: ListenNone, UnixSocket: sock, Token: testToken, ConnectorWithoutToken: true}, f)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %04o, want 0600", perm)
	}
	if s.Addr() != "" {
		t.Errorf("Addr %q without a tcp listener", s.Addr())
	}
	ctx := context.Background()
	c := NewClient("unix:"+sock, testToken)
	if _, err := c.Status(ctx); err != nil {
		t.Errorf("status over the socket: %v", err)
	}
	if err := c.Answer(ctx, "c1"); err != nil {
		t.Errorf("answer over the socket: %v", err)
	}
	noToken := NewClient("unix:"+sock, "")
	if _, err := noToken.Session(ctx); err != nil {
		t.Errorf("connector over the socket without token: %v", err)
	}
	var ae *APIError
	if _, err := noToken.Status(ctx); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("v1 over the socket without token: %v", err)
	}
	// A second server on the same path is refused while the first runs.
	s2 := NewServer(Options{Listen: ListenNone, UnixSocket: sock, Token: testToken}, f)
	if err := s2.Start(ctx); !errors.Is(err, ErrSocketInUse) {
		t.Errorf("second server: %v, want ErrSocketInUse", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}
	if got := f.recorded(); len(got) != 1 || got[0] != "answer c1" {
		t.Errorf("phone asked %q", got)
	}
}

func TestUnixSocketStaleAndErrors(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // leaves the file, as a crash would
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		wantErr error
		wantOK  bool
	}{
		{"stale socket is replaced", Options{Listen: ListenNone, UnixSocket: stale}, nil, true},
		{"regular file is kept", Options{Listen: ListenNone, UnixSocket: plain}, nil, false},
		{"nothing to serve", Options{Listen: ListenNone}, ErrNoListener, false},
		{"tcp and unix together", Options{Listen: "127.0.0.1:0", UnixSocket: filepath.Join(dir, "both.sock")}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Token = testToken
			s := NewServer(tc.opts, newFakePhone())
			err := s.Start(context.Background())
			defer s.Close(context.Background())
			if (err == nil) != tc.wantOK {
				t.Fatalf("start: %v, want ok=%v", err, tc.wantOK)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("start: %v, want %v", err, tc.wantErr)
			}
			if !tc.wantOK {
				return
			}
			if _, err := NewClient("unix:"+tc.opts.UnixSocket, testToken).Status(context.Background()); err != nil {
				t.Errorf("status over the socket: %v", err)
			}
			if tc.opts.Listen != ListenNone {
				if _, err := strconv.Atoi(s.Addr()[strings.LastIndex(s.Addr(), ":")+1:]); err != nil {
					t.Errorf("Addr %q", s.Addr())
				}
				if _, err := NewClient(s.Addr(), testToken).Status(context.Background()); err != nil {
					t.Errorf("status over tcp: %v", err)
				}
			}
		})
	}
	if b, err := os.ReadFile(plain); err != nil || string(b) != "x" {
		t.Errorf("regular file touched: %q %v", b, err)
	}
}
