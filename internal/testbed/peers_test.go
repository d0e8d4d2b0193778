package testbed

import (
	"bufio"
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWriteToneWAV(t *testing.T) {
	tests := []struct {
		name              string
		rate, hz          int
		seconds, amp      float64
		wantErr           bool
		wantSamples, peak int
	}{
		{name: "8k 440", rate: 8000, hz: 440, seconds: 0.5, amp: 0.5, wantSamples: 4000, peak: 16384},
		{name: "48k 1k", rate: 48000, hz: 1000, seconds: 0.1, amp: 1, wantSamples: 4800, peak: 32767},
		{name: "zero rate", rate: 0, hz: 440, seconds: 1, amp: 0.5, wantErr: true},
		{name: "amplitude above 1", rate: 8000, hz: 440, seconds: 1, amp: 1.5, wantErr: true},
		{name: "no length", rate: 8000, hz: 440, seconds: 0, amp: 0.5, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tone.wav")
			err := WriteToneWAV(p, tc.rate, tc.hz, tc.seconds, tc.amp)
			if (err != nil) != tc.wantErr {
				t.Fatalf("WriteToneWAV err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			rate, ch, s, err := ReadWAV(p)
			if err != nil {
				t.Fatal(err)
			}
			if rate != tc.rate || ch != 1 || len(s) != tc.wantSamples {
				t.Fatalf("got rate %d ch %d samples %d, want %d 1 %d", rate, ch, len(s), tc.rate, tc.wantSamples)
			}
			peak := 0
			crossings := 0
			for i, v := range s {
				if a := int(math.Abs(float64(v))); a > peak {
					peak = a
				}
				if i > 0 && (s[i-1] < 0) != (v < 0) {
					crossings++
				}
			}
			if peak < tc.peak-2 || peak > tc.peak {
				t.Errorf("peak %d, want about %d", peak, tc.peak)
			}
			hz := float64(crossings) / 2 / (float64(len(s)) / float64(rate))
			if math.Abs(hz-float64(tc.hz)) > float64(tc.hz)*0.05 {
				t.Errorf("frequency from zero crossings %.0f Hz, want %d", hz, tc.hz)
			}
		})
	}
}

func TestParseULContacts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "none", in: "error: 500 - AOR not found in location table\n", want: nil},
		{name: "one", in: "{\n\tAoR: alice\n\tContacts: {\n\t\tContact: {\n\t\t\tAddress: sip:alice@127.0.0.1:5071\n\t\t\tExpires: 300\n", want: []string{"sip:alice@127.0.0.1:5071"}},
		{name: "two sorted", in: "Address: sip:b@127.0.0.1:2;transport=tcp\nQ: -1\nAddress: sip:a@127.0.0.1:1\n", want: []string{"sip:a@127.0.0.1:1", "sip:b@127.0.0.1:2;transport=tcp"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseULContacts(tc.in)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadNetstring(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{name: "two frames", in: `7:{"a":1},2:{},`, want: []string{`{"a":1}`, `{}`}},
		{name: "empty payload", in: `0:,`, want: []string{""}},
		{name: "bad length", in: `x:{},`, wantErr: true},
		{name: "missing comma", in: `2:{}}`, wantErr: true},
		{name: "truncated", in: `10:{}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in))
			var got []string
			var err error
			for {
				var b []byte
				b, err = readNetstring(r)
				if err != nil {
					break
				}
				got = append(got, string(b))
			}
			if gotErr := err != nil && err.Error() != "EOF"; gotErr != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Two baresips register with digest auth (UDP and TCP) and call each
// other through Kamailio; both see CALL_ESTABLISHED, then CALL_CLOSED.
func TestBaresipCallThroughKamailio(t *testing.T) {
	Require(t, "kamailio", "kamcmd", "baresip")
	t.Parallel()
	k := StartKamailio(t, KamailioOptions{Auth: true})
	alice := StartBaresip(t, BaresipOptions{User: "alice", Password: "alicepw", Registrar: k.Addr()})
	bob := StartBaresip(t, BaresipOptions{User: "bob", Password: "bobpw", Registrar: k.Addr(), Transport: "tcp", AnswerMode: "auto", Record: true})
	if cs := k.WaitContacts(t, "alice", 1, 5*time.Second); !strings.Contains(cs[0], strconv.Itoa(alice.SIPPort())) {
		t.Errorf("alice contact %q does not name her port %d", cs[0], alice.SIPPort())
	}
	if cs := k.WaitContacts(t, "bob", 1, 5*time.Second); !strings.Contains(cs[0], "transport=tcp") {
		t.Errorf("bob contact %q is not TCP", cs[0])
	}
	if err := alice.Dial("sip:bob@" + k.Addr()); err != nil {
		t.Fatal(err)
	}
	for _, ua := range []*Baresip{alice, bob} {
		if _, err := ua.WaitEvent(EventCallEstablished, 10*time.Second); err != nil {
			t.Fatalf("%v\nkamailio:\n%s", err, k.Log())
		}
	}
	if _, err := bob.WaitEvent(EventCallRTPEstab, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// a file being written gives no event: poll until half a second of
	// received audio is on disk
	if !WaitFor(5*time.Second, func() bool {
		dec, _ := bob.Recordings()
		if len(dec) != 1 {
			return false
		}
		_, _, s, err := ReadWAV(dec[0])
		return err == nil && len(s) >= 4000
	}) {
		t.Fatal("bob recorded no received audio")
	}
	if err := alice.Hangup(); err != nil {
		t.Fatal(err)
	}
	for _, ua := range []*Baresip{alice, bob} {
		if _, err := ua.WaitEvent(EventCallClosed, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	dec, _ := bob.Recordings()
	if len(dec) != 1 {
		t.Fatalf("bob recordings %q, want one received-audio file", dec)
	}
	rate, _, s, err := ReadWAV(dec[0])
	if err != nil || rate != 8000 || len(s) == 0 {
		t.Fatalf("bob recording: rate %d, %d samples, %v", rate, len(s), err)
	}
}

// A user registered from two UAs holds two contacts; an INVITE forks to
// both, the first to answer wins and the other is cancelled.
func TestKamailioForksToAllContacts(t *testing.T) {
	Require(t, "kamailio", "kamcmd", "baresip")
	t.Parallel()
	k := StartKamailio(t, KamailioOptions{Auth: true})
	c1 := StartBaresip(t, BaresipOptions{User: "carol", Password: "carolpw", Registrar: k.Addr()})
	c2 := StartBaresip(t, BaresipOptions{User: "carol", Password: "carolpw", Registrar: k.Addr(), Transport: "tcp"})
	k.WaitContacts(t, "carol", 2, 5*time.Second)
	// The caller is not registered; it sends everything through Kamailio
	// (outbound proxy). Kamailio relays its requests without a challenge.
	caller := StartBaresip(t, BaresipOptions{User: "dave",
		AccountParams: []string{`outbound="sip:` + k.Addr() + `"`}})
	if err := caller.Dial("sip:carol@" + k.Addr()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Baresip{c1, c2} {
		if _, err := c.WaitEvent(EventCallIncoming, 5*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, k.Log())
		}
	}
	if err := c2.Accept(); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.WaitEvent(EventCallEstablished, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.WaitEvent(EventCallClosed, 5*time.Second); err != nil {
		t.Fatalf("the branch not answered was not cancelled: %v", err)
	}
	if err := caller.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.WaitEvent(EventCallClosed, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// A target by IP that never registered: uri != myself, so Kamailio
	// relays the INVITE as it is.
	erin := StartBaresip(t, BaresipOptions{User: "erin", AnswerMode: "auto"})
	if err := caller.Dial(erin.URI()); err != nil {
		t.Fatal(err)
	}
	if _, err := erin.WaitEvent(EventCallEstablished, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !WaitFor(5*time.Second, func() bool { return strings.Contains(k.Log(), "route INVITE "+erin.URI()) }) {
		t.Fatalf("the INVITE to %s did not go through kamailio:\n%s", erin.URI(), k.Log())
	}
	if err := caller.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := erin.WaitEvent(EventCallClosed, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// Restart keeps the port and loses the registrations; sipp registers
// again with the right password and is refused with a wrong one.
func TestKamailioRestartAndSippRegister(t *testing.T) {
	Require(t, "kamailio", "kamcmd", "sipp")
	t.Parallel()
	k := StartKamailio(t, KamailioOptions{Auth: true})
	reg := func(pass string) (*SippResult, error) {
		return RunSipp(t, SippOptions{Scenario: "register_auth.xml", Target: k.Addr(), Service: "alice",
			AuthUser: "alice", AuthPass: pass, Vars: map[string]string{"expires": "300"}, Timeout: 10 * time.Second})
	}
	res, err := reg("alicepw")
	if err != nil {
		t.Fatalf("register with the right password: %v", err)
	}
	want := "sip:alice@127.0.0.1:" + strconv.Itoa(res.LocalPort) + ";transport=UDP"
	if cs := k.Contacts(t, "alice"); len(cs) != 1 || cs[0] != want {
		t.Fatalf("contacts %q, want [%s]", cs, want)
	}
	port := k.Port()
	k.Restart(t)
	if k.Port() != port {
		t.Fatalf("port changed from %d to %d", port, k.Port())
	}
	if cs := k.Contacts(t, "alice"); len(cs) != 0 {
		t.Fatalf("contacts after restart %q, want none", cs)
	}
	res, err = reg("wrong")
	if !errors.Is(err, ErrSippFailed) || res.ExitCode == 0 {
		t.Fatalf("register with a wrong password: err %v, exit %d; want a failure", err, res.ExitCode)
	}
	if v := res.LogValue("register"); v != "refused" {
		t.Errorf("scenario logged register=%q, want refused:\n%s", v, res.Messages)
	}
	if cs := k.Contacts(t, "alice"); len(cs) != 0 {
		t.Fatalf("contacts after a wrong password %q, want none", cs)
	}
	if res, err := reg("alicepw"); err != nil || res.LogValue("register") != "ok" {
		t.Fatalf("register after restart: %v", err)
	}
	if cs := k.Contacts(t, "alice"); len(cs) != 1 {
		t.Fatalf("contacts %q, want one", cs)
	}
}

// Each scenario runs against a real baresip, so the scenarios are known
// good: the UA's action (accept, reject) is taken when CALL_INCOMING
// arrives, while sipp runs.
func TestScenariosAgainstBaresip(t *testing.T) {
	Require(t, "sipp", "baresip")
	tests := []struct {
		name, scenario string
		answer         string // baresip answer mode
		onIncoming     func(*Baresip) error
		vars           map[string]string
		wantErr        bool
		wantEvents     []string // baresip events expected, in this order
		wantLog        [2]string
		wantMsg        string // text in sipp's message trace
	}{
		{name: "answered", scenario: "invite_expect_200.xml", answer: "auto",
			wantEvents: []string{EventCallEstablished, EventCallClosed}},
		{name: "answer expected but rejected", scenario: "invite_expect_200.xml",
			onIncoming: (*Baresip).Hangup, wantErr: true, wantMsg: "SIP/2.0 486"},
		{name: "ring then cancel", scenario: "invite_ring_then_cancel.xml",
			wantEvents: []string{EventCallIncoming, EventCallClosed}},
		{name: "ring then cancel but answered", scenario: "invite_ring_then_cancel.xml", answer: "auto", wantErr: true,
			wantMsg: "SIP/2.0 200"},
		{name: "reject 486", scenario: "invite_expect_reject.xml", onIncoming: (*Baresip).Hangup,
			vars: map[string]string{"expect": "486"}, wantLog: [2]string{"code", "486"},
			wantEvents: []string{EventCallClosed}},
		{name: "reject any", scenario: "invite_expect_reject.xml", onIncoming: (*Baresip).Hangup,
			vars: map[string]string{"expect": "any"}, wantLog: [2]string{"code", "486"}},
		{name: "reject with the wrong code", scenario: "invite_expect_reject.xml", onIncoming: (*Baresip).Hangup,
			vars: map[string]string{"expect": "480"}, wantErr: true, wantLog: [2]string{"code", "486"}},
		{name: "reject expected but answered", scenario: "invite_expect_reject.xml", answer: "auto",
			vars: map[string]string{"expect": "any"}, wantErr: true, wantMsg: "SIP/2.0 200"},
		{name: "ring then 200", scenario: "invite_ring_then_200.xml", onIncoming: (*Baresip).Accept,
			wantEvents: []string{EventCallEstablished, EventCallClosed}},
		{name: "auto-answer header", scenario: "invite_autoanswer_header.xml", answer: "auto",
			vars: map[string]string{"delay": "0"}, wantEvents: []string{EventCallEstablished, EventCallClosed}},
		{name: "late offer", scenario: "invite_late_offer.xml", answer: "auto",
			wantEvents: []string{EventCallEstablished, EventCallClosed}},
		{name: "options", scenario: "options.xml", wantMsg: "SIP/2.0 200"},
		{name: "bye unknown dialog", scenario: "bye_unknown_dialog.xml", wantMsg: "SIP/2.0 481"},
		// baresip answers an unknown method with 501, not the 405 the
		// scenario requires: the scenario must notice
		{name: "unknown method gets 501", scenario: "unknown_method.xml", wantErr: true, wantMsg: "SIP/2.0 501"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ua := StartBaresip(t, BaresipOptions{User: "alice", AnswerMode: tc.answer})
			done := make(chan error, 1)
			if tc.onIncoming != nil {
				go func() {
					if _, err := ua.WaitEvent(EventCallIncoming, 10*time.Second); err != nil {
						done <- err
						return
					}
					done <- tc.onIncoming(ua)
				}()
			} else {
				done <- nil
			}
			res, err := RunSipp(t, SippOptions{Scenario: tc.scenario, Target: "127.0.0.1:" + strconv.Itoa(ua.SIPPort()),
				Service: "alice", Vars: tc.vars, Pause: 200 * time.Millisecond, Timeout: 15 * time.Second})
			if herr := <-done; herr != nil {
				t.Fatalf("baresip action: %v", herr)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("sipp err = %v, wantErr %v\nmessages:\n%s", err, tc.wantErr, res.Messages)
			}
			if tc.wantErr && !errors.Is(err, ErrSippFailed) {
				t.Fatalf("err %v does not wrap ErrSippFailed", err)
			}
			if tc.wantLog[0] != "" {
				if v := res.LogValue(tc.wantLog[0]); v != tc.wantLog[1] {
					t.Errorf("logged %s=%q, want %q; logs:\n%s", tc.wantLog[0], v, tc.wantLog[1], res.Logs)
				}
			}
			if !strings.Contains(res.Messages, tc.wantMsg) {
				t.Errorf("no %q in the messages:\n%s", tc.wantMsg, res.Messages)
			}
			for _, ev := range tc.wantEvents {
				if _, err := ua.WaitEvent(ev, 5*time.Second); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// sipp's built-in uac calls sipp's built-in uas.
func TestSippUACToUAS(t *testing.T) {
	Require(t, "sipp")
	t.Parallel()
	uas := StartSipp(t, SippOptions{Scenario: "uas", Calls: 3})
	res, err := RunSipp(t, SippOptions{Scenario: "uac", Target: uas.Addr(), Service: "uas", Calls: 3, Rate: 50, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(res.Messages, "SIP/2.0 200 OK"); n < 6 {
		t.Errorf("uac saw %d 200 OK, want 6 (INVITE and BYE of 3 calls)", n)
	}
	ures, err := uas.Wait(10 * time.Second)
	if err != nil {
		t.Fatalf("uas: %v\n%s", err, ures.Output)
	}
}

// The NOTIFY talk scenario against a sipp UAS that answers only after
// the NOTIFY on the early dialog.
func TestSippNotifyTalk(t *testing.T) {
	Require(t, "sipp")
	t.Parallel()
	uas := StartSipp(t, SippOptions{Scenario: "uas_ring_notify_answer.xml"})
	res, err := RunSipp(t, SippOptions{Scenario: "invite_ring_notify_talk.xml", Target: uas.Addr(), Service: "alice", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Messages)
	}
	if !strings.Contains(res.Messages, "Event: talk") {
		t.Error("no NOTIFY with Event: talk was sent")
	}
	if _, err := uas.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// A sipp call through Kamailio to a registered baresip: the ACK and BYE
// follow the Record-Route set.
func TestSippThroughKamailioFollowsRecordRoute(t *testing.T) {
	Require(t, "kamailio", "kamcmd", "sipp", "baresip")
	t.Parallel()
	k := StartKamailio(t, KamailioOptions{Auth: true})
	bob := StartBaresip(t, BaresipOptions{User: "bob", Password: "bobpw", Registrar: k.Addr(), AnswerMode: "auto"})
	res, err := RunSipp(t, SippOptions{Scenario: "invite_expect_200.xml", Target: k.Addr(), Service: "bob", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Messages)
	}
	if !strings.Contains(res.Messages, "Record-Route: <sip:127.0.0.1:"+strconv.Itoa(k.Port())) {
		t.Errorf("no Record-Route from kamailio in:\n%s", res.Messages)
	}
	for _, ev := range []string{EventCallEstablished, EventCallClosed} {
		if _, err := bob.WaitEvent(ev, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// A baresip registers over TLS, checking Kamailio's certificate against
// the generated CA.
func TestKamailioTLSRegister(t *testing.T) {
	Require(t, "kamailio", "kamcmd", "baresip")
	t.Parallel()
	k := StartKamailio(t, KamailioOptions{Auth: true, TLS: true})
	if k.CAFile() == "" || k.TLSPort() != k.Port()+1 {
		t.Fatalf("CA file %q, TLS port %d, want a file and port %d", k.CAFile(), k.TLSPort(), k.Port()+1)
	}
	StartBaresip(t, BaresipOptions{User: "alice", Password: "alicepw", Registrar: k.TLSAddr(), Transport: "tls", CAFile: k.CAFile()})
	if cs := k.WaitContacts(t, "alice", 1, 5*time.Second); !strings.Contains(cs[0], "transport=tls") {
		t.Fatalf("contact %q is not TLS", cs[0])
	}
}
