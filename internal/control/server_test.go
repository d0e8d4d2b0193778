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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/phone"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// request sends one raw request and returns status, headers and body.
func request(t *testing.T, s *Server, method, path, auth, body string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func errorCode(t *testing.T, b []byte) ErrorBody {
	t.Helper()
	var eb ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Fatalf("error body %q is not JSON: %v", b, err)
	}
	if eb.Error == "" {
		t.Fatalf("error body %q has no message", b)
	}
	return eb
}

func TestAuth(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{})
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no header", "GET", "/v1/status", "", 401},
		{"wrong token", "GET", "/v1/status", "Bearer nope", 401},
		{"token prefix", "GET", "/v1/status", "Bearer " + testToken[:10], 401},
		{"token plus", "GET", "/v1/status", "Bearer " + testToken + "x", 401},
		{"basic scheme", "GET", "/v1/status", "Basic " + testToken, 401},
		{"scheme only", "GET", "/v1/status", "Bearer", 401},
		{"events", "GET", "/v1/events", "Bearer nope", 401},
		{"action", "POST", "/v1/answer", "", 401},
		{"action by id", "POST", "/v1/calls/c1/hangup", "Bearer nope", 401},
		{"dial", "POST", "/v1/calls", "", 401},
		{"unknown v1 route", "GET", "/v1/nope", "", 401},
		{"right token", "GET", "/v1/status", "Bearer " + testToken, 200},
		{"scheme is case-insensitive", "GET", "/v1/status", "bearer " + testToken, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, b := request(t, s, tc.method, tc.path, tc.auth, "")
			if status != tc.want {
				t.Fatalf("status %d, want %d (%s)", status, tc.want, b)
			}
			if tc.want != 401 {
				return
			}
			if eb := errorCode(t, b); eb.Code != CodeUnauthorized {
				t.Errorf("code %q, want %q", eb.Code, CodeUnauthorized)
			}
			if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q", got)
			}
		})
	}
	if got := f.recorded(); len(got) != 0 {
		t.Errorf("unauthorised requests reached the phone: %q", got)
	}
	select {
	case <-f.subscribed:
		t.Error("unauthorised event request subscribed")
	default:
	}
}

func TestRoutes(t *testing.T) {
	auth := "Bearer " + testToken
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantCode                 ErrorCode // for error answers
		wantAction               string    // what the phone was asked, "" = nothing
		wantBody                 string    // substring of a success body
		wantAllow                string
	}{
		{name: "status", method: "GET", path: "/v1/status", wantStatus: 200, wantBody: `"version":"1.2.3"`},
		{name: "devices", method: "GET", path: "/v1/devices", wantStatus: 200, wantBody: `"reason":"no headset"`},
		{name: "calls", method: "GET", path: "/v1/calls", wantStatus: 200, wantBody: `[{"id":"c1"`},
		{name: "call by id", method: "GET", path: "/v1/calls/c1", wantStatus: 200, wantBody: `"remote":"sip:alice@example.com"`},
		{name: "call unknown", method: "GET", path: "/v1/calls/c9", wantStatus: 404, wantCode: CodeNoSuchCall},

		{name: "dial", method: "POST", path: "/v1/calls", body: `{"uri":"sip:bob@example.com","connection":1}`, wantStatus: 201, wantAction: "dial sip:bob@example.com 1", wantBody: `"id":"c2"`},
		{name: "dial default connection", method: "POST", path: "/v1/calls", body: `{"uri":"sip:bob@example.com"}`, wantStatus: 201, wantAction: "dial sip:bob@example.com -1"},
		{name: "dial connection 0", method: "POST", path: "/v1/calls", body: `{"uri":"sip:bob@example.com","connection":0}`, wantStatus: 201, wantAction: "dial sip:bob@example.com 0"},
		{name: "dial no uri", method: "POST", path: "/v1/calls", body: `{}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "dial empty body", method: "POST", path: "/v1/calls", wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "dial bad connection", method: "POST", path: "/v1/calls", body: `{"uri":"sip:b@x","connection":-2}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "dial bad json", method: "POST", path: "/v1/calls", body: `{"uri":`, wantStatus: 400, wantCode: CodeBadRequest},
		{name: "dial wrong type", method: "POST", path: "/v1/calls", body: `{"uri":5}`, wantStatus: 400, wantCode: CodeBadRequest},
		{name: "dial unknown field", method: "POST", path: "/v1/calls", body: `{"uri":"sip:b@x","conection":1}`, wantStatus: 400, wantCode: CodeBadRequest},
		{name: "dial trailing data", method: "POST", path: "/v1/calls", body: `{"uri":"sip:b@x"} {}`, wantStatus: 400, wantCode: CodeBadRequest},
		{name: "dial body too large", method: "POST", path: "/v1/calls", body: `{"uri":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, wantStatus: 413, wantCode: CodeBodyTooLarge},

		{name: "answer by id", method: "POST", path: "/v1/calls/c1/answer", wantStatus: 204, wantAction: "answer c1"},
		{name: "answer only call", method: "POST", path: "/v1/answer", wantStatus: 204, wantAction: "answer"},
		{name: "answer named in body", method: "POST", path: "/v1/answer", body: `{"call":"c1"}`, wantStatus: 204, wantAction: "answer c1"},
		{name: "answer body names other call", method: "POST", path: "/v1/calls/c1/answer", body: `{"call":"c2"}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "answer body names same call", method: "POST", path: "/v1/calls/c1/answer", body: `{"call":"c1"}`, wantStatus: 204, wantAction: "answer c1"},
		{name: "reject default code", method: "POST", path: "/v1/calls/c1/reject", wantStatus: 204, wantAction: "reject c1 486"},
		{name: "reject with code", method: "POST", path: "/v1/reject", body: `{"code":603}`, wantStatus: 204, wantAction: "reject  603"},
		{name: "reject code 400", method: "POST", path: "/v1/reject", body: `{"code":400}`, wantStatus: 204, wantAction: "reject  400"},
		{name: "reject code 699", method: "POST", path: "/v1/reject", body: `{"code":699}`, wantStatus: 204, wantAction: "reject  699"},
		{name: "reject code 399", method: "POST", path: "/v1/reject", body: `{"code":399}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "reject code 700", method: "POST", path: "/v1/reject", body: `{"code":700}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "reject code 200", method: "POST", path: "/v1/calls/c1/reject", body: `{"code":200}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "hangup by id", method: "POST", path: "/v1/calls/c1/hangup", wantStatus: 204, wantAction: "hangup c1"},
		{name: "hangup", method: "POST", path: "/v1/hangup", body: `{}`, wantStatus: 204, wantAction: "hangup"},
		{name: "hold by id", method: "POST", path: "/v1/calls/c1/hold", wantStatus: 204, wantAction: "hold c1"},
		{name: "hold", method: "POST", path: "/v1/hold", wantStatus: 204, wantAction: "hold"},
		{name: "resume by id", method: "POST", path: "/v1/calls/c1/resume", wantStatus: 204, wantAction: "resume c1"},
		{name: "resume", method: "POST", path: "/v1/resume", body: `{"call":"c1"}`, wantStatus: 204, wantAction: "resume c1"},
		{name: "dtmf by id", method: "POST", path: "/v1/calls/c1/dtmf", body: `{"digits":"12#"}`, wantStatus: 204, wantAction: "dtmf c1 12#"},
		{name: "dtmf", method: "POST", path: "/v1/dtmf", body: `{"digits":"*9"}`, wantStatus: 204, wantAction: "dtmf  *9"},
		{name: "dtmf no digits", method: "POST", path: "/v1/dtmf", body: `{}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "transfer by id", method: "POST", path: "/v1/calls/c1/transfer", body: `{"target":"sip:carol@example.com"}`, wantStatus: 204, wantAction: "transfer c1 sip:carol@example.com"},
		{name: "transfer", method: "POST", path: "/v1/transfer", body: `{"call":"c1","target":"sip:carol@example.com"}`, wantStatus: 204, wantAction: "transfer c1 sip:carol@example.com"},
		{name: "transfer no target", method: "POST", path: "/v1/transfer", body: `{"call":"c1"}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "attended transfer by id", method: "POST", path: "/v1/calls/c1/transfer", body: `{"to_call":"c2"}`, wantStatus: 204, wantAction: "attended-transfer c1 c2"},
		{name: "attended transfer, the other call", method: "POST", path: "/v1/transfer", body: `{"to_call":"c2"}`, wantStatus: 204, wantAction: "attended-transfer  c2"},
		{name: "transfer target and to_call", method: "POST", path: "/v1/transfer", body: `{"target":"sip:c@x","to_call":"c2"}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "action bad json", method: "POST", path: "/v1/hold", body: `hold please`, wantStatus: 400, wantCode: CodeBadRequest},

		{name: "GET on an action", method: "GET", path: "/v1/answer", wantStatus: 405, wantCode: CodeMethodNotAllowed, wantAllow: "POST"},
		{name: "GET on an id action", method: "GET", path: "/v1/calls/c1/hangup", wantStatus: 405, wantCode: CodeMethodNotAllowed, wantAllow: "POST"},
		{name: "DELETE calls", method: "DELETE", path: "/v1/calls", wantStatus: 405, wantCode: CodeMethodNotAllowed, wantAllow: "GET, POST"},
		{name: "POST status", method: "POST", path: "/v1/status", wantStatus: 405, wantCode: CodeMethodNotAllowed, wantAllow: "GET"},
		{name: "POST events", method: "POST", path: "/v1/events", wantStatus: 405, wantCode: CodeMethodNotAllowed, wantAllow: "GET"},
		{name: "PUT call", method: "PUT", path: "/v1/calls/c1", wantStatus: 405, wantCode: CodeMethodNotAllowed, wantAllow: "GET"},
		{name: "unknown v1 route", method: "GET", path: "/v1/nope", wantStatus: 404, wantCode: CodeNotFound},
		{name: "unknown call verb", method: "POST", path: "/v1/calls/c1/park", wantStatus: 404, wantCode: CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePhone()
			s, _ := startServer(t, f, Options{})
			status, h, b := request(t, s, tc.method, tc.path, auth, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", status, tc.wantStatus, b)
			}
			if ct := h.Get("Content-Type"); status != 204 && ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if tc.wantCode != CodeUnknown {
				if eb := errorCode(t, b); eb.Code != tc.wantCode {
					t.Errorf("code %q, want %q (%s)", eb.Code, tc.wantCode, eb.Error)
				}
			} else if !strings.Contains(string(b), tc.wantBody) {
				t.Errorf("body %s lacks %s", b, tc.wantBody)
			}
			if tc.wantAllow != "" && h.Get("Allow") != tc.wantAllow {
				t.Errorf("Allow %q, want %q", h.Get("Allow"), tc.wantAllow)
			}
			got := f.recorded()
			switch {
			case tc.wantAction == "" && len(got) != 0:
				t.Errorf("phone asked %q, want nothing", got)
			case tc.wantAction != "" && (len(got) != 1 || got[0] != tc.wantAction):
				t.Errorf("phone asked %q, want [%q]", got, tc.wantAction)
			}
			if tc.method == "POST" && tc.path == "/v1/calls" && status == 201 && h.Get("Location") != "/v1/calls/c2" {
				t.Errorf("Location %q", h.Get("Location"))
			}
		})
	}
}

func TestNonAPIPathsAreReserved(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{})
	for _, path := range []string{"/api", "/v2/status", "/status", "/index.html", "/page/", "/page/nope.js"} {
		for _, auth := range []string{"", "Bearer " + testToken} {
			status, _, b := request(t, s, "GET", path, auth, "")
			if status != 404 {
				t.Errorf("GET %s (auth %v): status %d, want 404", path, auth != "", status)
				continue
			}
			if eb := errorCode(t, b); eb.Code != CodeNotFound {
				t.Errorf("GET %s: code %q", path, eb.Code)
			}
		}
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   ErrorCode
		wantIs     error
	}{
		{"no such call", fmt.Errorf("phone: answer c9: %w", phone.ErrNoSuchCall), 404, CodeNoSuchCall, phone.ErrNoSuchCall},
		{"ambiguous", phone.ErrAmbiguousCall, 409, CodeAmbiguousCall, phone.ErrAmbiguousCall},
		{"blocked", fmt.Errorf("phone: dial: %w", phone.ErrOutgoingBlocked), 403, CodeOutgoingBlocked, phone.ErrOutgoingBlocked},
		{"invalid state", fmt.Errorf("phone: hold c1 ringing: %w", phone.ErrInvalidState), 409, CodeInvalidState, phone.ErrInvalidState},
		{"invalid argument", fmt.Errorf("phone: dtmf %q: %w", "x", phone.ErrInvalidArgument), 400, CodeInvalidArgument, phone.ErrInvalidArgument},
		{"other", errors.New("sip: transport closed"), 500, CodeInternal, nil},
	}
	ctx := context.Background()
	calls := []struct {
		name string
		do   func(c *Client) error
	}{
		{"dial", func(c *Client) error { _, err := c.Dial(ctx, "sip:b@x", -1); return err }},
		{"answer", func(c *Client) error { return c.Answer(ctx, "") }},
		{"reject", func(c *Client) error { return c.Reject(ctx, "c1", 0) }},
		{"hangup", func(c *Client) error { return c.Hangup(ctx, "c1") }},
		{"hold", func(c *Client) error { return c.Hold(ctx, "") }},
		{"resume", func(c *Client) error { return c.Resume(ctx, "c1") }},
		{"dtmf", func(c *Client) error { return c.DTMF(ctx, "", "1") }},
		{"transfer", func(c *Client) error { return c.Transfer(ctx, "c1", "sip:c@x") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePhone()
			f.setErr(tc.err)
			_, c := startServer(t, f, Options{})
			for _, call := range calls {
				err := call.do(c)
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("%s: error %v is not an *APIError", call.name, err)
				}
				if ae.Status != tc.wantStatus || ae.Code != tc.wantCode {
					t.Errorf("%s: %d %s, want %d %s", call.name, ae.Status, ae.Code, tc.wantStatus, tc.wantCode)
				}
				if ae.Error() != tc.err.Error() {
					t.Errorf("%s: message %q, want the phone's %q", call.name, ae.Error(), tc.err.Error())
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("%s: errors.Is(%v, %v) is false", call.name, err, tc.wantIs)
				}
			}
			if n := len(f.recorded()); n != len(calls) {
				t.Errorf("phone saw %d actions, want %d", n, len(calls))
			}
		})
	}
}

func TestClientReads(t *testing.T) {
	f := newFakePhone()
	_, c := startServer(t, f, Options{})
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != "1.2.3" || len(st.Registrations) != 2 || len(st.Calls) != 1 || !st.Started.Equal(f.status.Started) {
		t.Errorf("status %+v", st)
	}
	v, err := c.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var verdict struct{ Reason string }
	if err := json.Unmarshal(v, &verdict); err != nil || verdict.Reason != "no headset" {
		t.Errorf("devices %s (%v)", v, err)
	}
	calls, err := c.Calls(ctx)
	if err != nil || len(calls) != 1 || calls[0].RemoteName != "Alice" {
		t.Errorf("calls %+v (%v)", calls, err)
	}
	call, err := c.Call(ctx, "c1")
	if err != nil || call.ID != "c1" || call.State != "ringing" {
		t.Errorf("call %+v (%v)", call, err)
	}
	if _, err := c.Call(ctx, "c/9"); !errors.Is(err, phone.ErrNoSuchCall) {
		t.Errorf("unknown call: %v", err)
	}
	bad := NewClient(strings.TrimPrefix(c.base, "http://"), "wrong")
	_, err = bad.Status(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != CodeUnauthorized {
		t.Errorf("wrong token: %v", err)
	}
}

func TestEmptyAnswersAreJSONArrays(t *testing.T) {
	f := newFakePhone()
	f.calls = nil
	f.status.Registrations = nil
	f.verdict = nil
	s, _ := startServer(t, f, Options{})
	auth := "Bearer " + testToken
	for path, want := range map[string]string{
		"/v1/calls":   "[]\n",
		"/v1/devices": "null\n",
	} {
		if _, _, b := request(t, s, "GET", path, auth, ""); string(b) != want {
			t.Errorf("%s: %q, want %q", path, b, want)
		}
	}
	_, _, b := request(t, s, "GET", "/v1/status", auth, "")
	for _, want := range []string{`"calls":[]`, `"registrations":[]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("status %s lacks %s", b, want)
		}
	}
}

func TestStartErrors(t *testing.T) {
	f := newFakePhone()
	tests := []struct {
		name    string
		opts    Options
		phone   Phone
		wantErr error
	}{
		{"no token", Options{Listen: "127.0.0.1:0"}, f, ErrNoToken},
		{"no phone", Options{Listen: "127.0.0.1:0", Token: testToken}, nil, ErrNoPhone},
		{"bad address", Options{Listen: "127.0.0.1:99999", Token: testToken}, f, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(tc.opts, tc.phone)
			err := s.Start(context.Background())
			if err == nil {
				t.Fatal("start succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if s.Addr() != "" {
				t.Errorf("Addr %q after a failed start", s.Addr())
			}
			if err := s.Close(context.Background()); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}

func TestStartTwiceAndAfterClose(t *testing.T) {
	s, _ := startServer(t, newFakePhone(), Options{})
	if err := s.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Errorf("second start: %v, want ErrStarted", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("start after close: %v, want ErrClosed", err)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Error("closed server still accepts connections")
	}
}

func TestDefaultListen(t *testing.T) {
	s := NewServer(Options{Token: testToken}, newFakePhone())
	if s.opts.Listen != config.DefaultControlListen() || s.opts.KeepAlive != DefaultKeepAlive || s.opts.EventWriteTimeout != DefaultEventWriteTimeout {
		t.Errorf("defaults %+v", s.opts)
	}
}

// TestEventWireFormat reads the stream raw and checks the exact bytes of
// one event block.
func TestEventWireFormat(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{})
	req, _ := http.NewRequest("GET", "http://"+s.Addr()+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("cache control %q", cc)
	}
	sub := waitSub(t, f)
	ev := callEvent(7, "c1", "ringing")
	ev.Type = "call\ninjected: x"
	go sub.send(ev)
	br := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 4 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v after %q", err, lines)
		}
		lines = append(lines, l)
	}
	data, _ := json.Marshal(ev)
	want := []string{"id: 7\n", "event: callinjected: x\n", "data: " + string(data) + "\n", "\n"}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}
}

func TestEventsInOrder(t *testing.T) {
	f := newFakePhone()
	_, c := startServer(t, f, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 200
	got := make(chan phone.Event, n)
	done := make(chan error, 1)
	go func() { done <- c.Events(ctx, func(ev phone.Event) { got <- ev }) }()
	sub := waitSub(t, f)
	types := []string{"call", "registration", "devices", "dtmf"}
	for i := 1; i <= n; i++ {
		ev := callEvent(uint64(i), fmt.Sprintf("c%d", i), "ringing")
		ev.Type = types[i%len(types)]
		if !sub.send(ev) {
			t.Fatalf("event %d not taken", i)
		}
	}
	for i := 1; i <= n; i++ {
		ev := <-got
		var ci phone.CallInfo
		if err := json.Unmarshal(ev.Data, &ci); err != nil {
			t.Fatal(err)
		}
		if ev.Seq != uint64(i) || ev.Type != types[i%len(types)] || ci.ID != fmt.Sprintf("c%d", i) || ev.Time.Nanosecond() != i {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Events after cancel: %v", err)
	}
	select {
	case <-sub.cancelled():
	case <-time.After(10 * time.Second):
		t.Error("server kept the subscription after the client left")
	}
}

// TestEventsSlowReader sends more than the socket buffers hold, in a
// burst no larger than the stream's queue, to a client that reads slowly:
// every event arrives, in order and whole.
func TestEventsSlowReader(t *testing.T) {
	f := newFakePhone()
	const n = 400
	_, c := startServer(t, f, Options{EventQueue: n})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	payload := strings.Repeat("x", 32<<10) // 400 × 32 KiB ≈ 13 MiB
	var (
		mu      sync.Mutex
		seqs    []uint64
		corrupt int
	)
	all := make(chan struct{})
	gap := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.Events(ctx, func(ev phone.Event) {
			var d struct{ P string }
			if json.Unmarshal(ev.Data, &d) != nil || d.P != payload {
				corrupt++
			}
			mu.Lock()
			seqs = append(seqs, ev.Seq)
			k := len(seqs)
			mu.Unlock()
			if ev.Seq != uint64(k) {
				select {
				case gap <- k:
				default:
				}
			}
			if k%50 == 0 {
				time.Sleep(20 * time.Millisecond) // a slow reader, not a synchronisation
			}
			if k == n {
				close(all)
			}
		})
	}()
	sub := waitSub(t, f)
	data, _ := json.Marshal(struct{ P string }{payload})
	var sent sync.WaitGroup
	sent.Add(1)
	go func() {
		defer sent.Done()
		for i := 1; i <= n; i++ {
			if !sub.send(phone.Event{Seq: uint64(i), Type: "call", Data: data}) {
				t.Errorf("event %d refused", i)
				return
			}
		}
	}()
	select {
	case <-all:
	case k := <-gap:
		cancel()
		sub.cancel()
		sent.Wait()
		<-done
		t.Fatalf("event %d arrived out of sequence: events were lost", k)
	case <-time.After(30 * time.Second): // hang guard: a lossy server never delivers them all
		cancel()
		sub.cancel()
		sent.Wait()
		<-done
		mu.Lock()
		got := len(seqs)
		mu.Unlock()
		t.Fatalf("%d of %d events arrived: events were lost", got, n)
	}
	sent.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Events: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if corrupt != 0 {
		t.Errorf("%d events arrived damaged", corrupt)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("event %d has seq %d: lost or reordered", i+1, s)
		}
	}
}

// TestEventsStalledClientIsCut connects a client that never reads: once a
// write has blocked for EventWriteTimeout the server ends the stream and
// gives the subscription back.
func TestEventsStalledClientIsCut(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{EventWriteTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	fmt.Fprintf(conn, "GET /v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", s.Addr(), testToken)
	sub := waitSub(t, f)
	data, _ := json.Marshal(struct{ P string }{strings.Repeat("y", 64<<10)})
	sent := 0
	for seq := uint64(1); sub.send(phone.Event{Seq: seq, Type: "call", Data: data}); seq++ {
		sent++
	}
	select {
	case <-sub.cancelled():
	default:
		t.Fatal("send refused but the subscription is live")
	}
	if sent == 0 {
		t.Error("the stalled client was cut before any event")
	}
	t.Logf("%d events of 64 KiB taken before the stalled client was cut", sent)
}

func TestEventsKeepAlive(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{KeepAlive: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.Addr()+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	comments := 0
	for comments < 2 && sc.Scan() {
		if sc.Text() == ": keep-alive" {
			comments++
		}
	}
	if comments < 2 {
		t.Fatalf("saw %d keep-alive comments: %v", comments, sc.Err())
	}
}

func TestPhoneEndsStream(t *testing.T) {
	f := newFakePhone()
	_, c := startServer(t, f, Options{})
	done := make(chan error, 1)
	go func() { done <- c.Events(context.Background(), func(phone.Event) {}) }()
	sub := waitSub(t, f)
	sub.cancel() // the phone shuts down: the channel closes
	if err := <-done; !errors.Is(err, ErrStreamEnded) {
		t.Errorf("Events: %v, want ErrStreamEnded", err)
	}
}

func TestCloseEndsStreams(t *testing.T) {
	f := newFakePhone()
	s, c := startServer(t, f, Options{})
	const clients = 3
	done := make(chan error, clients)
	for i := 0; i < clients; i++ {
		go func() { done <- c.Events(context.Background(), func(phone.Event) {}) }()
	}
	subs := make([]*fakeSub, clients)
	for i := range subs {
		subs[i] = waitSub(t, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	for i := 0; i < clients; i++ {
		if err := <-done; !errors.Is(err, ErrStreamEnded) {
			t.Errorf("Events: %v, want ErrStreamEnded", err)
		}
	}
	for i, sub := range subs {
		select {
		case <-sub.cancelled():
		default:
			t.Errorf("subscription %d still live after Close", i)
		}
	}
}

// TestCloseWaitsForRequests lets a dial in flight finish during Close.
func TestCloseWaitsForRequests(t *testing.T) {
	f := &blockingDial{fakePhone: newFakePhone(), entered: make(chan struct{}), release: make(chan struct{})}
	s := NewServer(Options{Listen: "127.0.0.1:0", Token: testToken}, f)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := NewClient(s.Addr(), testToken)
	res := make(chan error, 1)
	go func() { _, err := c.Dial(context.Background(), "sip:b@x", -1); res <- err }()
	<-f.entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a request in flight", err)
	case err := <-res:
		t.Fatalf("dial ended (%v) before it was released", err)
	case <-s.done:
	}
	close(f.release)
	if err := <-res; err != nil {
		t.Errorf("dial during close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("close: %v", err)
	}
}

type blockingDial struct {
	*fakePhone
	entered, release chan struct{}
}

func (b *blockingDial) Dial(ctx context.Context, uri string, conn int) (phone.CallInfo, error) {
	close(b.entered)
	<-b.release
	return b.fakePhone.Dial(ctx, uri, conn)
}

// TestCloseGivesUp cancels a request that outlives Close's context.
func TestCloseGivesUp(t *testing.T) {
	f := &ctxDial{fakePhone: newFakePhone(), entered: make(chan struct{})}
	s := NewServer(Options{Listen: "127.0.0.1:0", Token: testToken}, f)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := NewClient(s.Addr(), testToken)
	res := make(chan error, 1)
	go func() { _, err := c.Dial(context.Background(), "sip:b@x", -1); res <- err }()
	<-f.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("close: %v, want context.Canceled", err)
	}
	if err := <-res; err == nil {
		t.Error("dial cut by Close reported success")
	}
}

type ctxDial struct {
	*fakePhone
	entered chan struct{}
}

func (d *ctxDial) Dial(ctx context.Context, _ string, _ int) (phone.CallInfo, error) {
	close(d.entered)
	<-ctx.Done()
	return phone.CallInfo{}, ctx.Err()
}
