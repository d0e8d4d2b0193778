package voice

import (
	"testing"

	"github.com/softphone/softphone/internal/dsp"
)

// TestProcessingFollowsSwitches: with the stage on, a call switched to
// another microphone and speaker mid-call goes on sending and playing, and
// the stage starts afresh for the new device pair; with it off, no stage
// is built at all.
func TestProcessingFollowsSwitches(t *testing.T) {
	devs := newFakeDevices()
	mic1, mic2 := devs.mic("mic1", 440, 0.3), devs.mic("mic2", 660, 0.3)
	spk1, _ := devs.speaker("spk1")
	spk2, rec2 := devs.speaker("spk2")
	m := newFakeMedia(t)
	p := startPath(t, Options{Devices: devs, Media: m, Input: mic1, Output: spk1,
		Processing: dsp.Settings{EchoCancellation: true, NoiseSuppression: true}})
	if p.dsp == nil {
		t.Fatal("stage on, but none built")
	}
	eventually(t, "frames sent on the first pair", func() bool { return p.Stats().FramesSent >= 10 })
	if n := p.dsp.Resets(); n != 0 {
		t.Fatalf("%d resets before any switch", n)
	}
	if err := p.SwitchDevices(mic2, spk2); err != nil {
		t.Fatal(err)
	}
	sent := p.Stats().FramesSent
	eventually(t, "frames sent on the new pair", func() bool { return p.Stats().FramesSent >= sent+10 })
	rec2.waitLen(t, ms(100))
	if n := p.dsp.Resets(); n == 0 {
		t.Error("the stage was not reset for the new device pair")
	}

	off := startPath(t, Options{Devices: devs, Media: newFakeMedia(t), Input: mic1, Output: spk1})
	if off.dsp != nil {
		t.Error("stage off, but one was built")
	}
}
