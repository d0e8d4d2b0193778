package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// hears records sink's monitor for d and returns the strongest 250 ms
// level of a tone at hz in it.
func (mb *mediaBed) hears(t *testing.T, sink string, hz float64, d time.Duration) float64 {
	t.Helper()
	rec := mb.pa.Record(t, sink+".monitor", 16000)
	time.Sleep(d) // recording length, not synchronisation
	return maxLevel(rec.Stop(t), hz, 16000)
}

// serverBack restarts the sound server, which comes back empty, and plugs
// the headset and the fed microphone in again, as a desktop's restarted
// sound server finds its devices again.
func (mb *mediaBed) serverBack(t *testing.T) {
	t.Helper()
	mb.pa.Restart(t)
	mb.out = mb.pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	mb.feedMod, mb.micMod = addFeed(t, mb.pa)
}

// logOnFailure prints the daemon's log at the end of a failed test.
func (mb *mediaBed) logOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", mb.proc.Log())
		}
	})
}

// alive fails t if the daemon has exited.
func (mb *mediaBed) alive(t *testing.T) {
	t.Helper()
	select {
	case <-mb.proc.Done():
		t.Fatalf("the daemon exited (%v):\n%s", mb.proc.Err(), mb.proc.Log())
	default:
	}
}

// TestSoundServerDiesDuringACall: the sound server itself goes away (it
// crashed, or the desktop restarts it) during an answered call, on
// PulseAudio and on PipeWire. The daemon survives and the call stays up,
// sending media without devices; when the server is back with the
// headset, the call's audio (the peer's 440 Hz tone) is heard on it again.
func TestSoundServerDiesDuringACall(t *testing.T) {
	testbed.EachSoundServer(t, testSoundServerDiesDuringACall)
}

func testSoundServerDiesDuringACall(t *testing.T, srv testbed.SoundServer) {
	mb := startMediaBedOn(t, srv, "", "")
	mb.logOnFailure(t)
	b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "peer", AnswerMode: "auto", AudioSource: "ausine,440"})
	if _, errOut, code := runCLI(t, mb.env, "dial", "-c", mb.cfg, b.URI()); code != 0 {
		t.Fatalf("dial: %s", errOut)
	}
	mb.activeCall(t)
	// (A PulseAudio null sink stalls for about 2 s after a stream starts:
	// listen until the tone is there.)
	if !testbed.WaitFor(10*time.Second, func() bool { return mb.hears(t, mb.out.SinkName, 440, 1500*time.Millisecond) > 0.1 }) {
		t.Fatal("no tone on the headset before the sound server went")
	}

	mb.pa.Stop()
	// Depending on which the daemon notices first, the lost streams or the
	// listing that finds no server (and falls back to miniaudio's null
	// device), the call's audio is reported without a device or moved to
	// the null device; either way it leaves the headset.
	waitEvent(t, mb.ev, "media", 20*time.Second, func(d json.RawMessage) bool {
		return strings.Contains(string(d), "no_device") ||
			strings.Contains(string(d), "devices_switched") && !strings.Contains(string(d), jabra)
	})
	var before uint64
	mb.waitCall(t, "the call sending media with the sound server gone", 10*time.Second, func(ci phone.CallInfo) bool {
		if before == 0 {
			before = ci.Media.PacketsSent
		}
		return ci.Media.PacketsSent > before+25
	})
	mb.alive(t)

	mb.serverBack(t)
	mb.waitCall(t, "the call's audio back on the headset once the server is back", 20*time.Second, func(ci phone.CallInfo) bool {
		return ci.Media.Output == jabra && ci.Media.Input == feedMic
	})
	if !testbed.WaitFor(15*time.Second, func() bool { return mb.hears(t, mb.out.SinkName, 440, 1500*time.Millisecond) > 0.1 }) {
		t.Error("no tone on the headset once the sound server was back")
	}
	if _, err := b.WaitEvent("CALL_CLOSED", 100*time.Millisecond); err == nil {
		t.Error("baresip saw the call close")
	}
	mb.alive(t)
	if err := mb.client.Hangup(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestSoundServerRestartsDuringARingingCall: the sound server goes away
// and comes back while a call rings (auto_answer=0), on PulseAudio and on
// PipeWire. The call keeps ringing (it is neither ended nor rejected), the
// daemon stays up, the ring tone is back on the headset once the server
// is, and the call can then be answered, its audio on the headset.
func TestSoundServerRestartsDuringARingingCall(t *testing.T) {
	testbed.EachSoundServer(t, testSoundServerRestartsDuringARingingCall)
}

func testSoundServerRestartsDuringARingingCall(t *testing.T, srv testbed.SoundServer) {
	mb := startMediaBedOn(t, srv, "", "auto_answer = 0\n")
	mb.logOnFailure(t)
	s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_ring_then_200.xml", Target: mb.sipAddr, Service: "agent",
		Pause: 5 * time.Second, Timeout: 60 * time.Second})
	waitEvent(t, mb.ev, "call", 15*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), `"state":"ringing"`) })
	// The cadence is 1 s of 425 Hz every 5 s: 7 s of recording hold one
	// burst past a PulseAudio null sink's start-up stall.
	if l := mb.hears(t, mb.out.SinkName, 425, 7*time.Second); l < 0.1 {
		t.Fatalf("no ring tone on the headset before the sound server went: %.3f", l)
	}

	mb.pa.Stop()
	// The headset is gone from the verdict (nothing is selected, or
	// miniaudio's null device once the daemon falls back to it).
	waitEvent(t, mb.ev, "devices", 20*time.Second, func(d json.RawMessage) bool {
		var v verdict
		return json.Unmarshal(d, &v) == nil && v.outName() != jabra
	})
	ringing := func(what string) {
		t.Helper()
		calls, err := mb.client.Calls(context.Background())
		if err != nil || len(calls) != 1 || calls[0].State != "ringing" {
			t.Fatalf("%s: calls %+v %v, want one ringing call\n%s", what, calls, err, mb.proc.Log())
		}
	}
	ringing("with the sound server gone")
	mb.alive(t)

	mb.serverBack(t)
	waitEvent(t, mb.ev, "devices", 20*time.Second, func(d json.RawMessage) bool {
		var v verdict
		return json.Unmarshal(d, &v) == nil && v.outName() == jabra && v.inName() == feedMic
	})
	ringing("once the sound server is back")
	// One recording as long as the first: sipp waits 30 s for the answer.
	if l := mb.hears(t, mb.out.SinkName, 425, 7*time.Second); l < 0.1 {
		t.Errorf("no ring tone on the headset once the sound server was back: %.3f", l)
	}
	ringing("after the ring tone came back")

	if err := mb.client.Answer(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	mb.waitCall(t, "the answered call on the headset", 15*time.Second, func(ci phone.CallInfo) bool {
		return ci.Media.Output == jabra && ci.Media.Input == feedMic && ci.Media.PacketsSent > 25
	})
	mb.alive(t)
	// sipp hangs up after its 5 s pause.
	if _, err := s.Wait(20 * time.Second); err != nil {
		t.Errorf("sipp: %v", err)
	}
}
