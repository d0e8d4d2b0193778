package sip

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// scenarioHandler decides per sipp scenario (by the INVITE's Subject) what
// the phone above would do.
type scenarioHandler struct {
	*recHandler
	mu    sync.Mutex
	media map[string]*fakeMedia
	auto  map[string]time.Duration
	ended map[string]string
}

func newScenarioHandler() *scenarioHandler {
	s := &scenarioHandler{media: map[string]*fakeMedia{}, auto: map[string]time.Duration{}, ended: map[string]string{}}
	s.recHandler = newRecHandler(s.decideCall)
	return s
}

func (s *scenarioHandler) decideCall(c *Call) Decision {
	subj := c.Header("Subject")
	m := newFakeMedia()
	s.mu.Lock()
	s.media[subj] = m
	if d, ok := c.AutoAnswer(); ok {
		s.auto[subj] = d
	}
	s.mu.Unlock()
	switch subj {
	case "invite_expect_reject":
		return Decision{Action: ActionReject, Code: 486, Reason: "agent busy"}
	case "invite_ring_then_200", "invite_ring_then_cancel", "invite_ring_notify_talk":
		return Decision{Action: ActionRing, Media: m}
	}
	return Decision{Action: ActionAnswer, Media: m}
}

func (s *scenarioHandler) CallState(c *Call, st CallState, reason string) {
	if st == CallStateRinging && c.Header("Subject") == "invite_ring_then_200" {
		// The phone answers a ringing call (here: at once).
		go func() { _ = c.Answer(nil) }()
	}
	if st == CallStateEnded {
		s.mu.Lock()
		s.ended[c.Header("Subject")] = reason
		s.mu.Unlock()
	}
	s.recHandler.CallState(c, st, reason)
}

func (s *scenarioHandler) RemoteControl(c *Call, ev RemoteEvent) {
	if ev == RemoteTalk {
		go func() { _ = c.Answer(nil) }()
	}
	s.recHandler.RemoteControl(c, ev)
}

func TestIntegrationSippScenarios(t *testing.T) {
	testbed.Require(t, "sipp")
	leakCheck(t)
	h := newScenarioHandler()
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	ua := u.ListenAddr("udp")

	tests := []struct {
		scenario  string
		vars      map[string]string
		pause     time.Duration
		logKey    string
		logWant   string
		endReason string
	}{
		{scenario: "options.xml"},
		{scenario: "unknown_method.xml"},
		{scenario: "bye_unknown_dialog.xml"},
		{scenario: "invite_expect_200.xml", endReason: "remote hangup"},
		{scenario: "invite_expect_reject.xml", vars: map[string]string{"expect": "486"}, logKey: "code", logWant: "486", endReason: "rejected 486: agent busy"},
		{scenario: "invite_ring_then_200.xml", endReason: "remote hangup"},
		{scenario: "invite_ring_then_cancel.xml", pause: 300 * time.Millisecond, endReason: "cancelled"},
		{scenario: "invite_ring_notify_talk.xml", endReason: "remote hangup"},
		{scenario: "invite_autoanswer_header.xml", vars: map[string]string{"delay": "2"}, endReason: "remote hangup"},
		{scenario: "invite_late_offer.xml", endReason: "remote hangup"},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.scenario, ".xml"), func(t *testing.T) {
			res, err := testbed.RunSipp(t, testbed.SippOptions{
				Scenario: tc.scenario, Target: ua, Service: "agent", Vars: tc.vars, Pause: tc.pause, Timeout: 20 * time.Second,
			})
			if err != nil {
				t.Fatalf("%v\n%s", err, res.Messages)
			}
			if tc.logKey != "" {
				if got := res.LogValue(tc.logKey); got != tc.logWant {
					t.Fatalf("%s = %q, want %q", tc.logKey, got, tc.logWant)
				}
			}
			if tc.endReason == "" {
				return
			}
			subj := strings.TrimSuffix(tc.scenario, ".xml")
			if !testbed.WaitFor(5*time.Second, func() bool {
				h.mu.Lock()
				defer h.mu.Unlock()
				_, ok := h.ended[subj]
				return ok
			}) {
				t.Fatalf("call of %s never ended", subj)
			}
			h.mu.Lock()
			got := h.ended[subj]
			h.mu.Unlock()
			if got != tc.endReason {
				t.Fatalf("end reason %q, want %q", got, tc.endReason)
			}
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.auto["invite_autoanswer_header"]; !ok || d != 2*time.Second {
		t.Errorf("answer-after header: AutoAnswer = %v %v, want 2s true", d, ok)
	}
	if _, ok := h.auto["invite_expect_200"]; ok {
		t.Errorf("a plain INVITE asked for auto-answer")
	}
	if m := h.media["invite_late_offer"]; m == nil {
		t.Errorf("late offer call has no media")
	} else if dirs, offers, answers, _ := m.snapshot(); offers != 0 || answers != 1 || len(dirs) != 1 || dirs[0] != SendRecv {
		t.Errorf("late offer: dirs %v offers %d answers %d; want one sendrecv Offer and one SetAnswer", dirs, offers, answers)
	}
}

func TestIntegrationKamailioRegistration(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true})
	// After the peers: Kamailio's forked children may hold its log pipe a
	// moment after it stops, and the testbed owns that reader.
	leakCheck(t)
	h := newRecHandler(nil)
	u, err := New(Options{Host: "127.0.0.1", Transports: []string{"udp", "tcp"}, Accounts: []Account{
		{ID: 1, User: "alice", Password: "alicepw", Server: k.Addr(), Protocol: "udp", RegTimeout: 6 * time.Second, KeepAlive: time.Second},
		{ID: 2, User: "bob", Password: "wrong", Server: k.Addr(), Protocol: "tcp", RegTimeout: 60 * time.Second},
	}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = u.Close(context.Background())
		}
	})

	// Both report Registering first, then alice Registered and bob Failed.
	var aliceReg, bobFail Registration
	var bobEvents []Registration
	deadline := time.After(15 * time.Second)
	for aliceReg.State != RegRegistered || bobFail.State != RegFailed {
		select {
		case r := <-h.regs:
			if r.Account == 1 && r.State == RegRegistered {
				aliceReg = r
			}
			if r.Account == 2 {
				bobEvents = append(bobEvents, r)
				if r.State == RegFailed {
					bobFail = r
				}
			}
		case <-deadline:
			t.Fatalf("alice %+v bob %+v", aliceReg, bobFail)
		}
	}
	if aliceReg.Detail != "200 OK" || aliceReg.Expires.Before(time.Now()) {
		t.Fatalf("alice registration %+v", aliceReg)
	}
	if bobFail.Detail != "401 Unauthorized" {
		t.Fatalf("bob failure detail %q, want the server's answer", bobFail.Detail)
	}
	cs := k.WaitContacts(t, "alice", 1, 5*time.Second)
	if !strings.Contains(cs[0], u.ListenAddr("udp")) {
		t.Fatalf("alice contact %q does not name our UDP address %s", cs[0], u.ListenAddr("udp"))
	}

	// Refresh: the binding's expiry moves forward (server granted 6 s).
	first := u.Registrations()[0].Expires
	if !testbed.WaitFor(10*time.Second, func() bool { return u.Registrations()[0].Expires.After(first) }) {
		t.Fatalf("no refresh: expires stayed %v", first)
	}
	// bob keeps retrying without new Handler events for the same failure.
	bob := u.regs[1]
	if !testbed.WaitFor(10*time.Second, func() bool { return bob.attempts.Load() >= 3 }) {
		t.Fatalf("bob retried %d times", bob.attempts.Load())
	}
	for len(h.regs) > 0 {
		if r := <-h.regs; r.Account == 2 {
			bobEvents = append(bobEvents, r)
		}
	}
	if len(bobEvents) != 2 || bobEvents[0].State != RegRegistering {
		t.Fatalf("bob events %+v, want Registering then one Failed", bobEvents)
	}

	// Registrar restart loses every binding; alice registers again.
	k.Restart(t)
	k.WaitContacts(t, "alice", 1, 15*time.Second)

	// Close un-registers.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.Close(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	if cs := k.Contacts(t, "alice"); len(cs) != 0 {
		t.Fatalf("alice still registered after Close: %v", cs)
	}
	if r := u.Registrations()[0]; r.State != RegUnregistered {
		t.Fatalf("alice state after close %s", r.State)
	}
}

func TestIntegrationBaresipCalls(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd", "baresip")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true})
	b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: "bobpw", Registrar: k.Addr(), AnswerMode: "auto"})
	leakCheck(t) // after the peers, whose log readers the testbed stops
	m := newFakeMedia()
	h := newRecHandler(answerWith(m))
	u := startUA(t, Options{Transports: []string{"udp"}, Accounts: []Account{
		{ID: 1, User: "alice", Password: "alicepw", Server: k.Addr(), RegTimeout: 60 * time.Second},
	}}, h)
	h.waitReg(t, RegRegistered, 10*time.Second)

	t.Run("baresip calls us", func(t *testing.T) {
		if err := b.Dial("sip:alice@" + k.Addr()); err != nil {
			t.Fatal(err)
		}
		c := recv(t, h.incoming, "incoming call")
		if !strings.Contains(c.Remote(), "bob@") {
			t.Fatalf("remote %q", c.Remote())
		}
		h.waitState(t, CallStateActive)
		if _, err := b.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := b.Hangup(); err != nil {
			t.Fatal(err)
		}
		if e := h.waitState(t, CallStateEnded); e.reason != "remote hangup" {
			t.Fatalf("reason %q", e.reason)
		}
		if _, err := b.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("we call baresip", func(t *testing.T) {
		m := newFakeMedia()
		c, err := u.Dial(context.Background(), 1, "bob", m)
		if err != nil {
			t.Fatal(err)
		}
		h.waitState(t, CallStateActive)
		if _, err := b.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, _, answers, _ := m.snapshot(); answers != 1 {
			t.Fatalf("baresip's SDP answer applied %d times", answers)
		}
		// Hold and resume through the Record-Routing proxy.
		if err := c.Hold(); err != nil {
			t.Fatalf("hold: %v", err)
		}
		if e := h.waitState(t, CallStateHeld); e.reason != "local hold" {
			t.Fatalf("held reason %q", e.reason)
		}
		if err := c.Resume(); err != nil {
			t.Fatalf("resume: %v", err)
		}
		h.waitState(t, CallStateActive)
		if dirs, _, answers, _ := m.snapshot(); answers != 3 || len(dirs) != 3 || dirs[1] != SendOnly || dirs[2] != SendRecv {
			t.Fatalf("offers %v answers %d, want sendrecv, sendonly, sendrecv and 3 answers", dirs, answers)
		}
		if err := c.Hangup(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if e := h.waitState(t, CallStateEnded); e.reason != "local hangup" {
			t.Fatalf("reason %q", e.reason)
		}
	})
}

func TestIntegrationKamailioTLS(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, TLS: true})
	leakCheck(t) // after the peer, whose log reader the testbed stops
	cert, key := filepath.Join(k.Dir(), "server.pem"), filepath.Join(k.Dir(), "server.key")

	t.Run("verified with the CA file", func(t *testing.T) {
		h := newRecHandler(nil)
		u := startUA(t, Options{Transports: []string{"udp", "tls"}, TLSCertFile: cert, TLSKeyFile: key, Accounts: []Account{
			{ID: 1, User: "alice", Password: "alicepw", Server: k.TLSAddr(), Protocol: "tls", CAFile: k.CAFile(), RegTimeout: time.Minute},
		}}, h)
		r := h.waitReg(t, RegRegistered, 10*time.Second)
		if r.Protocol != "tls" {
			t.Fatalf("registration %+v", r)
		}
		cs := k.WaitContacts(t, "alice", 1, 5*time.Second)
		// The Contact names the registration's connection (see outbound.go).
		if flow, _ := u.Flow(1); !strings.HasPrefix(cs[0], "sip:alice@"+flow+";transport=tls") {
			t.Fatalf("contact %q, want the connection's address %s", cs[0], flow)
		}
	})
	t.Run("unknown CA refused", func(t *testing.T) {
		h := newRecHandler(nil)
		startUA(t, Options{Transports: []string{"udp"}, Accounts: []Account{
			{ID: 1, User: "bob", Password: "bobpw", Server: k.TLSAddr(), Protocol: "tls", RegTimeout: time.Minute},
		}}, h)
		r := h.waitReg(t, RegFailed, 15*time.Second)
		if !strings.Contains(r.Detail, "certificate") {
			t.Fatalf("detail %q does not name the certificate problem", r.Detail)
		}
	})
}

func TestIntegrationBaresipOverTCP(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd", "baresip")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true})
	b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: "bobpw", Registrar: k.Addr(), Transport: "tcp", AnswerMode: "auto"})
	leakCheck(t) // after the peers, whose log readers the testbed stops
	h := newRecHandler(answerWith(newFakeMedia()))
	u := startUA(t, Options{Transports: []string{"udp", "tcp"}, Accounts: []Account{
		{ID: 1, User: "alice", Password: "alicepw", Server: k.Addr(), Protocol: "tcp", RegTimeout: 60 * time.Second},
	}}, h)
	h.waitReg(t, RegRegistered, 10*time.Second)
	if cs := k.WaitContacts(t, "alice", 1, 5*time.Second); !strings.Contains(cs[0], "transport=tcp") {
		t.Fatalf("contact %q", cs[0])
	}
	if err := b.Dial("sip:alice@" + k.Addr()); err != nil {
		t.Fatal(err)
	}
	c := recv(t, h.incoming, "incoming call")
	h.waitState(t, CallStateActive)
	if _, err := b.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The outgoing direction over TCP too.
	oc, err := u.Dial(context.Background(), 1, "bob", newFakeMedia())
	if err != nil {
		t.Fatal(err)
	}
	h.waitState(t, CallStateActive)
	if _, err := b.WaitEvent("CALL_ESTABLISHED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Hangup(); err != nil {
		t.Fatal(err)
	}
	<-oc.Context().Done()
	if cause := context.Cause(oc.Context()); !strings.Contains(cause.Error(), "remote hangup") {
		t.Fatalf("cause %v", cause)
	}
}
