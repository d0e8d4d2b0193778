package main

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/softphone/softphone/internal/testbed"
)

// The zip tone end to end: the daemon answers a call by itself and the
// agent hears the zip tone (two short 1 kHz beeps) in the headset, as
// PulseAudio's monitor of the virtual headset records it. The callers
// send no audio at all, so anything loud in the headset is ours.

const (
	zipRate   = 16000 // recording rate
	zipWindow = 160   // 10 ms analysis windows
	zipHz     = 1000
	// zipHeard is how much of the headset's audio a recording must hold
	// before it is judged: PulseAudio's monitor only delivers while the
	// sink runs, and the tone comes within the first few hundred
	// milliseconds of that.
	zipHeard = 3 * zipRate / 2
)

// zipWin is one analysis window of a recording.
type zipWin struct {
	tone float64 // level of the 1 kHz tone (amplitude, full scale 1)
	peak float64 // sine-equivalent amplitude of everything: RMS·√2
}

func zipWindows(s []int16) []zipWin {
	var out []zipWin
	for i := 0; i+zipWindow <= len(s); i += zipWindow {
		w := s[i : i+zipWindow]
		var sum float64
		for _, v := range w {
			f := float64(v) / 32768
			sum += f * f
		}
		out = append(out, zipWin{tone: testbed.ToneLevel(w, zipHz, zipRate), peak: math.Sqrt(2 * sum / float64(len(w)))})
	}
	return out
}

// zipBurst is a run of windows where the 1 kHz tone is loud.
type zipBurst struct {
	windows int
	level   float64 // the loudest window
}

// zipBursts groups the loud 1 kHz windows into bursts: two quiet windows
// or more end a burst (the zip tone's gap is six).
func zipBursts(ws []zipWin) []zipBurst {
	var out []zipBurst
	quiet := 2
	for _, w := range ws {
		if w.tone < 0.15 {
			quiet++
			continue
		}
		if quiet >= 2 {
			out = append(out, zipBurst{})
		}
		quiet = 0
		b := &out[len(out)-1]
		b.windows++
		b.level = max(b.level, w.tone)
	}
	return out
}

// zipRecorded returns what a running parec wrote so far.
func zipRecorded(t *testing.T, r *testbed.Recording) []int16 {
	t.Helper()
	raw, err := os.ReadFile(r.File)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := make([]int16, len(raw)/2)
	for i := range out {
		out[i] = int16(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
	}
	return out
}

// zipCall places a call from sipp that sends no media and waits for our
// BYE; it returns once the call is active.
func zipCall(t *testing.T, cd *callDaemon) *testbed.Sipp {
	t.Helper()
	s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_wait_bye.xml", Target: cd.sipAddr, Service: "agent",
		Timeout: 60 * time.Second})
	cd.callEvent(t, "active")
	return s
}

// startZipDaemon starts a call daemon with the headset bed and the
// session settings given, checking at the end that no goroutine of the
// test leaked.
func startZipDaemon(t *testing.T, session string) *callDaemon {
	t.Helper()
	testbed.Require(t, "pulseaudio", "pactl", "parec", "sipp")
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	return startCallDaemon(t, session, true)
}

// zipHangUp ends the call from our side; sipp's scenario ends with our BYE.
func zipHangUp(t *testing.T, cd *callDaemon, s *testbed.Sipp) {
	t.Helper()
	if err := cd.client.Hangup(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wait(30 * time.Second); err != nil {
		t.Errorf("sipp: %v", err)
	}
}

// zipCheckOutput checks that the call plays into the Jabra headset.
func zipCheckOutput(t *testing.T, cd *callDaemon) {
	t.Helper()
	calls, err := cd.client.Calls(context.Background())
	if err != nil || len(calls) != 1 || calls[0].Media == nil {
		t.Fatalf("calls: %+v %v", calls, err)
	}
	if out := calls[0].Media.Output; out != jabra {
		t.Errorf("call output %q, want %q", out, jabra)
	}
}

// zipWaitHeard waits until the recording holds n samples of the headset's
// audio (the monitor delivers only while the sink runs), and returns them.
func zipWaitHeard(t *testing.T, cd *callDaemon, r *testbed.Recording, n int, ok func([]int16) bool) []int16 {
	t.Helper()
	if !testbed.WaitFor(20*time.Second, func() bool { s := zipRecorded(t, r); return len(s) >= n && (ok == nil || ok(s)) }) {
		got := r.Stop(t)
		t.Fatalf("recorded %d samples at %d Hz, bursts %+v\n%s", len(got), zipRate, zipBursts(zipWindows(got)), cd.proc.Log())
	}
	return r.Stop(t)
}

// TestZipToneOnAutoAnswer: auto_answer=1, zip_tone=1: the headset plays
// the zip tone, two 1 kHz bursts at the tone's level, whole, and nothing
// else loud.
func TestZipToneOnAutoAnswer(t *testing.T) {
	cd := startZipDaemon(t, "auto_answer=1\nzip_tone=1\n")
	rec := cd.pa.Record(t, cd.jabra.SinkName+".monitor", zipRate)
	s := zipCall(t, cd)
	// Wait until two bursts are there and the headset went on playing
	// past them.
	got := zipWaitHeard(t, cd, rec, zipHeard, func(s []int16) bool {
		ws := zipWindows(s)
		return len(zipBursts(ws)) >= 2 && len(ws) > 0 && ws[len(ws)-1].tone < 0.15
	})
	zipCheckOutput(t, cd)
	zipHangUp(t, cd, s)

	ws := zipWindows(got)
	bursts := zipBursts(ws)
	t.Logf("recorded %d ms; bursts %+v", len(got)*1000/zipRate, bursts)
	if len(bursts) != 2 {
		t.Fatalf("%d bursts of 1 kHz, want 2 (the zip tone's beeps): %+v", len(bursts), bursts)
	}
	loud := 0
	for i, b := range bursts {
		// The beeps are 60 ms at amplitude 0.3: each must be there whole
		// (four windows at least) at about that level.
		if b.level < 0.2 || b.level > 0.4 || b.windows < 4 {
			t.Errorf("beep %d: %d windows of 10 ms, level %.3f; want ≥ 4 windows at 0.2-0.4", i+1, b.windows, b.level)
		}
		loud += b.windows
	}
	if loud < 8 || loud > 20 {
		t.Errorf("1 kHz loud for %d windows of 10 ms, want the two beeps' 12 give or take", loud)
	}
	// Nothing else loud: sound only in the beeps' windows or next to them
	// (a window a beep starts or ends in), and within a beep only 1 kHz.
	beep := func(i int) bool { return i >= 0 && i < len(ws) && ws[i].tone >= 0.15 }
	for i, w := range ws {
		switch {
		case w.peak > 0.02 && !beep(i-1) && !beep(i) && !beep(i+1):
			t.Errorf("window %d (%d ms): level %.3f (1 kHz %.3f) outside the beeps", i, i*10, w.peak, w.tone)
		case beep(i-1) && beep(i) && beep(i+1) && w.tone < 0.8*w.peak:
			t.Errorf("window %d (%d ms): level %.3f, of it 1 kHz %.3f: something else is loud", i, i*10, w.peak, w.tone)
		}
	}
}

// TestZipToneOff: zip_tone=0: an auto-answered call plays nothing in the
// headset.
func TestZipToneOff(t *testing.T) {
	cd := startZipDaemon(t, "auto_answer=1\nzip_tone=0\n")
	rec := cd.pa.Record(t, cd.jabra.SinkName+".monitor", zipRate)
	s := zipCall(t, cd)
	got := zipWaitHeard(t, cd, rec, zipHeard, nil)
	zipCheckOutput(t, cd)
	zipHangUp(t, cd, s)
	for i, w := range zipWindows(got) {
		if w.peak > 0.02 || w.tone > 0.02 {
			t.Fatalf("window %d (%d ms): level %.3f (1 kHz %.3f) in a call with the zip tone off", i, i*10, w.peak, w.tone)
		}
	}
	t.Logf("recorded %d ms of silence", len(got)*1000/zipRate)
}

// TestZipToneNotOnManualAnswer: auto_answer=0: the call rings and the agent
// answers with `softphone answer`; no zip tone follows (it is for calls the
// phone answers by itself).
func TestZipToneNotOnManualAnswer(t *testing.T) {
	cd := startZipDaemon(t, "auto_answer=0\nzip_tone=1\n")
	s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_ring_then_200.xml", Target: cd.sipAddr, Service: "agent",
		Pause: 30 * time.Second, Timeout: 60 * time.Second})
	cd.callEvent(t, "ringing")
	if _, errOut, code := cd.cli(t, "answer"); code != 0 {
		t.Fatalf("softphone answer: exit %d: %s", code, errOut)
	}
	cd.callEvent(t, "active")
	// From the answer on (the ringer played 425 Hz before it).
	rec := cd.pa.Record(t, cd.jabra.SinkName+".monitor", zipRate)
	got := zipWaitHeard(t, cd, rec, zipHeard, nil)
	zipCheckOutput(t, cd)
	if err := cd.client.Hangup(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	cd.callEvent(t, "ended")
	s.Stop()
	best := 0.0
	for _, w := range zipWindows(got) {
		best = max(best, w.tone)
	}
	if best > 0.02 {
		t.Errorf("1 kHz level %.3f after a manual answer, want none (no zip tone)", best)
	}
	t.Logf("recorded %d ms; best 1 kHz level %.3f", len(got)*1000/zipRate, best)
}
