package audio

import (
	"errors"
	"fmt"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// bestToneLevel is the strongest level of a tone at freq over windows of
// 100 ms: a recording starts and ends with silence, and parts of a stream
// may be silent while it warms up.
func bestToneLevel(samples []int16, freq float64, rate int) float64 {
	win := rate / 10
	best := 0.0
	for i := 0; i+win <= len(samples); i += win {
		best = max(best, testbed.ToneLevel(samples[i:i+win], freq, rate))
	}
	return best
}

// playTone writes a tone to a playback stream in periods until d has
// been played, as a media path would.
func playTone(t *testing.T, ps PlaybackStream, freq float64, d time.Duration) {
	t.Helper()
	cfg := ps.Config()
	n := int(int64(cfg.SampleRate) * int64(d) / int64(time.Second))
	tone := testbed.Tone(freq, cfg.SampleRate, n, 0.5)
	per := cfg.PeriodSamples()
	for i := 0; i+per <= len(tone); i += per {
		if _, err := ps.Write(tone[i : i+per]); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
}

// openPulse opens a System on the test's PulseAudio server, closed at
// cleanup.
func openPulse(t testing.TB) *System {
	t.Helper()
	s, err := Open(Options{Backend: "pulseaudio"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestPlaybackToneReachesSinkMonitor(t *testing.T) {
	testbed.EachSoundServer(t, func(t *testing.T, srv testbed.SoundServer) {
		p, jabra, _ := startHeadsetsOn(t, srv)
		s := openPulse(t)
		rec := p.Record(t, jabra.SinkName+".monitor", 48000)
		ps, err := s.OpenPlayback(Device{ID: jabra.SinkName, Kind: KindPlayback}, StreamConfig{})
		if err != nil {
			t.Fatal(err)
		}
		wantCCallback(t, ps)
		playTone(t, ps, 440, 3*time.Second)
		st := ps.Stats()
		wantRealTime(t, st)
		// The data callback is handed what the server asks for (its
		// first fill alone is three periods), not whole periods gathered
		// in miniaudio's own buffer, which would hold up to a period more
		// before the speaker and make every callback exactly a period.
		if per := uint64(ps.Config().PeriodFrames()); st.Callbacks == 0 || st.Frames == st.Callbacks*per {
			t.Errorf("%d frames in %d callbacks: every callback a whole period (%d frames), want the server's requests", st.Frames, st.Callbacks, per)
		}
		if err := ps.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		got := rec.Stop(t)
		t.Logf("stats %+v; recorded %d samples", st, len(got))
		if lvl := bestToneLevel(got, 440, 48000); lvl < 0.3 {
			t.Errorf("440 Hz level in the sink's monitor = %.3f, want about 0.5", lvl)
		}
		if lvl := bestToneLevel(got, 1000, 48000); lvl > 0.05 {
			t.Errorf("1 kHz level = %.3f, want about 0 (only a 440 Hz tone was played)", lvl)
		}
		if st.Frames < 48000 || st.Steady == 0 {
			t.Errorf("stats %+v: want at least 1 s of frames and a steady stream", st)
		}
		if !errors.Is(ps.Err(), ErrStreamClosed) {
			t.Errorf("Err after Close = %v, want ErrStreamClosed", ps.Err())
		}
	})
}

func TestCaptureToneFromRemappedMonitor(t *testing.T) {
	testbed.EachSoundServer(t, func(t *testing.T, srv testbed.SoundServer) {
		p, _, plant := startHeadsetsOn(t, srv)
		s := openPulse(t)
		cs, err := s.OpenCapture(Device{ID: plant.SourceName, Kind: KindCapture}, StreamConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		wantCCallback(t, cs)
		p.Play(t, plant.SinkName, testbed.Tone(1000, 48000, 48000*4, 0.5), 48000)
		buf := make([]int16, cs.Config().PeriodSamples())
		var got []int16
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) && bestToneLevel(got, 1000, 48000) < 0.3 {
			if _, err := cs.Read(buf); err != nil {
				t.Fatalf("read: %v", err)
			}
			got = append(got, buf...)
		}
		t.Logf("read %d samples, stats %+v", len(got), cs.Stats())
		wantRealTime(t, cs.Stats())
		if lvl := bestToneLevel(got, 1000, 48000); lvl < 0.3 {
			t.Fatalf("1 kHz level captured from %s = %.3f, want about 0.5", plant.SourceName, lvl)
		}
	})
}

func TestUnplugDuringStreamIsReported(t *testing.T) {
	testbed.EachSoundServer(t, func(t *testing.T, srv testbed.SoundServer) {
		for _, kind := range []Kind{KindPlayback, KindCapture} {
			t.Run(kind.String(), func(t *testing.T) { testUnplugDuringStream(t, srv, kind) })
		}
	})
}

// testUnplugDuringStream unplugs the headset a steady stream runs on: the
// watchdog must report it, Read/Write must fail, and Close must return
// promptly with every goroutine (and miniaudio's audio thread) gone while
// the sound server still runs.
func testUnplugDuringStream(t *testing.T, srv testbed.SoundServer, kind Kind) {
	_, _, plant := startHeadsetsOn(t, srv)
	peers := goleak.IgnoreCurrent() // the sound server's output readers
	s, err := Open(Options{Backend: "pulseaudio"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lostErr := make(chan error, 1)
	cfg := StreamConfig{OnLost: func(err error) { lostErr <- err }}
	var st Stream
	buf := make([]int16, DefaultSampleRate*int(DefaultPeriod/time.Millisecond)/1000)
	var move func() error // one period through the stream
	if kind == KindPlayback {
		ps, err := s.OpenPlayback(Device{ID: plant.SinkName}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		st, move = ps, func() error { _, err := ps.Write(buf); return err }
	} else {
		cs, err := s.OpenCapture(Device{ID: plant.SourceName}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		st, move = cs, func() error { _, err := cs.Read(buf); return err }
	}
	// Run until the watchdog finds the stream steady (PulseAudio's null
	// sink pauses after the first period).
	deadline := time.Now().Add(5 * time.Second)
	for st.Stats().Steady == 0 && time.Now().Before(deadline) {
		if err := move(); err != nil {
			t.Fatalf("before unplug: %v", err)
		}
	}
	if st.Stats().Steady == 0 {
		t.Fatalf("stream not steady after 5 s: %+v", st.Stats())
	}
	t0 := time.Now()
	plant.Unplug(t)
	var took time.Duration
	select {
	case err := <-lostErr:
		took = time.Since(t0)
		if !errors.Is(err, ErrDeviceLost) {
			t.Errorf("OnLost(%v), want ErrDeviceLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("unplug not reported; stats %+v", st.Stats())
	}
	<-st.Lost()
	if !errors.Is(st.Err(), ErrDeviceLost) {
		t.Errorf("Err after unplug = %v, want ErrDeviceLost", st.Err())
	}
	var err2 error
	for i := 0; i < 50 && err2 == nil; i++ {
		err2 = move()
	}
	if !errors.Is(err2, ErrDeviceLost) {
		t.Errorf("Read/Write after loss = %v, want ErrDeviceLost", err2)
	}
	t1 := time.Now()
	if err := st.Close(); err != nil {
		t.Errorf("Close after loss = %v, want nil (the device must stop and free)", err)
	}
	t.Logf("%s: lost reported %s after unplug began; Close took %s", kind, took, time.Since(t1))
	if err := s.Close(); err != nil {
		t.Errorf("System.Close: %v", err)
	}
	goleak.VerifyNone(t, peers)
}

// The null backend works without any sound system: playback consumes and
// capture delivers (silence), paced by miniaudio's own clock.
// wantCCallback fails the test unless s's device calls back in C
// (cdevice.go) rather than into Go.
func wantCCallback(t *testing.T, s Stream) {
	t.Helper()
	if ms, ok := s.(*malgoStream); !ok || ms.cdev == nil {
		t.Errorf("the %T's data callback is not C's", s)
	}
}

// wantRealTime fails the test unless a stream that has called back runs
// its device thread real-time where the system allows it (root, or an
// RLIMIT_RTPRIO as high as realtimePriority), and not real-time where it
// does not.
func wantRealTime(t *testing.T, st StreamStats) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_RTPRIO, &lim); err != nil {
		t.Fatal(err)
	}
	allowed := os.Geteuid() == 0 || lim.Cur >= realtimePriority
	if st.Callbacks == 0 || st.RealTime != allowed {
		t.Errorf("device thread real-time %v after %d callbacks, want %v (euid %d, RLIMIT_RTPRIO %d)", st.RealTime, st.Callbacks, allowed, os.Geteuid(), lim.Cur)
	}
}

func TestNullBackendStreams(t *testing.T) {
	s, err := Open(Options{Backend: "null"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := StreamConfig{SampleRate: 8000, BufferPeriods: 4}
	ps, err := s.OpenPlayback(Device{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantCCallback(t, ps)
	per := ps.Config().PeriodSamples()
	// Ten periods through a four-period ring: Write can only return once
	// the device has taken at least six.
	if _, err := ps.Write(make([]int16, 10*per)); err != nil {
		t.Fatal(err)
	}
	if st := ps.Stats(); st.Frames < uint64(6*per) {
		t.Errorf("null playback took %d frames, want at least %d", st.Frames, 6*per)
	}
	wantRealTime(t, ps.Stats())
	if err := ps.Close(); err != nil {
		t.Errorf("close playback: %v", err)
	}
	cs, err := s.OpenCapture(Device{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantCCallback(t, cs)
	buf := make([]int16, 3*per)
	for i := range buf {
		buf[i] = 1
	}
	if _, err := cs.Read(buf); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(buf, func(v int16) bool { return v != 0 }) {
		t.Error("null capture delivered non-silence")
	}
	if err := cs.Close(); err != nil {
		t.Errorf("close capture: %v", err)
	}
	if _, err := s.OpenCapture(Device{Kind: KindPlayback}, cfg); !errors.Is(err, ErrBadStreamConfig) {
		t.Errorf("capture on a playback device: %v, want ErrBadStreamConfig", err)
	}
}

// TestStreamsOpenWhileTheirDeviceVanishes: streams are opened on headsets
// unplugged at once, at every moment of the opening. An open may fail or
// the stream may be lost, but the process must not crash (miniaudio's
// PulseAudio backend looked up the vanished device's name with an info
// pointer PulseAudio leaves NULL; see pulseinfo.go).
func TestStreamsOpenWhileTheirDeviceVanishes(t *testing.T) {
	testbed.EachSoundServer(t, func(t *testing.T, srv testbed.SoundServer) {
		p, _, _ := startHeadsetsOn(t, srv)
		s := openPulse(t)
		opened, failed := 0, 0
		// PipeWire takes about three times as long per headset; 40 rounds
		// still open at every moment of a device's going.
		n := 120
		if srv == testbed.PipeWire {
			n = 40
		}
		for i := range n {
			hs := p.AddHeadset(t, fmt.Sprintf("vanishing_%d", i), fmt.Sprintf("Vanishing %d", i))
			kind, id := KindPlayback, hs.SinkName
			if i%2 == 1 {
				kind, id = KindCapture, hs.SourceName
			}
			done := make(chan error, 1)
			go func() {
				var st interface{ Close() error }
				var err error
				if kind == KindPlayback {
					st, err = s.OpenPlayback(Device{ID: id, Kind: kind}, StreamConfig{})
				} else {
					st, err = s.OpenCapture(Device{ID: id, Kind: kind}, StreamConfig{})
				}
				if err == nil {
					err = st.Close()
				}
				done <- err
			}()
			hs.Unplug(t) // while the stream opens, or just before, or after
			if err := <-done; err != nil {
				failed++
			} else {
				opened++
			}
		}
		t.Logf("%d streams on vanishing devices: %d opened, %d refused", n, opened, failed)
		// The System still works.
		ps, err := s.OpenPlayback(Device{}, StreamConfig{})
		if err != nil {
			t.Fatalf("default playback after the vanishing devices: %v", err)
		}
		if err := ps.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
