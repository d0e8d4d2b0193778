package sip

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/softphone/softphone/internal/media"
)

func TestEnums(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(string) (int, error)
		str     func(int) string
		in      string
		want    int
		wantErr bool
	}{
		{"action", func(s string) (int, error) { d, err := ParseAction(s); return int(d), err }, func(i int) string { return Action(i).String() }, "Ring", int(ActionRing), false},
		{"call state", func(s string) (int, error) { d, err := ParseCallState(s); return int(d), err }, func(i int) string { return CallState(i).String() }, "held", int(CallStateHeld), false},
		{"call state bad", func(s string) (int, error) { d, err := ParseCallState(s); return int(d), err }, func(i int) string { return CallState(i).String() }, "", 0, true},
		{"reg state", func(s string) (int, error) { d, err := ParseRegState(s); return int(d), err }, func(i int) string { return RegState(i).String() }, "standalone", int(RegStandalone), false},
		{"remote event", func(s string) (int, error) { d, err := ParseRemoteEvent(s); return int(d), err }, func(i int) string { return RemoteEvent(i).String() }, " talk ", int(RemoteTalk), false},
		{"remote event bad", func(s string) (int, error) { d, err := ParseRemoteEvent(s); return int(d), err }, func(i int) string { return RemoteEvent(i).String() }, "dial", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
			if !tc.wantErr && tc.str(got) != strings.ToLower(strings.TrimSpace(tc.in)) {
				t.Fatalf("String() = %q", tc.str(got))
			}
		})
	}
	if CallState(99).String() != "unknown" || media.Direction(-1).String() != "unknown" || CallDirection(2).String() != "outgoing" {
		t.Fatal("out-of-range names")
	}
}

func msgWith(hdrs ...string) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", Host: "x"})
	for i := 0; i+1 < len(hdrs); i += 2 {
		req.AppendHeader(sip.NewHeader(hdrs[i], hdrs[i+1]))
	}
	return req
}

func TestAutoAnswer(t *testing.T) {
	tests := []struct {
		name   string
		hdrs   []string
		want   time.Duration
		wantOK bool
	}{
		{"none", nil, 0, false},
		{"call-info answer-after", []string{"Call-Info", "<sip:127.0.0.1>;answer-after=5"}, 5 * time.Second, true},
		{"call-info answer-after 0", []string{"Call-Info", "<http://x/y>; Answer-After=0"}, 0, true},
		{"call-info other param", []string{"Call-Info", "<http://x/logo.png>;purpose=icon"}, 0, false},
		{"alert-info autoanswer", []string{"Alert-Info", "<http://127.0.0.1>;info=alert-autoanswer"}, 0, true},
		{"alert-info ring", []string{"Alert-Info", "<http://127.0.0.1/ring.wav>"}, 0, false},
		{"answer-mode auto", []string{"Answer-Mode", "Auto"}, 0, true},
		{"answer-mode auto require", []string{"Answer-Mode", "auto;require"}, 0, true},
		{"answer-mode manual", []string{"Answer-Mode", "Manual"}, 0, false},
		{"priv-answer-mode", []string{"Priv-Answer-Mode", "Auto"}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := autoAnswer(msgWith(tc.hdrs...))
			if d != tc.want || ok != tc.wantOK {
				t.Fatalf("autoAnswer = %v %v, want %v %v", d, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseDTMF(t *testing.T) {
	tests := []struct {
		name, ctype, body, want string
		wantErr                 bool
	}{
		{"relay", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5", false},
		{"relay star lower", "application/dtmf-relay; charset=x", "signal= *\r\n", "*", false},
		{"relay letter", "application/dtmf-relay", "Signal=a\r\n", "A", false},
		{"relay missing", "application/dtmf-relay", "Duration=160\r\n", "", true},
		{"relay bad", "application/dtmf-relay", "Signal=55\r\n", "", true},
		{"dtmf", "application/dtmf", "#", "#", false},
		{"dtmf event 10", "application/dtmf", "10", "*", false},
		{"dtmf bad", "application/dtmf", "x", "", true},
		{"other type", "text/plain", "5", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDTMF(tc.ctype, []byte(tc.body))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseDTMF = %q %v, want %q wantErr %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestSessionExpires(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		ref     string
		wantErr bool
	}{
		{"1800", 1800 * time.Second, "", false},
		{"90;refresher=uac", 90 * time.Second, "uac", false},
		{"120; refresher=UAS", 120 * time.Second, "uas", false},
		{"0", 0, "", true},
		{"abc", 0, "", true},
		{"100;refresher=both", 0, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, ref, err := sessionExpires(tc.in)
			if (err != nil) != tc.wantErr || d != tc.want || ref != tc.ref {
				t.Fatalf("sessionExpires = %v %q %v", d, ref, err)
			}
		})
	}
}

func TestSipfragStatus(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"SIP/2.0 100 Trying\r\n", 100, false},
		{"SIP/2.0 200 OK", 200, false},
		{"SIP/2.0 486 Busy Here\r\nVia: x\r\n", 486, false},
		{"", 0, true},
		{"HTTP/1.1 200 OK", 0, true},
		{"SIP/2.0 abc", 0, true},
		{"SIP/2.0 999 Bad", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := sipfragStatus([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("sipfragStatus = %d %v", got, err)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, host, want string
		wantErr        bool
	}{
		{"sip:bob@example.com", "", "sip:bob@example.com", false},
		{"<sip:bob@10.0.0.1:5070;transport=tcp>", "", "sip:bob@10.0.0.1:5070;transport=tcp", false},
		{"bob@example.com", "", "sip:bob@example.com", false},
		{"1234", "pbx.local", "sip:1234@pbx.local", false},
		{"127.0.0.1:5080", "", "sip:127.0.0.1:5080", false},
		{"1234", "", "", true},
		{"", "pbx", "", true},
		{"sips:alice@secure.example", "", "sips:alice@secure.example", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := parseTarget(tc.in, tc.host)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && u.String() != tc.want {
				t.Fatalf("got %q, want %q", u.String(), tc.want)
			}
		})
	}
}

func TestHeaderValues(t *testing.T) {
	if got := reasonValue(480, `headset "gone"`); got != `SIP;cause=480;text="headset 'gone'"` {
		t.Fatalf("reasonValue = %s", got)
	}
	if got := warningValue("", "x"); got != `399 softphone "x"` {
		t.Fatalf("warningValue = %s", got)
	}
	if got := unsupportedRequire([]string{"timer", "100rel, Foo"}); strings.Join(got, ",") != "100rel,foo" {
		t.Fatalf("unsupportedRequire = %v", got)
	}
	masked := maskCredentials("REGISTER sip:x SIP/2.0\r\nAuthorization: Digest username=\"a\", response=\"0123abcd\"\r\nProxy-Authorization: Digest response=\"ffee\"\r\n")
	if strings.Contains(masked, "0123abcd") || strings.Contains(masked, "ffee") || !strings.Contains(masked, `username="a"`) {
		t.Fatalf("maskCredentials = %q", masked)
	}
	for _, tc := range []struct {
		exp, want time.Duration
	}{{0, 0}, {10 * time.Second, 5 * time.Second}, {300 * time.Second, 270 * time.Second}, {3600 * time.Second, 3570 * time.Second}} {
		if got := refreshIn(tc.exp); got != tc.want {
			t.Fatalf("refreshIn(%v) = %v, want %v", tc.exp, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second}, {20, time.Minute}} {
		if got := backoff(tc.n, time.Minute); got != tc.want {
			t.Fatalf("backoff(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestContactExpires(t *testing.T) {
	ours := sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: 5070}
	mk := func(hdrs ...string) *sip.Response {
		res := sip.NewResponse(200, "OK")
		for i := 0; i+1 < len(hdrs); i += 2 {
			if hdrs[i] == "Contact" {
				var c sip.ContactHeader
				addr := hdrs[i+1]
				params := sip.NewParams()
				if _, err := sip.ParseAddressValue(addr, &c.Address, &params); err != nil {
					t.Fatal(err)
				}
				c.Params = params
				res.AppendHeader(&c)
				continue
			}
			res.AppendHeader(sip.NewHeader(hdrs[i], hdrs[i+1]))
		}
		return res
	}
	tests := []struct {
		name string
		res  *sip.Response
		want time.Duration
	}{
		{"our contact param", mk("Contact", "<sip:other@1.1.1.1>;expires=10", "Contact", "<sip:alice@127.0.0.1:5070>;expires=60", "Expires", "30"), 60 * time.Second},
		{"expires header", mk("Contact", "<sip:other@1.1.1.1>;expires=10", "Expires", "30"), 30 * time.Second},
		{"default", mk(), 99 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := contactExpires(tc.res, ours, 99*time.Second); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPickChallenge(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		algo    string
		wantErr bool
	}{
		{"md5 only", []string{`Digest realm="r", nonce="n"`}, "", false},
		{"prefers sha-256", []string{`Digest realm="r", nonce="n", algorithm=MD5`, `Digest realm="r", nonce="m", algorithm=SHA-256`}, "SHA-256", false},
		{"lower-case algorithm", []string{`Digest realm="r", nonce="n", algorithm=sha-256`}, "SHA-256", false},
		{"unsupported", []string{`Digest realm="r", nonce="n", algorithm=AKAv1-MD5`}, "", true},
		{"garbage", []string{`Basic realm="r"`}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := pickChallenge(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && ch.Algorithm != tc.algo {
				t.Fatalf("algorithm %q, want %q", ch.Algorithm, tc.algo)
			}
		})
	}
}

func TestDeltaSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, " 3600 ": time.Hour, "4294967295": 4294967295 * time.Second,
		"4294967296": -1, "99999999999999999999": -1, "-5": -1, "+5": -1, "": -1, "1h": -1,
	} {
		got, ok := deltaSeconds(in)
		if ok != (want >= 0) || ok && got != want {
			t.Errorf("deltaSeconds(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
}
