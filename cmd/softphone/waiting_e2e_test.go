package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// TestCallWaitingOneCallerAtATime: two callers, each sending its own tone
// (alice 440 Hz, bob 660 Hz); the agent's microphone hears 1 kHz. Alice's
// call is answered; bob's waits. `softphone answer` (no call named)
// answers bob and puts alice on hold first; `softphone resume ALICE` swaps
// back. At each step the headset plays the active caller's tone only, the
// held call sends nothing (the held caller does not hear the headset), and
// each caller heard the agent while its call was active.
func TestCallWaitingOneCallerAtATime(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	mb := startMediaBed(t, "", "auto_answer = 1\ncall_waiting = 1\n")
	caller := func(user string, hz int) *testbed.Baresip {
		wav := filepath.Join(t.TempDir(), user+".wav")
		if err := testbed.WriteToneWAV(wav, 8000, hz, 60, 0.5); err != nil {
			t.Fatal(err)
		}
		return testbed.StartBaresip(t, testbed.BaresipOptions{User: user, AnswerMode: "manual", AudioSource: wav,
			Codecs: []string{"PCMU"}, Record: true})
	}
	alice, bob := caller("alice", 440), caller("bob", 660)
	mb.pa.Play(t, feedSink, testbed.Tone(1000, 48000, 48000*60, 0.5), 48000)
	target := "sip:agent@" + mb.sipAddr

	if err := alice.Dial(target); err != nil {
		t.Fatal(err)
	}
	a := waitCallEvent(t, mb.ev, "", "active")
	if err := bob.Dial(target); err != nil {
		t.Fatal(err)
	}
	b := waitCallEvent(t, mb.ev, "", "ringing")

	// One recording of the headset for the whole test; hears listens to
	// what it records from now on for 1.5 s.
	rec := mb.pa.Record(t, mb.out.SinkName+".monitor", 16000)
	hears := func(hz float64) float64 {
		t.Helper()
		from := len(zipRecorded(t, rec))
		time.Sleep(1500 * time.Millisecond) // recording length
		return maxLevel(zipRecorded(t, rec)[from:], hz, 16000)
	}
	sent := func(id string) uint64 {
		t.Helper()
		calls, err := mb.client.Calls(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range calls {
			if ci.ID == id && ci.Media != nil {
				return ci.Media.PacketsSent
			}
		}
		t.Fatalf("call %s not in %+v", id, calls)
		return 0
	}
	// step checks that the headset plays the active caller's tone and not
	// the held one's, and that the held call sends nothing meanwhile.
	step := func(name string, active, held phone.CallInfo, activeHz, heldHz float64) {
		t.Helper()
		// (A PulseAudio null sink stalls for about 2 s after a stream
		// starts: listen until the tone is there.)
		if !testbed.WaitFor(10*time.Second, func() bool { return hears(activeHz) > 0.1 }) {
			t.Fatalf("%s: no %.0f Hz on the headset\n%s", name, activeHz, mb.proc.Log())
		}
		heldBefore, activeBefore := sent(held.ID), sent(active.ID)
		if l := hears(heldHz); l > 0.05 {
			t.Errorf("%s: the held caller's %.0f Hz is on the headset: level %.3f", name, heldHz, l)
		}
		if n := sent(held.ID) - heldBefore; n > 0 {
			t.Errorf("%s: the held call sent %d packets: its caller hears the agent", name, n)
		}
		if n := sent(active.ID) - activeBefore; n < 25 {
			t.Errorf("%s: the active call sent %d packets in 1.5 s", name, n)
		}
	}

	// heard is the agent's 1 kHz in what the caller has recorded so far.
	// (baresip 1.0 drops its receive filters, the recorder among them, when
	// a call is put on hold and does not set them up again on resume: a
	// caller's recording ends at its first hold. What alice hears after the
	// resume is asserted through the packets sent, in step.)
	heard := func(c *testbed.Baresip) float64 {
		dec, _ := c.Recordings()
		if len(dec) == 0 {
			return 0
		}
		r, _, samples, err := testbed.ReadWAV(dec[len(dec)-1])
		if err != nil {
			return 0
		}
		return maxLevel(samples, 1000, r)
	}

	// Alice alone: her tone, and she hears the agent. Bob waits (no
	// ringing over the call).
	if !testbed.WaitFor(10*time.Second, func() bool { return hears(440) > 0.1 }) {
		t.Fatalf("no 440 Hz from alice on the headset\n%s", mb.proc.Log())
	}
	if !testbed.WaitFor(10*time.Second, func() bool { return heard(alice) > 0.3 }) {
		t.Fatalf("alice does not hear the agent's 1 kHz (level %.3f)\n%s", heard(alice), mb.proc.Log())
	}
	if _, errOut, code := runCLI(t, mb.env, "answer", "-c", mb.cfg); code != 0 {
		t.Fatalf("softphone answer: exit %d: %s", code, errOut)
	}
	waitCallEvent(t, mb.ev, a.ID, "held")
	waitCallEvent(t, mb.ev, b.ID, "active")
	step("bob answered, alice held", b, a, 660, 440)

	if _, errOut, code := runCLI(t, mb.env, "resume", "-c", mb.cfg, a.ID); code != 0 {
		t.Fatalf("softphone resume %s: exit %d: %s", a.ID, code, errOut)
	}
	waitCallEvent(t, mb.ev, b.ID, "held")
	waitCallEvent(t, mb.ev, a.ID, "active")
	step("alice resumed, bob held", a, b, 440, 660)

	for _, id := range []string{a.ID, b.ID} {
		if err := mb.client.Hangup(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*testbed.Baresip{alice, bob} {
		if _, err := c.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		var dec []string
		testbed.WaitFor(5*time.Second, func() bool { dec, _ = c.Recordings(); return len(dec) > 0 })
		if len(dec) == 0 {
			t.Fatal("the caller recorded nothing")
		}
		r, _, samples, err := testbed.ReadWAV(dec[len(dec)-1])
		if err != nil {
			t.Fatal(err)
		}
		if l := maxLevel(samples, 1000, r); l < 0.3 {
			t.Errorf("%s: the agent's 1 kHz reached the caller at level %.3f", dec[len(dec)-1], l)
		}
	}
}
