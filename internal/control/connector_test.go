package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
)

func TestConnectorRoutes(t *testing.T) {
	auth := "Bearer " + testToken
	tests := []struct {
		name, method, path, body string
		phoneErr                 error
		wantStatus               int
		wantCode                 ErrorCode
		wantAction               string
		wantBody                 []string
	}{
		{name: "session", method: "GET", path: "/session", wantStatus: 200, wantBody: []string{
			`"devices":{"speaker":{"name":"Jabra Out","volume":70,"muted":false},"microphone":{"name":"Jabra Mic","volume":55,"muted":true},"headset_used":true}`,
			`"phone":{"local_mos":4.2,"rtt_ms":38,"vq_alarm_on":false,"calls":[{"uuid":"c1","state":"ringing"`,
			`"answered":null`,
			`"connectivities":{"protocol":"sip","connections":[{"connection":0,"server":"pbx.example.com","user":"agent1","transport":"udp","state":"registered","detail":""}`,
			`"status":"partial"`}},
		{name: "logout", method: "DELETE", path: "/session", wantStatus: 200, wantAction: "stop-connections", wantBody: []string{`"connectivities":`}},
		{name: "logout fails", method: "DELETE", path: "/session", phoneErr: errors.New("sip: transport down"), wantStatus: 500, wantCode: CodeInternal, wantAction: "stop-connections"},
		{name: "register", method: "POST", path: "/register", wantStatus: 200, wantAction: "start-connections", wantBody: []string{`"status":"partial"`}},
		{name: "unregister", method: "DELETE", path: "/register", wantStatus: 200, wantAction: "stop-connections"},
		{name: "audio both sides", method: "POST", path: "/audio", body: `{"microphone":{"muted":false,"volume":80},"speaker":{"volume":60}}`, wantStatus: 200,
			wantAction: "audio speaker=60/- microphone=80/false", wantBody: []string{`"speaker":{"name":"Jabra Out","volume":60,"muted":false}`, `"microphone":{"name":"Jabra Mic","volume":80,"muted":false}`}},
		{name: "audio mute only", method: "POST", path: "/audio", body: `{"microphone":{"muted":true}}`, wantStatus: 200, wantAction: "audio speaker=-/- microphone=-/true"},
		{name: "audio echo of session devices", method: "POST", path: "/audio", body: `{"speaker":{"name":"x","volume":0,"muted":true},"microphone":{"name":"y","volume":100,"muted":false},"headset_used":true}`,
			wantStatus: 200, wantAction: "audio speaker=0/true microphone=100/false"},
		{name: "audio volume 101", method: "POST", path: "/audio", body: `{"speaker":{"volume":101}}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "audio volume -1", method: "POST", path: "/audio", body: `{"microphone":{"volume":-1}}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "audio nothing", method: "POST", path: "/audio", body: `{}`, wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "audio empty body", method: "POST", path: "/audio", wantStatus: 400, wantCode: CodeInvalidArgument},
		{name: "audio unknown field", method: "POST", path: "/audio", body: `{"speaker":{"gain":3}}`, wantStatus: 400, wantCode: CodeBadRequest},
		{name: "audio string volume", method: "POST", path: "/audio", body: `{"speaker":{"volume":"60"}}`, wantStatus: 400, wantCode: CodeBadRequest},
		{name: "audio refused by phone", method: "POST", path: "/audio", body: `{"speaker":{"volume":5}}`, phoneErr: phone.ErrInvalidArgument, wantStatus: 400, wantCode: CodeInvalidArgument, wantAction: "audio speaker=5/- microphone=-/-"},
		{name: "release all", method: "DELETE", path: "/calls", wantStatus: 200, wantAction: "release-all", wantBody: []string{`{"released":1}`}},
		{name: "release all with failure is 200", method: "DELETE", path: "/calls", phoneErr: errors.New("sip: bye timed out"), wantStatus: 200, wantAction: "release-all", wantBody: []string{`"released":1`, `"error":"sip: bye timed out"`}},
		{name: "GET calls is not a connector route", method: "GET", path: "/calls", wantStatus: 405, wantCode: CodeMethodNotAllowed},
		{name: "PUT session", method: "PUT", path: "/session", wantStatus: 405, wantCode: CodeMethodNotAllowed},
		{name: "unknown root path", method: "GET", path: "/sessions", wantStatus: 404, wantCode: CodeNotFound},
		{name: "reload", method: "POST", path: "/v1/reload", wantStatus: 200, wantAction: "reload", wantBody: []string{`"applied":["policy.device"]`, `"not_applied":["policy.endpoint.sip_port: needs a restart"]`, `"verdict":null`}},
		{name: "reload refused", method: "POST", path: "/v1/reload", phoneErr: phone.ErrInvalidArgument, wantStatus: 400, wantCode: CodeInvalidArgument, wantAction: "reload"},
		{name: "GET reload", method: "GET", path: "/v1/reload", wantStatus: 405, wantCode: CodeMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePhone()
			f.setErr(tc.phoneErr)
			s, _ := startServer(t, f, Options{})
			status, h, b := request(t, s, tc.method, tc.path, auth, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", status, tc.wantStatus, b)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if tc.wantCode != CodeUnknown {
				if eb := errorCode(t, b); eb.Code != tc.wantCode {
					t.Errorf("code %q, want %q (%s)", eb.Code, tc.wantCode, eb.Error)
				}
			}
			for _, want := range tc.wantBody {
				if !strings.Contains(string(b), want) {
					t.Errorf("body %s\nlacks %s", b, want)
				}
			}
			got := f.recorded()
			switch {
			case tc.wantAction == "" && len(got) != 0:
				t.Errorf("phone asked %q, want nothing", got)
			case tc.wantAction != "" && (len(got) != 1 || got[0] != tc.wantAction):
				t.Errorf("phone asked %q, want [%q]", got, tc.wantAction)
			}
		})
	}
}

// TestSessionFieldsAlwaysPresent checks an idle, unregistered phone: every
// field is there and the lists are [] rather than null.
func TestSessionFieldsAlwaysPresent(t *testing.T) {
	f := newFakePhone()
	f.calls = nil
	f.status.Registrations = nil
	f.audio = phone.AudioState{}
	f.quality = phone.Quality{}
	s, _ := startServer(t, f, Options{})
	status, _, b := request(t, s, "GET", "/session", "Bearer "+testToken, "")
	if status != 200 {
		t.Fatalf("status %d: %s", status, b)
	}
	want := `{"devices":{"speaker":{"name":"","volume":0,"muted":false},"microphone":{"name":"","volume":0,"muted":false},"headset_used":false},` +
		`"phone":{"local_mos":0,"rtt_ms":0,"vq_alarm_on":false,"calls":[]},"connectivities":{"protocol":"sip","connections":[]},"status":"disconnected"}` + "\n"
	if string(b) != want {
		t.Errorf("session\n got %s\nwant %s", b, want)
	}
}

func TestSessionCallMapping(t *testing.T) {
	started := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	st := phone.Status{Calls: []phone.CallInfo{{
		ID: "c7", Direction: "outgoing", State: "active", Remote: "sip:bob@x", RemoteName: "Bob", Connection: 1,
		Started: started, Answered: started.Add(3 * time.Second), Held: true,
	}}}
	got := session(st, phone.AudioState{}, phone.Quality{LocalMOS: 3.1, RTTMillis: 120, VQAlarmOn: true})
	if len(got.Phone.Calls) != 1 {
		t.Fatalf("calls %+v", got.Phone.Calls)
	}
	c := got.Phone.Calls[0]
	if c.UUID != "c7" || c.State != "active" || c.Direction != "outgoing" || c.Remote != "sip:bob@x" || c.RemoteName != "Bob" ||
		c.Connection != 1 || !c.Held || !c.Started.Equal(started) || c.Answered == nil || !c.Answered.Equal(started.Add(3*time.Second)) {
		t.Errorf("call %+v", c)
	}
	if got.Phone.LocalMOS != 3.1 || got.Phone.RTTMillis != 120 || !got.Phone.VQAlarmOn {
		t.Errorf("quality %+v", got.Phone)
	}
}

func TestSessionStatusOf(t *testing.T) {
	reg := func(states ...string) []phone.Registration {
		rs := make([]phone.Registration, len(states))
		for i, s := range states {
			rs[i] = phone.Registration{Connection: i, State: s}
		}
		return rs
	}
	tests := []struct {
		name       string
		standalone bool
		regs       []phone.Registration
		want       SessionStatus
	}{
		{"no connections", false, nil, SessionDisconnected},
		{"standalone", true, nil, SessionStandalone},
		{"standalone rows only", true, reg("standalone"), SessionStandalone},
		{"all registered", false, reg("registered", "registered"), SessionConnected},
		{"one of two", false, reg("registered", "failed"), SessionPartial},
		{"registering", false, reg("registering", "unregistered"), SessionConnecting},
		{"all failed", false, reg("failed", "unregistered"), SessionDisconnected},
		{"standalone plus registered", true, reg("registered"), SessionConnected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessionStatusOf(phone.Status{Standalone: tc.standalone, Registrations: tc.regs}); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSessionStatusNames(t *testing.T) {
	tests := []struct {
		in      string
		want    SessionStatus
		wantErr bool
	}{
		{"connected", SessionConnected, false},
		{"partial", SessionPartial, false},
		{"connecting", SessionConnecting, false},
		{"disconnected", SessionDisconnected, false},
		{"standalone", SessionStandalone, false},
		{"unknown", SessionUnknown, true},
		{"", SessionUnknown, true},
		{"Connected", SessionUnknown, true},
	}
	for _, tc := range tests {
		got, err := ParseSessionStatus(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if !tc.wantErr && got.String() != tc.in {
			t.Errorf("String(%v) = %q, want %q", got, got.String(), tc.in)
		}
	}
	if SessionStatus(99).String() != "unknown" || SessionUnknown.String() != "unknown" {
		t.Error("out-of-range status is not unknown")
	}
	var round struct{ S SessionStatus }
	if err := json.Unmarshal([]byte(`{"S":"partial"}`), &round); err != nil || round.S != SessionPartial {
		t.Errorf("unmarshal: %v %v", round.S, err)
	}
}

func TestAudioRequestChange(t *testing.T) {
	i := func(v int) *int { return &v }
	b := func(v bool) *bool { return &v }
	tests := []struct {
		name    string
		req     AudioRequest
		want    phone.AudioChange
		wantErr bool
	}{
		{"speaker volume", AudioRequest{Speaker: &AudioSide{Volume: i(60)}}, phone.AudioChange{SpeakerVolume: i(60)}, false},
		{"mic mute", AudioRequest{Microphone: &AudioSide{Muted: b(true)}}, phone.AudioChange{MicrophoneMuted: b(true)}, false},
		{"both sides bounds", AudioRequest{Speaker: &AudioSide{Volume: i(0), Muted: b(false)}, Microphone: &AudioSide{Volume: i(100)}},
			phone.AudioChange{SpeakerVolume: i(0), SpeakerMuted: b(false), MicrophoneVolume: i(100)}, false},
		{"name only", AudioRequest{Speaker: &AudioSide{Name: new(string)}}, phone.AudioChange{}, true},
		{"headset only", AudioRequest{HeadsetUsed: b(true)}, phone.AudioChange{}, true},
		{"empty", AudioRequest{}, phone.AudioChange{}, true},
		{"volume 101", AudioRequest{Speaker: &AudioSide{Volume: i(101)}}, phone.AudioChange{}, true},
		{"volume -1", AudioRequest{Microphone: &AudioSide{Volume: i(-1), Muted: b(true)}}, phone.AudioChange{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.req.change()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, phone.ErrInvalidArgument) {
					t.Errorf("error %v does not wrap ErrInvalidArgument", err)
				}
				return
			}
			show := func(c phone.AudioChange) string {
				bs, _ := json.Marshal([]any{c.SpeakerVolume, c.SpeakerMuted, c.MicrophoneVolume, c.MicrophoneMuted})
				return string(bs)
			}
			if show(got) != show(tc.want) {
				t.Errorf("change %s, want %s", show(got), show(tc.want))
			}
		})
	}
}

func TestConnectorClient(t *testing.T) {
	f := newFakePhone()
	_, c := startServer(t, f, Options{})
	ctx := context.Background()
	sess, err := c.Session(ctx)
	if err != nil || sess.Status != SessionPartial || len(sess.Connectivities.Connections) != 2 || sess.Devices.Microphone.Name != "Jabra Mic" {
		t.Errorf("session %+v (%v)", sess, err)
	}
	if _, err := c.StartConnections(ctx); err != nil {
		t.Error(err)
	}
	if _, err := c.StopConnections(ctx); err != nil {
		t.Error(err)
	}
	vol := 30
	a, err := c.SetAudio(ctx, AudioRequest{Speaker: &AudioSide{Volume: &vol}})
	if err != nil || a.Speaker.Volume != 30 {
		t.Errorf("audio %+v (%v)", a, err)
	}
	bad := 300
	if _, err := c.SetAudio(ctx, AudioRequest{Speaker: &AudioSide{Volume: &bad}}); !errors.Is(err, phone.ErrInvalidArgument) {
		t.Errorf("bad volume: %v", err)
	}
	r, err := c.ReleaseAll(ctx)
	if err != nil || r.Released != 1 {
		t.Errorf("release %+v (%v)", r, err)
	}
	rep, err := c.Reload(ctx)
	if err != nil || len(rep.Applied) != 1 || rep.Applied[0] != "policy.device" {
		t.Errorf("reload %+v (%v)", rep, err)
	}
	want := []string{"start-connections", "stop-connections", "audio speaker=30/- microphone=-/-", "release-all", "reload"}
	if got := f.recorded(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("phone asked %q, want %q", got, want)
	}
}

func TestCLIReload(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		report   phone.ReloadReport
		phoneErr error
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{name: "report", report: phone.ReloadReport{Applied: []string{"policy.device", "connectivity.0"}, NotApplied: []string{"policy.endpoint.sip_port: needs a restart"}},
			wantOut: []string{"applied      policy.device\n", "applied      connectivity.0\n", "not applied  policy.endpoint.sip_port: needs a restart\n"}},
		{name: "nothing", wantOut: []string{"nothing changed"}},
		{name: "json", args: []string{"--json"}, report: phone.ReloadReport{Applied: []string{"a"}}, wantOut: []string{`"applied": [`, `"not_applied": []`}},
		{name: "bad config", phoneErr: errors.New("config: softphone.ini [policy] use_headset: not a bool"), wantCode: ExitError, wantErr: []string{"softphone reload: config: softphone.ini [policy] use_headset"}},
		{name: "argument", args: []string{"x"}, wantCode: ExitUsage, wantErr: []string{"usage: softphone reload"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePhone()
			f.reload = tc.report
			f.setErr(tc.phoneErr)
			_, c := startServer(t, f, Options{})
			var out, errOut bytes.Buffer
			code := RunCLI(context.Background(), "reload", tc.args, c, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.wantCode, errOut.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout %q lacks %q", out.String(), w)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q lacks %q", errOut.String(), w)
				}
			}
		})
	}
}

func TestPageURL(t *testing.T) {
	tests := []struct {
		listen, token, want string
	}{
		{"127.0.0.1:8743", "abc", "http://127.0.0.1:8743/#token=abc"},
		{"0.0.0.0:9000", "abc", "http://127.0.0.1:9000/#token=abc"},
		{"[::]:9000", "abc", "http://127.0.0.1:9000/#token=abc"},
		{"[::1]:9000", "abc", "http://[::1]:9000/#token=abc"},
		{"localhost:80", "a b&c", "http://localhost/#token=a+b%26c"},
		{":8743", "t", "http://127.0.0.1:8743/#token=t"},
	}
	for _, tc := range tests {
		if got := PageURL(tc.listen, tc.token); got != tc.want {
			t.Errorf("PageURL(%q) = %q, want %q", tc.listen, got, tc.want)
		}
	}
	var buf bytes.Buffer
	if err := PrintPage(&buf, "127.0.0.1:1", "t"); err != nil || buf.String() != "http://127.0.0.1:1/#token=t\n" {
		t.Errorf("PrintPage %q %v", buf.String(), err)
	}
}
