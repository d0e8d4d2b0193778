package voice

import (
	"testing"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/testbed"
)

// bestLevel is the strongest level of freq over 100 ms windows of s: a
// recording starts with silence while the streams warm up.
func bestLevel(s []int16, freq float64) float64 {
	best := 0.0
	for i := 0; i+ms(100) <= len(s); i += ms(100) {
		best = max(best, level(s[i:i+ms(100)], freq))
	}
	return best
}

// TestPulseHeadsetsEndToEnd runs a call between two paths on a real
// sound server, PulseAudio and then PipeWire: a 1 kHz tone played into headset A's earpiece is captured
// from A's microphone (the remapped monitor), sent over RTP (PCMU) and
// played by B into headset B, where parec records it. Headset B is then
// unplugged mid-call and B switches to headset C: the tone goes on there.
func TestPulseHeadsetsEndToEnd(t *testing.T) {
	testbed.EachSoundServer(t, testHeadsetsEndToEnd)
}

func testHeadsetsEndToEnd(t *testing.T, srv testbed.SoundServer) {
	testbed.Require(t, "parec", "paplay")
	pa := testbed.StartSoundServer(t, srv)
	pa.Setenv(t)
	hsA := pa.AddHeadset(t, "hs_a", "Headset A")
	hsB := pa.AddHeadset(t, "hs_b", "Headset B")
	hsC := pa.AddHeadset(t, "hs_c", "Headset C")
	sys, err := audio.Open(audio.Options{Backend: "pulseaudio"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	sa, sb := sessionPair(t, pcmu)

	lost := make(chan audio.Kind, 4)
	pathA := startPath(t, Options{Devices: sys, Media: sa,
		Input: &audio.Device{ID: hsA.SourceName, Kind: audio.KindCapture}})
	pathB := startPath(t, Options{Devices: sys, Media: sb,
		Output:       &audio.Device{ID: hsB.SinkName, Kind: audio.KindPlayback},
		OnDeviceLost: func(k audio.Kind, _ audio.Device, _ error) { lost <- k }})
	pa.Play(t, hsA.SinkName, testbed.Tone(toneA, rate, rate*20, amp), rate)

	rec := pa.Record(t, hsB.SinkName+".monitor", rate)
	played := pathB.Stats().FramesPlayed
	// PulseAudio's null sinks take about 1.5 s to stream steadily
	// (PipeWire's do not pause).
	eventually(t, "3 s played on headset B", func() bool { return pathB.Stats().FramesPlayed >= played+150 })
	got := rec.Stop(t)
	// The level is about amp on PulseAudio and near full scale on
	// PipeWire, whose stereo-to-mono downmix keeps 0.707 of each channel
	// (PulseAudio's halves them): the tone crosses two such downmixes,
	// A's microphone and the recording of B's monitor.
	if l := bestLevel(got, toneA); l < 0.3 {
		t.Errorf("headset B: 1 kHz level %.3f in %d samples, want about %.1f", l, len(got), amp)
	}
	t.Logf("headset B: best 1 kHz level %.3f; A %+v", bestLevel(got, toneA), pathA.Stats())

	hsB.Unplug(t)
	select {
	case k := <-lost:
		if k != audio.KindPlayback {
			t.Fatalf("lost %s, want playback", k)
		}
	case <-time.After(hardTimeout):
		t.Fatal("unplugging headset B was not reported")
	}
	if st := pathB.Stats(); st.Output != DeviceLost {
		t.Errorf("B output %s after unplug, want lost", st.Output)
	}
	rec = pa.Record(t, hsC.SinkName+".monitor", rate)
	if err := pathB.SwitchDevices(nil, &audio.Device{ID: hsC.SinkName, Kind: audio.KindPlayback}); err != nil {
		t.Fatal(err)
	}
	played = pathB.Stats().FramesPlayed
	eventually(t, "3 s played on headset C", func() bool { return pathB.Stats().FramesPlayed >= played+150 })
	got = rec.Stop(t)
	if l := bestLevel(got, toneA); l < 0.3 {
		t.Errorf("headset C: 1 kHz level %.3f in %d samples, want about %.1f", l, len(got), amp)
	}
	st := pathB.Stats()
	if st.Output != DeviceOpen || st.Switches != 1 || st.DevicesLost != 1 {
		t.Errorf("B stats %+v: want output open, 1 switch, 1 device lost", st)
	}
	t.Logf("headset C: best 1 kHz level %.3f; B %+v", bestLevel(got, toneA), st)

	// A planned switch (the agent picks another headset): the gap is
	// measured and logged, not asserted (timing is for the benchmarks).
	hsD := pa.AddHeadset(t, "hs_d", "Headset D")
	if err := pathB.SwitchDevices(nil, &audio.Device{ID: hsD.SinkName, Kind: audio.KindPlayback}); err != nil {
		t.Fatal(err)
	}
	played = pathB.Stats().FramesPlayed
	eventually(t, "frames on headset D", func() bool { return pathB.Stats().FramesPlayed >= played+25 })
	if st := pathB.Stats(); st.Switches != 2 || st.OutputGap <= 0 {
		t.Errorf("B stats %+v after a planned switch: want 2 switches and a gap", st)
	} else {
		t.Logf("planned switch on %s: gap %s (after the loss: max %s)", srv, st.OutputGap, st.OutputMaxGap)
	}
	if sa.Stats().PacketsSent == 0 || sb.Stats().PacketsReceived == 0 {
		t.Error("no RTP moved")
	}
}
