package main

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/testbed"
)

// vqBed is a daemon that answers calls for agent7 and reports voice
// quality to a sipp collector, with a single RTP port pair so a test's own
// media session can be the caller's media end.
type vqBed struct {
	*daemon
	sipAddr   string
	rtp       netip.AddrPort // the daemon's RTP address
	collector *testbed.Sipp
}

func startVQBed(t *testing.T, collectorScenario string, extra string) *vqBed {
	t.Helper()
	testbed.Require(t, "sipp")
	// The report is larger than RFC 3261 §18.1.1 lets UDP carry: it goes
	// over TCP to the account's server, here the collector.
	collector := testbed.StartSipp(t, testbed.SippOptions{Scenario: collectorScenario, Transport: "tcp", Timeout: 120 * time.Second})
	sipPort := testbed.FreePort(t, 1)
	ctl := testbed.FreePort(t, 1)
	run := testbed.FreePort(t, 4)
	even := run + run%2
	cfg := writeConfig(t, fmt.Sprintf(`[policy.endpoint]
sip_address = 127.0.0.1
sip_port = %d
rtp_port_min = %d
rtp_port_max = %d
vq_report_publish = 1
vq_report_collector = sip:collector@%s

[policy.device]
use_headset = 0

[policy.session]
auto_answer = 1
%s
[connectivity.0]
user = agent7
password = secret
server = %s
reg_timeout = 0

[system.audio]
backend = null

[control]
listen = 127.0.0.1:%d
token_file = %s/token

[system.log]
level = debug
`, sipPort, even, even+1, collector.Addr(), extra, collector.Addr(), ctl, t.TempDir()))
	d := startDaemon(t, nil, cfg)
	return &vqBed{daemon: d, sipAddr: "127.0.0.1:" + strconv.Itoa(sipPort),
		rtp: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(even)), collector: collector}
}

// peerMedia is the caller's media end: a media session of ours in the test
// process, sending PCMU every 20 ms and RTCP (with XR VoIP metrics) when
// told.
type peerMedia struct {
	sess *media.Session
	port int
	stop chan struct{}
	wg   sync.WaitGroup
}

func startPeerMedia(t *testing.T, daemonRTP netip.AddrPort) *peerMedia {
	t.Helper()
	rtp, rtcp, err := media.PortRange{}.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	n := media.Negotiated{
		Codec:           media.Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000, SampleRate: 8000, Channels: 1},
		RecvPayloadType: 0, Remote: daemonRTP, RemoteRTCP: netip.AddrPortFrom(daemonRTP.Addr(), daemonRTP.Port()+1),
		LocalDirection: media.SendRecv, RemoteDirection: media.SendRecv, PTime: 20,
	}
	port := rtp.LocalAddr().String()
	s, err := media.NewSession(media.SessionOptions{RTP: rtp, RTCP: rtcp, Negotiated: n, RTCPInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	_, ps, _ := strings.Cut(port, ":")
	pm := &peerMedia{sess: s, stop: make(chan struct{})}
	pm.port, _ = strconv.Atoi(ps)
	pm.wg.Add(1)
	go func() {
		defer pm.wg.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		frame := make([]int16, 160)
		for i := range frame {
			frame[i] = int16(3000 * ((i/20)%2*2 - 1)) // a 200 Hz square wave
		}
		for {
			select {
			case <-pm.stop:
				return
			case <-tk.C:
				_ = s.WriteFrame(frame)
			}
		}
	}()
	t.Cleanup(func() {
		close(pm.stop)
		pm.wg.Wait()
		_ = s.Close()
	})
	return pm
}

// TestVoiceQualityReport: a call answered by the daemon, whose caller's
// media end sends RTCP XR VoIP metrics, ends with an RFC 6035 PUBLISH to a
// sipp collector: challenged with 401, sent again with the account's
// digest credentials, and carrying LocalMetrics (what the daemon measured)
// and RemoteMetrics (what the caller's XR said) that the collector checks
// field by field.
func TestVoiceQualityReport(t *testing.T) {
	if !testbed.Integration() {
		t.Skip("set SOFTPHONE_INTEGRATION=1")
	}
	vb := startVQBed(t, "vq_collector.xml", "")
	ev := vb.events(t)
	peer := startPeerMedia(t, vb.rtp)
	caller := testbed.StartSipp(t, testbed.SippOptions{Scenario: "uac_vq_call.xml", Target: vb.sipAddr, Service: "agent7",
		Vars: map[string]string{"mport": strconv.Itoa(peer.port)}, Timeout: 90 * time.Second})
	ci := waitCallEvent(t, ev, "", "active")

	// Both ways flow, then the caller's RTCP (with XR) reaches the daemon.
	if !testbed.WaitFor(20*time.Second, func() bool { return peer.sess.Stats().PacketsReceived >= 50 }) {
		t.Fatalf("the caller's media end received %d packets from the daemon", peer.sess.Stats().PacketsReceived)
	}
	if err := peer.sess.SendReport(); err != nil {
		t.Fatal(err)
	}
	if !testbed.WaitFor(20*time.Second, func() bool {
		calls, err := vb.client.Calls(context.Background())
		return err == nil && len(calls) == 1 && calls[0].Media != nil && calls[0].Media.RTCPReceived >= 1 && calls[0].Media.PacketsReceived >= 50
	}) {
		t.Fatal("the daemon did not receive the caller's RTP and RTCP")
	}
	if err := vb.client.Hangup(context.Background(), ci.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.Wait(20 * time.Second); err != nil {
		t.Fatalf("caller: %v", err)
	}
	res, err := vb.collector.Wait(40 * time.Second)
	if err != nil {
		t.Fatalf("collector: %v\nmessages:\n%s\ndaemon:\n%s", err, res.Messages, vb.proc.Log())
	}
	t.Logf("collector: %s", strings.TrimSpace(res.Logs))
	if got := res.LogValue("auth"); got != "ok" {
		t.Errorf("collector auth = %q, want ok (digest with the account's credentials)", got)
	}
	for _, k := range []string{"local_mos", "remote_mos"} {
		v, err := strconv.ParseFloat(res.LogValue(k), 64)
		if err != nil || v < 4.0 || v > 4.5 {
			t.Errorf("%s = %q, want the MOS of a clean loopback call (4.0-4.5)", k, res.LogValue(k))
		}
	}
	if got := res.LogValue("local_nlr"); got != "0.0" {
		t.Errorf("local network loss rate %q, want 0.0", got)
	}
	if !strings.Contains(res.Messages, "Authorization: Digest") || !strings.Contains(res.Messages, "Event: vq-rtcpxr") {
		t.Errorf("collector's trace lacks the authorised PUBLISH:\n%s", res.Messages)
	}
	if _, err := vb.proc.WaitLine("voice quality report published", 10*time.Second); err != nil {
		t.Errorf("daemon did not log the report: %v", err)
	}
}
