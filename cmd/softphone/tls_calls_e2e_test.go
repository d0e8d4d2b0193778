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

// TestTLSAgentReceivesCalls: the agent's daemon registers with
// protocol = tls, a CA file to verify the registrar and no certificate or
// TLS listener of its own, at a Kamailio with its tls module and nathelper
// (fix_nated_register, fix_nated_contact; no outbound). Its binding names
// the TLS connection it registered on, so baresip's call reaches it
// through Kamailio: answered, ACKed, audio both ways, ended by baresip's
// BYE. Then the agent calls baresip: audio both ways, ended by the agent.
func TestTLSAgentReceivesCalls(t *testing.T) { agentReceivesCalls(t, "tls") }

// TestWebSocketAgentReceivesCalls: the same with protocol = wss (SIP over
// secure WebSocket, RFC 7118) and media = rtp, at Kamailio's websocket
// module: the daemon registers over the WebSocket it opens on ws_path,
// and calls come and go over it with plain RTP both ways.
func TestWebSocketAgentReceivesCalls(t *testing.T) { agentReceivesCalls(t, "wss") }

func agentReceivesCalls(t *testing.T, proto string) {
	testbed.Require(t, "kamailio", "kamcmd", "baresip", "pulseaudio", "pactl")
	pa := testbed.StartPulse(t)
	pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	ws := proto == "wss"
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, TLS: true, NAT: true, WS: ws})
	users := k.Users()
	bob := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: users["bob"], Registrar: k.Addr(), AnswerMode: "auto"})
	base, sipPort := daemonConfig(t)
	server, extra := k.TLSAddr(), ""
	if ws {
		server, extra = k.WSSAddr(), "ws_path = /sip\nmedia = rtp\n"
	}
	cfg := writeConfig(t, base+fmt.Sprintf(`sip_trace = 1

[policy.device]
use_headset = 1
headset_name = Jabra
[policy.session]
auto_answer = 1
[connectivity.0]
user = alice
password = %s
server = %s
protocol = %s
ca_file = %s
reg_timeout = 60
%s`, users["alice"], server, proto, k.CAFile(), extra))
	d := startDaemon(t, pa.Env(), cfg)
	ev := d.events(t)
	d.waitRegistration(t, ev, "registered")
	cs := k.WaitContacts(t, "alice", 1, 10*time.Second)
	if !strings.HasPrefix(cs[0], "sip:alice@127.0.0.1:") || !strings.HasSuffix(cs[0], ";transport="+proto) || strings.Contains(cs[0], ":"+strconv.Itoa(sipPort)+";") {
		t.Fatalf("binding %q: want the %s connection's own address, not the listener's port %d", cs[0], proto, sipPort)
	}
	flow := strings.TrimSuffix(strings.TrimPrefix(cs[0], "sip:alice@"), ";transport="+proto)
	if ws && !strings.Contains(k.Log(), "path /sip") {
		t.Errorf("the WebSocket upgrade did not ask for ws_path /sip:\n%s", k.Log())
	}
	st, err := d.client.Status(context.Background())
	if err != nil || len(st.Registrations) != 1 || st.Registrations[0].Protocol != proto || st.Registrations[0].State != "registered" {
		t.Errorf("status: %+v %v, want connection 0 registered over %s", st.Registrations, err, proto)
	}

	callIs := func(dir, state string) phone.CallInfo {
		t.Helper()
		var ci phone.CallInfo
		waitEvent(t, ev, "call", 15*time.Second, func(data json.RawMessage) bool {
			return json.Unmarshal(data, &ci) == nil && ci.State == state && ci.Direction == dir
		})
		return ci
	}
	audioBothWays := func() {
		t.Helper()
		var calls []phone.CallInfo
		if !testbed.WaitFor(10*time.Second, func() bool {
			var err error
			calls, err = d.client.Calls(context.Background())
			return err == nil && len(calls) == 1 && calls[0].Media != nil &&
				calls[0].Media.PacketsReceived > 20 && calls[0].Media.PacketsSent > 20
		}) {
			t.Fatalf("RTP does not flow both ways with baresip: %+v", calls)
		}
	}

	// baresip → Kamailio → the agent, over the agent's connection.
	if err := bob.Dial("sip:alice@" + k.Addr()); err != nil {
		t.Fatal(err)
	}
	callIs("incoming", "active")
	if _, err := bob.WaitEvent("CALL_ESTABLISHED", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := d.proc.WaitLine("ACK sip:alice@"+flow, 10*time.Second); err != nil {
		t.Fatalf("no ACK over the registration's connection %s: %v", flow, err)
	}
	audioBothWays()
	if err := bob.Hangup(); err != nil {
		t.Fatal(err)
	}
	callIs("incoming", "ended")

	// The agent → Kamailio → baresip (auto-answer); the agent hangs up.
	if _, errOut, code := runCLI(t, d.env, "dial", "-c", cfg, "sip:bob@"+k.Addr()); code != 0 {
		t.Fatalf("dial: %s", errOut)
	}
	callIs("outgoing", "active")
	audioBothWays()
	if _, errOut, code := runCLI(t, d.env, "hangup", "-c", cfg); code != 0 {
		t.Fatalf("hangup: %s", errOut)
	}
	if _, err := bob.WaitEvent("CALL_CLOSED", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	callIs("outgoing", "ended")
	if strings.Contains(d.proc.Log(), "failed to parse") {
		t.Errorf("the daemon could not parse something it read:\n%s", d.proc.Log())
	}
}
