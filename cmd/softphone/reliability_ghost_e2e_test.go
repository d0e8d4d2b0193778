package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// scannerIP is a loopback address other than the one Kamailio and the
// daemon use: requests from it come from outside the SIP server.
const scannerIP = "127.0.0.2"

// startRegisteredDaemon runs a daemon with auto_answer=1 registered as
// alice at a Kamailio; endpoint lines go into [policy.endpoint].
func startRegisteredDaemon(t *testing.T, endpoint string) (*daemon, <-chan phone.Event, *testbed.Kamailio, string) {
	t.Helper()
	testbed.Require(t, "kamailio", "pulseaudio", "pactl", "sipp")
	pa := testbed.StartPulse(t)
	pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	k := testbed.StartKamailio(t, testbed.KamailioOptions{})
	base, sipPort := daemonConfig(t)
	base = strings.Replace(base, "[policy.endpoint]\n", "[policy.endpoint]\n"+endpoint, 1)
	cfg := writeConfig(t, base+fmt.Sprintf(`
[policy.device]
use_headset = 1
headset_name = Jabra
[policy.session]
auto_answer = 1
[connectivity.0]
user = alice
server = %s
reg_timeout = 60
`, k.Addr()))
	d := startDaemon(t, pa.Env(), cfg)
	ev := d.events(t)
	d.waitRegistration(t, ev, "registered")
	return d, ev, k, fmt.Sprintf("127.0.0.1:%d", sipPort)
}

// scannerCall sends sipp INVITEs from scannerIP straight to the daemon
// and returns the final code they got (sipp fails on any other).
func scannerCall(t *testing.T, target, transport, expect string, calls int) {
	t.Helper()
	scenario, vars := "invite_expect_reject.xml", map[string]string{"expect": expect}
	if expect == "200" {
		scenario, vars = "invite_expect_200.xml", nil
	}
	res, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: scenario, Target: target, Service: "alice",
		Transport: transport, Vars: vars, Calls: calls, Extra: []string{"-i", scannerIP}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("scanner over %s: %v", transport, err)
	}
	if expect != "200" {
		if got := res.LogValue("code"); got != expect {
			t.Fatalf("scanner over %s got %q, want %s", transport, got, expect)
		}
	}
}

// TestReliabilityGhostCalls: with accept_invites=proxy (the default) and
// the daemon registered, INVITEs sent straight to it from another address
// get 403, never ring and never show as calls; the refusals are logged
// once per source and minute; the call through the registrar is answered.
// trusted_hosts and accept_invites=any let the same source in.
func TestReliabilityGhostCalls(t *testing.T) {
	t.Run("proxy: scanners refused, the registrar's call answered", func(t *testing.T) {
		d, ev, k, target := startRegisteredDaemon(t, "")
		scannerCall(t, target, "udp", "403", 5)
		scannerCall(t, target, "tcp", "403", 5)
		// The real call through Kamailio.
		if _, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "invite_expect_200.xml", Target: k.Addr(), Service: "alice", Timeout: 30 * time.Second}); err != nil {
			t.Fatalf("call through the registrar: %v\n%s", err, d.proc.Log())
		}
		// Events are delivered in order: the first call event after the
		// scanners is the registrar's call, so no scanner call was ever
		// offered to the phone.
		var ci phone.CallInfo
		waitEvent(t, ev, "call", 15*time.Second, func(raw json.RawMessage) bool {
			return json.Unmarshal(raw, &ci) == nil
		})
		if !strings.Contains(ci.Remote, "sipp@127.0.0.1") {
			t.Fatalf("first call event after the scanners is %+v, want the call through Kamailio", ci)
		}
		if n := strings.Count(d.proc.Log(), `msg="sip message refused"`); n != 1 {
			t.Errorf("%d refusal log lines for 10 scanner INVITEs from one source in a minute, want 1", n)
		}
		calls, err := d.client.Calls(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			if strings.Contains(c.Remote, scannerIP) {
				t.Errorf("a scanner call is listed: %+v", c)
			}
		}
	})
	t.Run("trusted_hosts admits the cluster's other hosts", func(t *testing.T) {
		_, _, _, target := startRegisteredDaemon(t, "trusted_hosts = 192.0.2.0/24, "+scannerIP+"\n")
		scannerCall(t, target, "udp", "200", 1)
	})
	t.Run("accept_invites=any admits every source", func(t *testing.T) {
		_, _, _, target := startRegisteredDaemon(t, "accept_invites = any\n")
		scannerCall(t, target, "udp", "200", 1)
	})
}
