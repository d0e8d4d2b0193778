package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// regEvent waits for a registration event of connection 0 in state whose
// detail contains detail.
func regEvent(t *testing.T, ev <-chan phone.Event, state, detail string, timeout time.Duration) phone.Registration {
	t.Helper()
	var reg phone.Registration
	waitEvent(t, ev, "registration", timeout, func(data json.RawMessage) bool {
		return json.Unmarshal(data, &reg) == nil && reg.State == state && strings.Contains(reg.Detail, detail)
	})
	return reg
}

// regState is regEvent that also takes the state in force when the event
// stream opened (its event may have come before the subscription).
func (d *daemon) regState(t *testing.T, ev <-chan phone.Event, state, detail string, timeout time.Duration) phone.Registration {
	t.Helper()
	st, err := d.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Registrations {
		if r.State == state && strings.Contains(r.Detail, detail) {
			return r
		}
	}
	return regEvent(t, ev, state, detail, timeout)
}

// registeredConfig is a daemon config registered as alice at server, with
// a headset and auto_answer=1.
func registeredConfig(t *testing.T, server, connExtra string) string {
	t.Helper()
	base, _ := daemonConfig(t)
	return writeConfig(t, base+fmt.Sprintf(`
[policy.device]
use_headset = 1
headset_name = Jabra
[policy.session]
auto_answer = 1
[connectivity.0]
user = alice
server = %s
reg_timeout = 60
%s`, server, connExtra))
}

// TestReliabilityRegistrar503: a registrar answering 503 with Retry-After
// is asked again after the interval it gave (RFC 3261 §21.5.4), not before,
// and the agent desktop sees "failed" then "registered".
func TestReliabilityRegistrar503(t *testing.T) {
	testbed.Require(t, "pulseaudio", "pactl", "sipp")
	pa := testbed.StartPulse(t)
	pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	// Long enough for the event stream to open while the 503 holds.
	const retry = 5
	reg := testbed.StartSipp(t, testbed.SippOptions{Scenario: "uas_register_503.xml", Vars: map[string]string{"retry": strconv.Itoa(retry)}, Timeout: 60 * time.Second})
	d := startDaemon(t, pa.Env(), registeredConfig(t, reg.Addr(), ""))
	ev := d.events(t)
	failed := d.regState(t, ev, "failed", "503", 20*time.Second)
	regEvent(t, ev, "registered", "200", time.Duration(retry)*time.Second+20*time.Second)
	res, err := reg.Wait(15 * time.Second)
	if err != nil {
		t.Fatalf("sipp registrar: %v\n%s", err, d.proc.Log())
	}
	r1, _ := strconv.Atoi(res.LogValue("register1"))
	r2, _ := strconv.Atoi(res.LogValue("register2"))
	if r1 == 0 || r2 == 0 {
		t.Fatalf("register arrival times not logged: %q", res.Logs)
	}
	if gap := time.Duration(r2-r1) * time.Millisecond; gap < retry*time.Second {
		t.Errorf("REGISTER again %s after the 503, before its Retry-After: %d", gap, retry)
	}
	t.Logf("503 seen as %q; REGISTER again %d ms later (Retry-After: %d)", failed.Detail, r2-r1, retry)
}

// TestReliabilityRegistrarRestart: the registrar is killed (it becomes
// unreachable and, being memory-only, forgets every binding) and started
// again: the daemon notices with its keep-alive, shows "failed" to the
// desktop, registers again by itself, and the next call through the
// registrar is answered — no daemon restart.
func TestReliabilityRegistrarRestart(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) { registrarRestart(t, proto) })
	}
}

func registrarRestart(t *testing.T, proto string) {
	testbed.Require(t, "kamailio", "pulseaudio", "pactl", "sipp")
	pa := testbed.StartPulse(t)
	pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	k := testbed.StartKamailio(t, testbed.KamailioOptions{})
	d := startDaemon(t, pa.Env(), registeredConfig(t, k.Addr(), "keepalive_interval = 1\nprotocol = "+proto+"\n"))
	ev := d.events(t)
	d.waitRegistration(t, ev, "registered")
	k.WaitContacts(t, "alice", 1, 10*time.Second)

	k.Stop()
	failed := regEvent(t, ev, "failed", "", 60*time.Second)
	k.Restart(t)
	regEvent(t, ev, "registered", "", 90*time.Second)
	if c := k.WaitContacts(t, "alice", 1, 10*time.Second); len(c) != 1 {
		t.Fatalf("contacts after the registrar's restart: %q", c)
	}
	if _, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "invite_expect_200.xml", Target: k.Addr(), Service: "alice", Timeout: 30 * time.Second}); err != nil {
		t.Fatalf("call after the registrar's restart: %v\n%s", err, d.proc.Log())
	}
	t.Logf("while the registrar was down the desktop saw %q", failed.Detail)
}

// TestReliabilityDaemonKilledDuringCall: the daemon is killed with SIGKILL
// during a call through the registrar and started again: it registers
// cleanly (one binding at the registrar, none stale) and the next call is
// answered.
func TestReliabilityDaemonKilledDuringCall(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) { daemonKilledDuringCall(t, proto) })
	}
}

func daemonKilledDuringCall(t *testing.T, proto string) {
	testbed.Require(t, "kamailio", "pulseaudio", "pactl", "sipp")
	pa := testbed.StartPulse(t)
	pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	k := testbed.StartKamailio(t, testbed.KamailioOptions{})
	cfg := registeredConfig(t, k.Addr(), "protocol = "+proto+"\n")
	d := startDaemon(t, pa.Env(), cfg)
	ev := d.events(t)
	d.waitRegistration(t, ev, "registered")
	first := k.WaitContacts(t, "alice", 1, 10*time.Second)

	call := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_wait_bye.xml", Target: k.Addr(), Service: "alice", Timeout: 120 * time.Second})
	waitCallEvent(t, ev, "", "active")
	if err := d.proc.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.proc.Done()
	call.Stop() // the caller of the lost call gives up

	d2 := startDaemon(t, pa.Env(), cfg)
	ev2 := d2.events(t)
	d2.waitRegistration(t, ev2, "registered")
	contacts := k.WaitContacts(t, "alice", 1, 10*time.Second)
	if len(contacts) != 1 {
		t.Fatalf("bindings after the restart: %q (before: %q), want one", contacts, first)
	}
	if _, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "invite_expect_200.xml", Target: k.Addr(), Service: "alice", Timeout: 30 * time.Second}); err != nil {
		t.Fatalf("call after the daemon's restart: %v\n%s", err, d2.proc.Log())
	}
	t.Logf("binding before the kill %q, after the restart %q", first, contacts)
}
