package voice

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/testbed"
)

// call is two paths joined by two RTP sessions: A and B each have a mic
// making a tone and a speaker recording.
type call struct {
	devs       *fakeDevices
	sa, sb     *media.Session
	a, b       *Path
	spkA, spkB *recorder
	lost       chan audio.Kind
}

// Tones of the two directions: A's mic sends toneA, B's toneB.
const (
	toneA = 1000
	toneB = 600
	amp   = 0.5
)

func newCall(t *testing.T, c media.Codec) *call {
	t.Helper()
	k := &call{devs: newFakeDevices(), lost: make(chan audio.Kind, 8)}
	k.sa, k.sb = sessionPair(t, c)
	micA := k.devs.mic("micA", toneA, amp)
	micB := k.devs.mic("micB", toneB, amp)
	var outA, outB *audio.Device
	outA, k.spkA = k.devs.speaker("spkA")
	outB, k.spkB = k.devs.speaker("spkB")
	onLost := func(kind audio.Kind, _ audio.Device, err error) {
		if !errors.Is(err, audio.ErrDeviceLost) {
			t.Errorf("OnDeviceLost err = %v, want ErrDeviceLost", err)
		}
		k.lost <- kind
	}
	k.a = startPath(t, Options{Devices: k.devs, Media: k.sa, Input: micA, Output: outA, OnDeviceLost: onLost})
	k.b = startPath(t, Options{Devices: k.devs, Media: k.sb, Input: micB, Output: outB, OnDeviceLost: onLost})
	return k
}

// checkTone asserts that s holds hz at about amp and never other. It
// looks at 100 ms windows and takes the best for hz, so a scheduling
// stall on a loaded machine (a short gap) does not fail it; s should
// span several windows.
func checkTone(t *testing.T, where string, s []int16, hz, other float64) {
	t.Helper()
	l, o := bestLevel(s, hz), maxLevel(s, other)
	t.Logf("%s: level %.3f at %g Hz, %.4f at %g Hz", where, l, hz, o, other)
	if l < 0.35 || l > 0.65 {
		t.Errorf("%s: %g Hz level %.3f, want about %.1f", where, hz, l, amp)
	}
	if o > 0.05 {
		t.Errorf("%s: %g Hz level %.3f, want none", where, other, o)
	}
}

// maxLevel is the strongest level of freq in any 100 ms window of s.
func maxLevel(s []int16, freq float64) float64 { return bestLevel(s, freq) }

func TestToneBothWays(t *testing.T) {
	for _, c := range []media.Codec{pcmu, opus} {
		t.Run(c.Name, func(t *testing.T) {
			k := newCall(t, c)
			// Let the jitter buffers settle, then look at 200 ms.
			k.spkB.waitLen(t, ms(600))
			checkTone(t, "A→B", k.spkB.waitMore(t, ms(400)), toneA, toneB)
			k.spkA.waitLen(t, ms(600))
			checkTone(t, "B→A", k.spkA.waitMore(t, ms(400)), toneB, toneA)
			st := k.a.Stats()
			if st.Input != DeviceOpen || st.Output != DeviceOpen || st.FramesSent == 0 || st.FramesPlayed == 0 {
				t.Errorf("stats %+v: want both devices open and frames moving", st)
			}
			if ss := k.sb.Stats(); ss.FramesDecoded == 0 {
				t.Errorf("B decoded no frames: %+v", ss)
			}
		})
	}
}

// TestPlayoutWithStalledMicrophone: A's microphone stalls (a device that
// has not started, as a PulseAudio null source for 1.5-2 s): B is heard
// on A's speaker all the same, without the speaker running dry; when the
// microphone starts, B hears A and A still hears B.
func TestPlayoutWithStalledMicrophone(t *testing.T) {
	devs := newFakeDevices()
	sa, sb := sessionPair(t, pcmu)
	micA := devs.mic("micA", toneA, amp)
	ticks := make(chan time.Time)
	devs.ticks["micA"] = ticks
	micB := devs.mic("micB", toneB, amp)
	outA, spkA := devs.speaker("spkA")
	outB, spkB := devs.speaker("spkB")
	a := startPath(t, Options{Devices: devs, Media: sa, Input: micA, Output: outA})
	startPath(t, Options{Devices: devs, Media: sb, Input: micB, Output: outB})

	spkA.waitLen(t, ms(600))
	before := devs.stream(t, "spkA").Stats()
	checkTone(t, "B→A, A's microphone stalled", spkA.waitMore(t, ms(1000)), toneB, toneA)
	after := devs.stream(t, "spkA").Stats()
	if dry, played := after.Underruns-before.Underruns, after.Frames-before.Frames; dry*5 > played {
		t.Errorf("A's speaker ran dry for %d of %d samples while the microphone stalled, want under a fifth", dry, played)
	}
	if st := a.Stats(); st.FramesSent != 0 {
		t.Errorf("A sent %d frames before its microphone gave any", st.FramesSent)
	}

	// The microphone starts.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case now := <-tk.C:
				select {
				case ticks <- now:
				case <-stop:
					return
				}
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	spkB.waitLen(t, ms(600))
	eventually(t, "A sends", func() bool { return a.Stats().FramesSent > 10 })
	checkTone(t, "A→B", spkB.waitMore(t, ms(1000)), toneA, toneB)
	checkTone(t, "B→A, A's microphone running", spkA.waitMore(t, ms(1000)), toneB, toneA)
}

// TestStalledSpeakerKeepsSending: A's speaker takes nothing (its queue
// fills and stays full): the playout waits for room on its own
// goroutine, and B keeps hearing A.
func TestStalledSpeakerKeepsSending(t *testing.T) {
	devs := newFakeDevices()
	sa, sb := sessionPair(t, pcmu)
	micA := devs.mic("micA", toneA, amp)
	micB := devs.mic("micB", toneB, amp)
	outA, _ := devs.speaker("spkA")
	devs.ticks["spkA"] = make(chan time.Time) // never ticks
	outB, spkB := devs.speaker("spkB")
	a := startPath(t, Options{Devices: devs, Media: sa, Input: micA, Output: outA})
	startPath(t, Options{Devices: devs, Media: sb, Input: micB, Output: outB})
	spkB.waitLen(t, ms(600))
	checkTone(t, "A→B, A's speaker stalled", spkB.waitMore(t, ms(1000)), toneA, toneB)
	if st := a.Stats(); st.FramesSent < 50 {
		t.Errorf("A sent %d frames in over a second with its speaker stalled: %+v", st.FramesSent, st)
	}
}

func TestVolume(t *testing.T) {
	k := newCall(t, pcmu)
	if err := k.a.SetMicVolume(50); err != nil {
		t.Fatal(err)
	}
	k.spkB.waitLen(t, ms(600))
	if l := bestLevel(k.spkB.waitMore(t, ms(400)), toneA); l < 0.17 || l > 0.33 {
		t.Errorf("mic volume 50: level %.3f at B, want about 0.25", l)
	}
	if err := k.a.SetSpeakerVolume(0); err != nil {
		t.Fatal(err)
	}
	k.spkA.waitMore(t, ms(100)) // frames already queued at volume 100
	if l := maxLevel(k.spkA.waitMore(t, ms(200)), toneB); l > 0.01 {
		t.Errorf("speaker volume 0: level %.3f at A, want silence", l)
	}
	if mic, spk := k.a.Volumes(); mic != 50 || spk != 0 {
		t.Errorf("Volumes() = %d, %d, want 50, 0", mic, spk)
	}
}

func TestSwitchDevicesMidCall(t *testing.T) {
	k := newCall(t, pcmu)
	k.spkB.waitLen(t, ms(400))
	// Output: B moves to another headset.
	out2, spkB2 := k.devs.speaker("spkB2")
	if err := k.b.SwitchDevices(nil, out2); err != nil {
		t.Fatal(err)
	}
	spkB2.waitLen(t, ms(300))
	checkTone(t, "B's new output", spkB2.waitMore(t, ms(400)), toneA, toneB)
	old := k.devs.stream(t, "spkB")
	eventually(t, "old output closed", func() bool { return errors.Is(old.Err(), audio.ErrStreamClosed) })
	st := k.b.Stats()
	if st.Switches != 1 || st.OutputGap <= 0 || st.OutputMaxGap < st.OutputGap {
		t.Errorf("after output switch: %+v, want 1 switch and a gap", st)
	}
	if _, _, out, ok := k.b.Devices(); !ok || out.ID != "spkB2" {
		t.Errorf("B's output %q (open %v), want spkB2", out.ID, ok)
	}
	t.Logf("output switch gap %s", st.OutputGap)

	// Input: A moves to a mic making another tone; B hears it.
	const tone2 = 1300
	mic2 := k.devs.mic("micA2", tone2, amp)
	if err := k.a.SwitchDevices(mic2, nil); err != nil {
		t.Fatal(err)
	}
	spkB2.waitMore(t, ms(300))
	checkTone(t, "A's new input at B", spkB2.waitMore(t, ms(400)), tone2, toneA)
	sa := k.a.Stats()
	if sa.Switches != 1 || sa.InputGap <= 0 {
		t.Errorf("after input switch: %+v, want 1 switch and a gap", sa)
	}
	t.Logf("input switch gap %s, frames missed %d", sa.InputGap, sa.InputFramesMissed)

	// A device that cannot be opened changes nothing.
	k.devs.failID = "broken"
	if err := k.a.SwitchDevices(&audio.Device{ID: "broken"}, nil); !errors.Is(err, errFakeOpen) {
		t.Errorf("switch to a broken device: %v, want the open error", err)
	}
	if in, ok, _, _ := k.a.Devices(); !ok || in.ID != "micA2" {
		t.Errorf("after a failed switch A's input is %q (open %v), want micA2", in.ID, ok)
	}
}

func TestLostInputKeepsSending(t *testing.T) {
	k := newCall(t, pcmu)
	k.spkB.waitLen(t, ms(400))
	k.devs.stream(t, "micA").Unplug()
	select {
	case kind := <-k.lost:
		if kind != audio.KindCapture {
			t.Fatalf("lost %s, want capture", kind)
		}
	case <-time.After(hardTimeout):
		t.Fatal("OnDeviceLost not called")
	}
	if st := k.a.Stats(); st.Input != DeviceLost || st.DevicesLost != 1 {
		t.Errorf("stats %+v: want input lost, 1 device lost", st)
	}
	sent := k.sa.Stats().PacketsSent
	silent := k.a.Stats().FramesSilent
	// One more than asserted below: a frame may be counted by the session
	// before the first snapshot and by the path after the second.
	eventually(t, "silence sent", func() bool { return k.a.Stats().FramesSilent >= silent+11 })
	if got := k.sa.Stats().PacketsSent; got < sent+10 {
		t.Errorf("A sent %d packets after the loss, want at least 10 (silence keeps the call up)", got-sent)
	}
	k.spkB.waitMore(t, ms(200))
	if l := maxLevel(k.spkB.waitMore(t, ms(200)), toneA); l > 0.02 {
		t.Errorf("B still hears A's tone (%.3f) after A's mic was lost", l)
	}
	// A new mic brings the tone back.
	if err := k.a.SwitchDevices(k.devs.mic("micA2", toneA, amp), nil); err != nil {
		t.Fatal(err)
	}
	k.spkB.waitMore(t, ms(300))
	checkTone(t, "B after A's new mic", k.spkB.waitMore(t, ms(400)), toneA, toneB)
	if st := k.a.Stats(); st.Input != DeviceOpen {
		t.Errorf("input %s after switch, want open", st.Input)
	}
}

func TestLostOutputKeepsCall(t *testing.T) {
	k := newCall(t, pcmu)
	k.spkB.waitLen(t, ms(300))
	k.devs.stream(t, "spkB").Unplug()
	select {
	case kind := <-k.lost:
		if kind != audio.KindPlayback {
			t.Fatalf("lost %s, want playback", kind)
		}
	case <-time.After(hardTimeout):
		t.Fatal("OnDeviceLost not called")
	}
	dropped := k.b.Stats().FramesDropped
	eventually(t, "frames dropped", func() bool { return k.b.Stats().FramesDropped >= dropped+10 })
	if st := k.b.Stats(); st.Output != DeviceLost {
		t.Errorf("output %s, want lost", st.Output)
	}
	// The other direction goes on.
	checkTone(t, "A still hears B", k.spkA.waitMore(t, ms(400)), toneB, toneA)
}

// TestMuteSendsSilence: a muted microphone is not heard, but the call
// keeps sending RTP (digital silence without CN), so a peer's RTP timeout
// does not end it; unmuted, the microphone is heard again.
func TestMuteSendsSilence(t *testing.T) {
	k := newCall(t, pcmu)
	k.spkB.waitLen(t, ms(300))
	k.a.SetMute(true)
	if !k.a.Muted() {
		t.Fatal("Muted() false after SetMute(true)")
	}
	w := k.a.Stats().FramesWithheld
	eventually(t, "muting", func() bool { return k.a.Stats().FramesWithheld >= w+2 })
	sent := k.sa.Stats().PacketsSent
	k.spkB.waitMore(t, ms(100)) // what was queued before the mute
	heard := k.spkB.waitMore(t, ms(300))
	eventually(t, "muted frames", func() bool { return k.a.Stats().FramesWithheld >= w+12 })
	if got := k.sa.Stats().PacketsSent; got < sent+10 {
		t.Errorf("A sent %d packets while muted, want one per frame", got-sent)
	}
	if st := k.a.Stats(); st.FramesMuted < 10 || k.sa.Stats().SilenceSent < 10 {
		t.Errorf("muted frames %d, silence packets %d: want the muted frames sent as silence", st.FramesMuted, k.sa.Stats().SilenceSent)
	}
	if l := maxLevel(heard, toneA); l > 0.01 {
		t.Errorf("B hears A (%.3f) while muted", l)
	}
	k.a.SetMute(false)
	checkTone(t, "B hears A after unmute", k.spkB.waitMore(t, ms(400)), toneA, toneB)
}

func TestHoldStopsBothDirections(t *testing.T) {
	k := newCall(t, pcmu)
	k.spkA.waitLen(t, ms(300))
	k.a.SetHold(true)
	w := k.a.Stats().FramesWithheld
	eventually(t, "holding", func() bool { return k.a.Stats().FramesWithheld >= w+2 })
	sent := k.sa.Stats().PacketsSent
	k.spkA.waitMore(t, ms(100)) // what was queued before the hold
	if l := maxLevel(k.spkA.waitMore(t, ms(200)), toneB); l > 0.01 {
		t.Errorf("A hears B (%.3f) while held", l)
	}
	if got := k.sa.Stats().PacketsSent; got != sent {
		t.Errorf("A sent %d packets while held, want 0", got-sent)
	}
	k.a.SetHold(false)
	// The resume sends a packet at once, before the next capture period.
	if got := k.sa.Stats().PacketsSent; got < sent+1 {
		t.Errorf("A sent nothing at once on resume")
	}
	eventually(t, "sending after resume", func() bool { return k.sa.Stats().PacketsSent >= sent+10 })
}

func TestNoDevicesPacesSilence(t *testing.T) {
	a, b := sessionPair(t, pcmu)
	p := startPath(t, Options{Media: a})
	if st := p.Stats(); st.Input != DeviceNone || st.Output != DeviceNone {
		t.Errorf("states %s/%s, want none/none", st.Input, st.Output)
	}
	eventually(t, "silence received", func() bool { return b.Stats().PacketsReceived >= 10 })
	st := p.Stats()
	if st.FramesSilent == 0 || st.FramesSilent != st.FramesSent {
		t.Errorf("stats %+v: want every frame sent to be silence", st)
	}
}

// TestSilencePacedByClock: without a microphone the path sends one frame
// of silence per packet time of the clock, even when the session hands
// out frames faster than that.
func TestSilencePacedByClock(t *testing.T) {
	m := newFakeMedia(t)
	m.instant = true
	start := time.Now()
	p := startPath(t, Options{Media: m})
	eventually(t, "silence sent", func() bool { return p.Stats().FramesSent >= 5 })
	elapsed := time.Since(start)
	if sent, most := p.Stats().FramesSent, uint64(elapsed/(20*time.Millisecond))+2; sent > most {
		t.Errorf("%d frames of silence sent in %s, want at most %d (one per 20 ms)", sent, elapsed, most)
	}
}

func TestInbandDTMF(t *testing.T) {
	devs := newFakeDevices()
	a, b := sessionPair(t, pcmu)
	out, spk := devs.speaker("spkB")
	pa := startPath(t, Options{Media: a}) // no mic: silence between digits
	startPath(t, Options{Devices: devs, Media: b, Output: out})
	spk.waitLen(t, ms(100))
	start := spk.len()
	pa.SetMute(true) // digits go out while muted
	ctx, cancel := context.WithTimeout(context.Background(), hardTimeout)
	defer cancel()
	const digits = "159#"
	if err := pa.SendDTMF(ctx, digits); err != nil {
		t.Fatal(err)
	}
	spk.waitMore(t, ms(300)) // the last digit, behind the jitter buffer
	all := spk.waitLen(t, 0)
	if got := detectDTMF(all[start:]); got != digits {
		t.Errorf("detected %q, want %q", got, digits)
	}
	if n := pa.Stats().DTMFDigits; n != 4 {
		t.Errorf("DTMFDigits = %d, want 4", n)
	}
	if err := pa.SendDTMF(ctx, "1x"); !errors.Is(err, ErrInvalidDigit) {
		t.Errorf("SendDTMF(1x) = %v, want ErrInvalidDigit", err)
	}
}

// detectDTMF finds DTMF digits in s (device rate) with Goertzel filters
// over 20 ms windows. Like a receiver that bridges short interruptions
// (ITU-T Q.24), a digit repeats only after at least two quiet windows
// (40 ms; the gap between digits is 60 ms): a window lost to a playback
// underrun or a concealed frame does not split a tone in two.
func detectDTMF(s []int16) string {
	var out []rune
	last, quiet := rune(0), 2
	w := ms(20)
	for i := 0; i+w <= len(s); i += w {
		win := s[i : i+w]
		r, rl := strongest(win, dtmfRows[:])
		c, cl := strongest(win, dtmfCols[:])
		if rl <= 0.1 || cl <= 0.1 {
			quiet++
			continue
		}
		d := rune(dtmfPad[r][c])
		if d != last || quiet >= 2 {
			out = append(out, d)
		}
		last, quiet = d, 0
	}
	return string(out)
}

// strongest returns the index and level of the strongest of freqs in s,
// or level 0 when another is nearly as strong.
func strongest(s []int16, freqs []float64) (int, float64) {
	best, bl, second := 0, 0.0, 0.0
	for i, f := range freqs {
		l := level(s, f)
		if l > bl {
			best, bl, second = i, l, bl
		} else if l > second {
			second = l
		}
	}
	if second > bl/2 {
		return best, 0
	}
	return best, bl
}

func TestZipTone(t *testing.T) {
	devs := newFakeDevices()
	out, spk := devs.speaker("spk")
	m := newFakeMedia(t)
	m.instant = true // the fake device paces the path: no underruns
	m.pacer = spk    // and its queue keeps its level (see fakeMedia)
	// No latency bound either, or it could drop the tone being checked.
	p := startPath(t, Options{Devices: devs, Media: m, Output: out, PlaybackLatency: -1})
	spk.waitLen(t, ms(40))
	start := spk.len()
	select {
	case <-p.PlayZipTone():
	case <-time.After(hardTimeout):
		t.Fatal("zip tone not played")
	}
	checkZip(t, spk.waitLen(t, start+ms(600))[start:], 0.25)
}

func TestStartErrors(t *testing.T) {
	devs := newFakeDevices()
	devs.failID = "broken"
	for _, tt := range []struct {
		name    string
		opts    Options
		wantErr error
	}{
		{"no media", Options{}, ErrBadOptions},
		{"device without opener", Options{Media: newFakeMedia(t), Input: &audio.Device{ID: "x"}}, ErrBadOptions},
		{"bad rate", Options{Media: newFakeMedia(t), DeviceRate: 100}, ErrBadOptions},
		{"broken input", Options{Devices: devs, Media: newFakeMedia(t), Input: &audio.Device{ID: "broken"}}, errFakeOpen},
		{"broken output", Options{Devices: devs, Media: newFakeMedia(t), Input: devs.mic("m", 0, 0),
			Output: &audio.Device{ID: "broken"}}, errFakeOpen},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Start err = %v, want %v", err, tt.wantErr)
			}
			if p != nil {
				t.Error("Start returned a path with an error")
			}
		})
	}
}

func TestCloseIdempotent(t *testing.T) {
	testbed.CheckLeaks(t)
	devs := newFakeDevices()
	out, _ := devs.speaker("spk")
	p, err := Start(Options{Devices: devs, Media: newFakeMedia(t), Input: devs.mic("m", 440, 0.5), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	zip := p.PlayZipTone()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-zip:
	default:
		t.Error("zip tone channel not closed by Close")
	}
	for _, id := range []string{"m", "spk"} {
		if err := devs.stream(t, id).Err(); !errors.Is(err, audio.ErrStreamClosed) {
			t.Errorf("%s stream err %v after Close, want closed", id, err)
		}
	}
	if err := p.SwitchDevices(devs.mic("m2", 0, 0), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SwitchDevices after Close: %v, want ErrClosed", err)
	}
	if err := p.SendDTMF(context.Background(), "1"); !errors.Is(err, ErrClosed) {
		t.Errorf("SendDTMF after Close: %v, want ErrClosed", err)
	}
}

func TestCodecChangeMidCall(t *testing.T) {
	k := newCall(t, pcmu)
	k.spkB.waitLen(t, ms(400))
	checkTone(t, "PCMU", k.spkB.waitMore(t, ms(400)), toneA, toneB)
	// A re-INVITE moves the call to Opus at 40 ms: both sessions are
	// updated, the paths follow without a restart.
	na, nb := k.sa.Negotiated(), k.sb.Negotiated()
	na.Codec, nb.Codec = opus, opus
	na.RecvPayloadType, nb.RecvPayloadType = opus.PayloadType, opus.PayloadType
	na.PTime, nb.PTime = 40, 40
	if err := k.sa.Update(na); err != nil {
		t.Fatal(err)
	}
	if err := k.sb.Update(nb); err != nil {
		t.Fatal(err)
	}
	decoded := k.sb.Stats().FramesDecoded
	eventually(t, "opus frames decoded", func() bool { return k.sb.Stats().FramesDecoded >= decoded+10 })
	checkTone(t, "opus at B", k.spkB.waitMore(t, ms(400)), toneA, toneB)
	checkTone(t, "opus at A", k.spkA.waitMore(t, ms(400)), toneB, toneA)
}
