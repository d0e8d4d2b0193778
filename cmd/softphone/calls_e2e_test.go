package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/control"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// callDaemon is a standalone daemon on PulseAudio virtual devices, with a
// Jabra headset that tests plug and unplug, and an always-present
// Plantronics (the fallback).
type callDaemon struct {
	*daemon
	pa      *testbed.Pulse
	jabra   *testbed.Headset
	sipAddr string
	ev      <-chan phone.Event
}

func startCallDaemon(t *testing.T, session string, jabraPlugged bool) *callDaemon {
	t.Helper()
	testbed.Require(t, "pulseaudio", "pactl", "sipp")
	pa := testbed.StartPulse(t)
	pa.AddHeadset(t, "plantronics_bw3220", plantro)
	jb := pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	if !jabraPlugged {
		jb.Unplug(t)
	}
	base, sipPort := daemonConfig(t)
	cfg := writeConfig(t, base+`
[policy.device]
use_headset = 1
headset_name = Jabra Evolve2 65
device_poll_interval = 100ms
[policy.session]
`+session)
	d := startDaemon(t, pa.Env(), cfg)
	cd := &callDaemon{daemon: d, pa: pa, jabra: jb, sipAddr: "127.0.0.1:" + strconv.Itoa(sipPort)}
	cd.ev = d.events(t)
	return cd
}

// callEvent waits for a call event in the given state.
func (cd *callDaemon) callEvent(t *testing.T, state string) phone.CallInfo {
	t.Helper()
	return waitCallEvent(t, cd.ev, "", state)
}

// waitCallEvent waits for a "call" event of call id (any call when "")
// in state.
func waitCallEvent(t *testing.T, ev <-chan phone.Event, id, state string) phone.CallInfo {
	t.Helper()
	var ci phone.CallInfo
	waitEvent(t, ev, "call", 15*time.Second, func(d json.RawMessage) bool {
		return json.Unmarshal(d, &ci) == nil && ci.State == state && (id == "" || ci.ID == id)
	})
	return ci
}

// verdictEvent waits until the daemon's verdict says should.
func (cd *callDaemon) verdictEvent(t *testing.T, should string) {
	t.Helper()
	waitEvent(t, cd.ev, "devices", 10*time.Second, func(d json.RawMessage) bool {
		var v verdict
		return json.Unmarshal(d, &v) == nil && v.ShouldAnswer == should
	})
}

func (cd *callDaemon) sipp(t *testing.T, scenario string, vars map[string]string) (*testbed.SippResult, error) {
	t.Helper()
	return testbed.RunSipp(t, testbed.SippOptions{Scenario: scenario, Target: cd.sipAddr, Service: "agent", Vars: vars, Timeout: 30 * time.Second})
}

func (cd *callDaemon) cli(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := args[0]
	return runCLI(t, cd.env, append([]string{cmd, "-c", cd.cfg}, args[1:]...)...)
}

// TestIncomingCallsFollowTheSeed drives one sipp call per row of the seed's
// combination table (and the agent's and caller's actions) against the
// running daemon on PulseAudio virtual devices.
func TestIncomingCallsFollowTheSeed(t *testing.T) {
	t.Run("headset present, auto_answer=1: 200 OK at once", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=1\n", true)
		if _, err := cd.sipp(t, "invite_expect_200.xml", nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("headset absent, reject=1: the configured code; outgoing calls refused", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=1\nreject_session_when_headset_na=1\nsip_code_when_headset_na=486\n", false)
		res, err := cd.sipp(t, "invite_expect_reject.xml", map[string]string{"expect": "486"})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.LogValue("code"); got != "486" {
			t.Errorf("code %q, want 486", got)
		}
		if !strings.Contains(res.Messages, "Reason: SIP;cause=486") {
			t.Errorf("the rejection carries no Reason header:\n%s", res.Messages)
		}
		// Outgoing: refused locally, no INVITE sent.
		_, errOut, code := cd.cli(t, "dial", "sip:someone@"+cd.sipAddr)
		if code == 0 || !strings.Contains(errOut, "blocked") {
			t.Errorf("dial while rejecting: exit %d, stderr %q", code, errOut)
		}
		var apiErr *control.APIError
		if _, err := cd.client.Dial(context.Background(), "sip:someone@127.0.0.1", -1); !errors.As(err, &apiErr) || apiErr.Status != 403 {
			t.Errorf("API dial while rejecting: %v", err)
		}
	})

	t.Run("headset absent, code out of range: 480", func(t *testing.T) {
		cd := startCallDaemon(t, "reject_session_when_headset_na=1\nsip_code_when_headset_na=700\n", false)
		res, err := cd.sipp(t, "invite_expect_reject.xml", map[string]string{"expect": "480"})
		if err != nil || res.LogValue("code") != "480" {
			t.Fatalf("want 480: %v %q", err, res.LogValue("code"))
		}
	})

	t.Run("headset absent, reject=0: rings, agent answers with the CLI", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=1\nreject_session_when_headset_na=0\n", false)
		s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_ring_then_200.xml", Target: cd.sipAddr, Service: "agent", Timeout: 30 * time.Second})
		ci := cd.callEvent(t, "ringing")
		if out, errOut, code := cd.cli(t, "answer", ci.ID); code != 0 {
			t.Fatalf("answer: exit %d %s %s", code, out, errOut)
		}
		if _, err := s.Wait(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		cd.callEvent(t, "ended")
	})

	t.Run("headset present, auto_answer=0: rings, caller cancels: 487", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=0\n", true)
		res, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "invite_ring_then_cancel.xml", Target: cd.sipAddr,
			Service: "agent", Pause: 300 * time.Millisecond, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(res.Messages, "SIP/2.0 487") {
			t.Errorf("no 487 in the trace:\n%s", res.Messages)
		}
		ci := cd.callEvent(t, "ended")
		if !strings.Contains(strings.ToLower(ci.Reason), "cancel") {
			t.Errorf("ended reason %q does not say cancelled", ci.Reason)
		}
	})

	t.Run("agent rejects with a code", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=0\n", true)
		s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_expect_reject.xml", Target: cd.sipAddr, Service: "agent",
			Vars: map[string]string{"expect": "603"}, Timeout: 30 * time.Second})
		cd.callEvent(t, "ringing")
		if _, errOut, code := cd.cli(t, "reject", "--code", "603"); code != 0 {
			t.Fatalf("reject: exit %d %s", code, errOut)
		}
		res, err := s.Wait(30 * time.Second)
		if err != nil || res.LogValue("code") != "603" {
			t.Fatalf("want 603: %v %q", err, res.LogValue("code"))
		}
	})

	t.Run("hot-plug between two INVITEs changes the answer", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=1\nreject_session_when_headset_na=1\nsip_code_when_headset_na=486\n", false)
		if res, err := cd.sipp(t, "invite_expect_reject.xml", map[string]string{"expect": "486"}); err != nil || res.LogValue("code") != "486" {
			t.Fatalf("before the plug: %v", err)
		}
		cd.jabra.Plug(t)
		cd.verdictEvent(t, "true")
		if _, err := cd.sipp(t, "invite_expect_200.xml", nil); err != nil {
			t.Fatalf("after the plug: %v", err)
		}
		cd.jabra.Unplug(t)
		cd.verdictEvent(t, "false")
		if res, err := cd.sipp(t, "invite_expect_reject.xml", map[string]string{"expect": "486"}); err != nil || res.LogValue("code") != "486" {
			t.Fatalf("after the unplug: %v", err)
		}
	})

	t.Run("a ringing call is answered when the headset arrives (auto_answer=1)", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=1\nreject_session_when_headset_na=0\n", false)
		s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_ring_then_200.xml", Target: cd.sipAddr, Service: "agent", Timeout: 30 * time.Second})
		cd.callEvent(t, "ringing")
		cd.jabra.Plug(t)
		cd.callEvent(t, "active")
		if _, err := s.Wait(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("NOTIFY Event: talk answers a ringing call", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=0\n", true)
		if _, err := cd.sipp(t, "invite_ring_notify_talk.xml", nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Call-Info answer-after answers after the delay with auto_answer=0", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=0\n", true)
		if _, err := cd.sipp(t, "invite_autoanswer_header.xml", map[string]string{"delay": "1"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("no_answer_timeout ends a ringing call with 480", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=0\nno_answer_timeout=2\n", false)
		res, err := cd.sipp(t, "invite_expect_reject.xml", map[string]string{"expect": "480"})
		if err != nil || res.LogValue("code") != "480" {
			t.Fatalf("no_answer_timeout: want 480: %v %q", err, res.LogValue("code"))
		}
	})

	t.Run("rtp_timeout ends a call whose media stopped", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=1\nrtp_timeout=2\n", true)
		if _, err := cd.sipp(t, "invite_wait_bye.xml", nil); err != nil {
			t.Fatal(err)
		}
		ci := cd.callEvent(t, "ended")
		if !strings.Contains(ci.Reason, "rtp timeout") {
			t.Errorf("ended reason %q", ci.Reason)
		}
		if _, err := cd.proc.WaitLine("mos=", 5*time.Second); err != nil {
			t.Errorf("no quality line at hang-up: %v", err)
		}
	})

	t.Run("late offer: our offer in the 200, the answer in the ACK", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=1\n", true)
		if _, err := cd.sipp(t, "invite_late_offer.xml", nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("call_waiting=0: a second call gets 486", func(t *testing.T) {
		cd := startCallDaemon(t, "auto_answer=0\ncall_waiting=0\n", true)
		// The first call stays up (sipp pauses 4 s before its BYE) while
		// the second one arrives.
		s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_ring_then_200.xml", Target: cd.sipAddr, Service: "agent",
			Pause: 4 * time.Second, Timeout: 30 * time.Second})
		ci := cd.callEvent(t, "ringing")
		if err := cd.client.Answer(context.Background(), ci.ID); err != nil {
			t.Fatal(err)
		}
		cd.callEvent(t, "active")
		res, err := cd.sipp(t, "invite_expect_reject.xml", map[string]string{"expect": "486"})
		if err != nil || res.LogValue("code") != "486" {
			t.Fatalf("second call: %v %q\n%s", err, res.LogValue("code"), cd.proc.Log())
		}
		if _, err := s.Wait(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unknown method 405, unknown dialog 481, OPTIONS 200", func(t *testing.T) {
		cd := startCallDaemon(t, "", true)
		for _, sc := range []string{"unknown_method.xml", "bye_unknown_dialog.xml", "options.xml"} {
			if _, err := cd.sipp(t, sc, nil); err != nil {
				t.Errorf("%s: %v", sc, err)
			}
		}
	})
}

// TestRegisteredCallsThroughKamailio: the daemon registers with digest auth,
// takes a call from baresip through Kamailio, places one to baresip, and
// un-registers on SIGTERM.
func TestRegisteredCallsThroughKamailio(t *testing.T) {
	testbed.Require(t, "kamailio", "baresip", "pulseaudio", "pactl")
	pa := testbed.StartPulse(t)
	pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true})
	users := k.Users()
	bob := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: users["bob"], Registrar: k.Addr(), AnswerMode: "auto"})
	if err := bob.WaitRegistered(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	base, _ := daemonConfig(t)
	cfg := writeConfig(t, base+fmt.Sprintf(`
[policy.device]
use_headset = 1
headset_name = Jabra
[policy.session]
auto_answer = 1
[connectivity.0]
user = alice
password = %s
server = %s
reg_timeout = 60
`, users["alice"], k.Addr()))
	d := startDaemon(t, pa.Env(), cfg)
	ev := d.events(t)
	d.waitRegistration(t, ev, "registered")
	if c := k.WaitContacts(t, "alice", 1, 10*time.Second); len(c) != 1 {
		t.Fatalf("kamailio contacts for alice: %q", c)
	}
	out, _, code := runCLI(t, d.env, "status", "-c", cfg)
	if code != 0 || !strings.Contains(out, "registered") {
		t.Errorf("status: exit %d\n%s", code, out)
	}

	// baresip → Kamailio → us, answered automatically.
	if err := bob.Dial("sip:alice@" + k.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitEvent("CALL_ESTABLISHED", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, d.env, "hangup", "-c", cfg); code != 0 {
		t.Fatalf("hangup: %s", errOut)
	}
	if _, err := bob.WaitEvent("CALL_CLOSED", 15*time.Second); err != nil {
		t.Fatal(err)
	}

	// us → Kamailio → baresip (auto-answer).
	if _, errOut, code := runCLI(t, d.env, "dial", "-c", cfg, "sip:bob@"+k.Addr()); code != 0 {
		t.Fatalf("dial: %s", errOut)
	}
	waitEvent(t, ev, "call", 15*time.Second, func(data json.RawMessage) bool {
		var ci phone.CallInfo
		return json.Unmarshal(data, &ci) == nil && ci.State == "active" && ci.Direction == "outgoing"
	})
	callState := func(state string) {
		t.Helper()
		waitEvent(t, ev, "call", 15*time.Second, func(data json.RawMessage) bool {
			var ci phone.CallInfo
			return json.Unmarshal(data, &ci) == nil && ci.State == state
		})
	}
	// The call's media flows: baresip's tone arrives as RTP, with figures.
	var mi *phone.MediaInfo
	if !testbed.WaitFor(10*time.Second, func() bool {
		calls, err := d.client.Calls(context.Background())
		if err == nil && len(calls) == 1 && calls[0].Media != nil && calls[0].Media.PacketsReceived > 20 && calls[0].Media.PacketsSent > 20 {
			mi = calls[0].Media
			return true
		}
		return false
	}) {
		calls, _ := d.client.Calls(context.Background())
		t.Fatalf("RTP does not flow both ways with baresip: %+v", calls)
	}
	if mi.Codec != "PCMU" || mi.PacketsSent == 0 || mi.MOS < 3.5 {
		t.Errorf("media figures: %+v", mi)
	}
	// The default voice processing: speexdsp's and WebRTC's echo
	// cancellers in turn on the headset's microphone path.
	if mi.EchoCanceller != "speex+webrtc" {
		t.Errorf("echo canceller %q on a default configuration, want speex+webrtc", mi.EchoCanceller)
	}
	// Hold and resume with re-INVITEs (sendonly, then sendrecv), and DTMF.
	for _, step := range []struct{ cmd, state string }{{"hold", "held"}, {"resume", "active"}} {
		if _, errOut, code := runCLI(t, d.env, step.cmd, "-c", cfg); code != 0 {
			t.Fatalf("%s: %s", step.cmd, errOut)
		}
		callState(step.state)
	}
	// DTMF as RFC 4733 events: baresip reports each digit it receives.
	if _, errOut, code := runCLI(t, d.env, "dtmf", "-c", cfg, "12#"); code != 0 {
		t.Errorf("dtmf: %s", errOut)
	}
	var digits []string
	for range 3 {
		e, err := bob.WaitEvent("CALL_DTMF_START", 10*time.Second)
		if err != nil {
			t.Fatalf("baresip did not receive our DTMF: %v", err)
		}
		digits = append(digits, e.Param)
	}
	if strings.Join(digits, "") != "12#" {
		t.Errorf("baresip received DTMF %q, want 12#", digits)
	}
	if _, errOut, code := runCLI(t, d.env, "hold", "-c", cfg, "no-such-call"); code == 0 || !strings.Contains(errOut, "no such call") {
		t.Errorf("hold of an unknown call: exit %d %q", code, errOut)
	}

	// Blind transfer: bob is referred to carol, who answers; our leg ends.
	carol := testbed.StartBaresip(t, testbed.BaresipOptions{User: "carol", Password: users["carol"], Registrar: k.Addr(), AnswerMode: "auto"})
	if err := carol.WaitRegistered(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, d.env, "transfer", "-c", cfg, "sip:carol@"+k.Addr()); code != 0 {
		t.Fatalf("transfer: %s", errOut)
	}
	if _, err := carol.WaitEvent("CALL_ESTABLISHED", 15*time.Second); err != nil {
		t.Fatalf("carol never got the transferred call: %v", err)
	}
	callState("ended")
	if err := carol.Hangup(); err != nil {
		t.Error(err)
	}

	// SIGTERM: un-REGISTER, clean exit.
	if err := d.proc.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.proc.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop within 15 s of SIGTERM")
	}
	if err := d.proc.Err(); err != nil {
		t.Errorf("daemon exit: %v\n%s", err, d.proc.Log())
	}
	if c := k.WaitContacts(t, "alice", 0, 10*time.Second); len(c) != 0 {
		t.Errorf("alice still registered after shutdown: %q", c)
	}
}

// TestRegistrationRefused: a wrong password keeps the daemon up and shows
// the failure with the server's answer.
func TestRegistrationRefused(t *testing.T) {
	testbed.Require(t, "kamailio")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true})
	base, _ := daemonConfig(t)
	cfg := writeConfig(t, base+fmt.Sprintf(`
[system.audio]
backend = null
[connectivity.0]
user = alice
password = wrong
server = %s
reg_timeout = 60
`, k.Addr()))
	d := startDaemon(t, nil, cfg)
	ev := d.events(t)
	reg := d.waitRegistration(t, ev, "failed")
	if !strings.Contains(reg.Detail, "401") && !strings.Contains(reg.Detail, "403") {
		t.Errorf("failure detail %q does not carry the server's answer", reg.Detail)
	}
	st, err := d.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Registrations) != 1 || st.Registrations[0].State != "failed" {
		t.Errorf("status registrations: %+v", st.Registrations)
	}
	select {
	case <-d.proc.Done():
		t.Fatalf("daemon exited: %s", d.proc.Log())
	default:
	}
	out, _, _ := runCLI(t, nil, "status", "-c", cfg)
	if !strings.Contains(out, "failed") {
		t.Errorf("softphone status does not show the failure:\n%s", out)
	}
}

// waitRegistration waits until connection 0 is in state: from the status
// when it is there already (the event may have come before the
// subscription), else from the event stream.
func (d *daemon) waitRegistration(t *testing.T, ev <-chan phone.Event, state string) phone.Registration {
	t.Helper()
	st, err := d.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Registrations {
		if r.State == state {
			return r
		}
	}
	var reg phone.Registration
	waitEvent(t, ev, "registration", 20*time.Second, func(data json.RawMessage) bool {
		return json.Unmarshal(data, &reg) == nil && reg.State == state
	})
	return reg
}
