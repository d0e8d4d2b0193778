package voice

import (
	"testing"

	"github.com/softphone/softphone/internal/media"
)

// TestMuteSendsComfortNoise: with CN agreed (RFC 3389) a muted microphone
// sends a SID every media.ComfortNoiseInterval instead of a packet per
// frame; the SID carries the microphone's noise floor from before the
// mute, and the other side plays noise at that level, never the
// microphone's audio.
func TestMuteSendsComfortNoise(t *testing.T) {
	k := newCall(t, pcmu)
	cn := &media.Codec{Name: "CN", PayloadType: 13, ClockRate: 8000, SampleRate: 8000, Channels: 1}
	for _, s := range []*media.Session{k.sa, k.sb} {
		n := s.Negotiated()
		n.CN = cn
		if err := s.Update(n); err != nil {
			t.Fatal(err)
		}
	}
	// A's microphone picks up a steady -43 dBov (a sine of 1% of full
	// scale) before the mute: its noise floor.
	quiet := k.devs.mic("quietA", toneA, 0.01)
	if err := k.a.SwitchDevices(quiet, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "quiet microphone in use", func() bool { return k.a.Stats().Switches == 1 })
	k.spkB.waitMore(t, ms(1200)) // a noise floor window
	k.a.SetMute(true)
	eventually(t, "first SID", func() bool { return k.sa.Stats().ComfortNoiseSent >= 1 })
	sa0, a0, sb0 := k.sa.Stats(), k.a.Stats(), k.sb.Stats()
	k.spkB.waitMore(t, ms(200)) // what was queued before the mute
	heard := k.spkB.waitMore(t, ms(600))
	eventually(t, "SIDs", func() bool { return k.sb.Stats().ComfortNoiseReceived >= sa0.ComfortNoiseSent+3 })
	sa1, a1 := k.sa.Stats(), k.a.Stats()
	frames := a1.FramesMuted - a0.FramesMuted
	packets := sa1.PacketsSent - sa0.PacketsSent
	if sids := sa1.ComfortNoiseSent - sa0.ComfortNoiseSent; sids != packets || packets > frames/10+1 {
		t.Errorf("%d muted frames went out as %d packets (%d SIDs), want a SID every 10 frames", frames, packets, sids)
	}
	if sa1.SilenceSent != 0 {
		t.Errorf("%d packets of silence sent with CN agreed", sa1.SilenceSent)
	}
	if st := k.sb.Stats(); st.PacketsIgnored != 0 || st.FramesConcealed > sb0.FramesConcealed+1 {
		t.Errorf("B: %d packets ignored, %d frames concealed during the mute: SIDs are not speech", st.PacketsIgnored,
			st.FramesConcealed-sb0.FramesConcealed)
	}
	if l := media.NoiseLevel(heard); l < 40 || l > 46 {
		t.Errorf("B hears comfort noise at -%d dBov, want about -43", l)
	}
	if l := maxLevel(heard, toneA); l > 0.005 {
		t.Errorf("B hears A's microphone (%.4f) while muted", l)
	}
	k.a.SetMute(false)
	sent := k.sa.Stats().PacketsSent
	eventually(t, "speech after unmute", func() bool { return k.sa.Stats().PacketsSent >= sent+10 })
}

func TestNoiseFloor(t *testing.T) {
	var f noiseFloor
	if got := f.level(); got != media.NoiseLevelSilence {
		t.Errorf("no frame yet: %d, want silence", got)
	}
	// The quietest frame of the window is the floor: louder speech frames
	// do not raise it.
	for i := range noiseFloorFrames {
		l := uint8(20)
		if i == 7 {
			l = 60
		}
		f.add(l)
	}
	if got := f.level(); got != 60 {
		t.Errorf("after a window: %d, want 60", got)
	}
	// The next window is louder: the floor follows once the older window
	// is gone, not before.
	for range noiseFloorFrames / 2 {
		f.add(40)
	}
	if got := f.level(); got != 60 {
		t.Errorf("half a louder window in: %d, want 60 still", got)
	}
	for range noiseFloorFrames/2 + noiseFloorFrames {
		f.add(40)
	}
	if got := f.level(); got != 40 {
		t.Errorf("two louder windows in: %d, want 40", got)
	}
}
