package voice

import (
	"sync"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/testbed"
)

// checkZip finds the zip tone in s (device rate) and checks both beeps,
// the gap between them and the silence after: levels with margins.
//
// minBeep is the lowest 1 kHz level a beep's window may show (a whole beep
// is at 0.30). On a real device a loaded machine can lose a few ms of a
// beep downstream of our stream (a late period of the sound server or of
// the recorder): 8 ms of 40 gave 0.24 once, with our stream's counters
// those of every good run. Fakes lose nothing and are held to 0.25.
func checkZip(t *testing.T, s []int16, minBeep float64) {
	t.Helper()
	onset := -1
	for i, v := range s {
		if v > 1000 || v < -1000 {
			onset = i
			break
		}
	}
	if onset < 0 || onset+ms(300) > len(s) {
		t.Fatalf("no whole zip tone in %d samples (onset %d)", len(s), onset)
	}
	seg := func(from, to int) []int16 { return s[onset+ms(from) : onset+ms(to)] }
	for _, c := range []struct {
		name     string
		from, to int
		beep     bool
	}{
		{"first beep", 10, 50, true},
		{"gap", 70, 110, false},
		{"second beep", 130, 170, true},
		{"after", 190, 300, false},
	} {
		l := level(seg(c.from, c.to), ZipToneFrequency)
		// Quiet is below 0.05, a sixth of a beep: a device that drops a
		// few ms in the middle of the tone (a late period on a loaded
		// machine) leaves a trace of it in the gap, not a beep.
		if c.beep && (l < minBeep || l > 0.35) || !c.beep && l > 0.05 {
			t.Errorf("%s: 1 kHz level %.3f (beep %v)", c.name, l, c.beep)
		}
	}
}

// stallingDevices opens fake playback streams driven by ticks the test
// sends: one tick is one device period, so a test can stall the device
// as a PulseAudio null sink does after its first period.
type stallingDevices struct {
	ticks  chan time.Time
	rec    *recorder
	mu     sync.Mutex
	stream *audio.FakeStream
}

func (d *stallingDevices) OpenCapture(audio.Device, audio.StreamConfig) (audio.CaptureStream, error) {
	return nil, errFakeOpen
}

func (d *stallingDevices) OpenPlayback(_ audio.Device, c audio.StreamConfig) (audio.PlaybackStream, error) {
	st, err := audio.NewFakePlayback(c, audio.FakeOptions{Sink: d.rec.sink, Ticks: d.ticks})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.stream = st
	d.mu.Unlock()
	return st, nil
}

// TestZipToneSurvivesStartupStall: the playback device takes one period
// and then stalls while the session goes on; the path's queue fills up.
// When the device runs, the stream drops that backlog (the latency bound
// stays at its default); the zip tone asked for at the start must still
// be heard whole, both beeps.
func TestZipToneSurvivesStartupStall(t *testing.T) {
	d := &stallingDevices{ticks: make(chan time.Time), rec: newRecorder()}
	m := newFakeMedia(t) // real-time session clock: frames keep coming
	p := startPath(t, Options{Devices: d, Media: m, Output: &audio.Device{ID: "hs", Kind: audio.KindPlayback}})
	d.ticks <- time.Now() // the start-up period, then the stall
	zip := p.PlayZipTone()
	// The path writes until the stream's queue is full and then waits
	// for the device.
	eventually(t, "queue filled during the stall", func() bool { return p.Stats().FramesPlayed >= 3 })
	select {
	case <-zip:
		t.Fatal("zip tone done while the device stalls")
	default:
	}

	// The device runs: one period every 20 ms from now on.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(DefaultDevicePeriod)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tk.C:
				select {
				case d.ticks <- now:
				case <-stop:
					return
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
	select {
	case <-zip:
	case <-time.After(hardTimeout):
		t.Fatal("zip tone not played once the device runs")
	}
	d.rec.waitMore(t, ms(400))
	checkZip(t, d.rec.waitLen(t, 0), 0.25)
	d.mu.Lock()
	st := d.stream.Stats()
	d.mu.Unlock()
	if st.Trimmed == 0 {
		t.Errorf("stream stats %+v: the stall left no backlog to drop, so the test shows nothing", st)
	}
	// The path's totals report the drop (what the phone shows as
	// output_trimmed_ms), counted once the next frame was written.
	eventually(t, "the drop in the path's stats", func() bool {
		return p.Stats().OutputTrimmed >= time.Duration(st.Trimmed)*time.Second/DefaultDeviceRate
	})
}

// TestZipToneWithoutDevice: with no playback device the zip tone is used
// up unheard, so whoever waits for it is not left hanging.
func TestZipToneWithoutDevice(t *testing.T) {
	p := startPath(t, Options{Media: newFakeMedia(t)})
	select {
	case <-p.PlayZipTone():
	case <-time.After(hardTimeout):
		t.Fatal("zip tone never done without a device")
	}
}

// TestRenderZipWaits: a zip tone that has not started waits while the
// device is not ready, for at most zipMaxWait; once started it plays on.
func TestRenderZipWaits(t *testing.T) {
	for _, tt := range []struct {
		name    string
		ready   []bool          // one frame each
		elapsed []time.Duration // since PlayZipTone, per frame
		want    []bool          // frame holds the tone
	}{
		{"ready at once", []bool{true, true}, []time.Duration{0, 0}, []bool{true, true}},
		{"waits, then starts", []bool{false, false, true}, []time.Duration{0, 0, 0}, []bool{false, false, true}},
		{"plays on once started", []bool{true, false, false}, []time.Duration{0, 0, 0}, []bool{true, true, true}},
		{"gives up waiting", []bool{false, false}, []time.Duration{0, zipMaxWait}, []bool{false, true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Unix(1e9, 0)
			now := start
			p := &Path{opts: Options{DeviceRate: rate}, now: func() time.Time { return now }}
			p.PlayZipTone()
			for i, ready := range tt.ready {
				now = start.Add(tt.elapsed[i])
				out := make([]int16, ms(10))
				p.renderZip(out, ready)
				if got := level(out, ZipToneFrequency) > 0.2; got != tt.want[i] {
					t.Errorf("frame %d: tone %v, want %v (level %.3f)", i, got, tt.want[i], level(out, ZipToneFrequency))
				}
			}
		})
	}
}

func TestZipGate(t *testing.T) {
	const period = 960 // 20 ms at 48 kHz
	bounded := audio.StreamConfig{SampleRate: rate, Channels: 1, Period: 20 * time.Millisecond, MaxQueued: 20 * time.Millisecond}
	unbounded := bounded
	unbounded.MaxQueued = 0
	type step struct {
		frames, under, trimmed uint64
		steady                 time.Duration
		n                      int // samples written
		gen                    uint64
	}
	for _, tt := range []struct {
		name  string
		cfg   audio.StreamConfig
		steps []step
		want  bool
	}{
		{"new stream", bounded, []step{{n: 2 * period}}, false},
		{"stalled after its first period", bounded, []step{
			{frames: period, under: period, n: 2 * period}, {frames: period, under: period, n: period},
			{frames: period, under: period, n: period}, {frames: period, under: period, n: period}}, false},
		{"running, queue within the bound", bounded, []step{
			{n: 2 * period}, {frames: period, n: period}, {frames: 2 * period, n: period}, {frames: 3 * period, n: period}}, true},
		{"running, backlog not dropped yet", bounded, []step{
			{n: 5 * period}, {frames: period, n: period}, {frames: 2 * period, n: period}, {frames: 3 * period, n: period}}, false},
		{"running, backlog dropped", bounded, []step{
			{n: 5 * period}, {frames: period, n: period}, {frames: 2 * period, trimmed: 3 * period, n: period},
			{frames: 3 * period, trimmed: 3 * period, n: period}}, true},
		{"running, no bound: a deep queue is kept", unbounded, []step{
			{n: 5 * period}, {frames: period, n: period}, {frames: 2 * period, n: period}, {frames: 3 * period, n: period}}, true},
		{"moved twice only", bounded, []step{
			{n: 2 * period}, {frames: period, n: period}, {frames: 2 * period, n: period}}, false},
		{"a pause resets the count", bounded, []step{
			{n: 2 * period}, {frames: period, n: period}, {frames: 2 * period, n: period}, {frames: 2 * period, n: 0},
			{frames: 3 * period, n: period}}, false},
		{"steady by the watchdog", bounded, []step{{n: 4 * period, steady: time.Second}}, true},
		{"a new stream starts over", bounded, []step{
			{n: 2 * period}, {frames: period, n: period}, {frames: 2 * period, n: period}, {frames: 3 * period, n: period},
			{gen: 1, n: 2 * period}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var g zipGate
			for _, s := range tt.steps {
				st := audio.StreamStats{Frames: s.frames, Underruns: s.under, Trimmed: s.trimmed, Steady: s.steady}
				g.wrote(s.gen, tt.cfg, st, s.n)
			}
			last := tt.steps[len(tt.steps)-1].gen
			if got := g.isOpen(last); got != tt.want {
				t.Errorf("open %v, want %v (gate %+v)", got, tt.want, g)
			}
			if g.isOpen(last + 1) {
				t.Error("open for another stream")
			}
		})
	}
}

// TestPulseZipToneAfterStartupStall: on a fresh PulseAudio null sink
// (which takes one period and then stalls before it runs), the zip tone
// asked for as the path starts is heard whole at the sink's monitor.
func TestPulseZipToneAfterStartupStall(t *testing.T) {
	testbed.Require(t, "pulseaudio", "pactl", "parec")
	pa := testbed.StartPulse(t)
	pa.Setenv(t)
	hs := pa.AddHeadset(t, "hs_zip", "Headset Zip")
	sys, err := audio.Open(audio.Options{Backend: "pulseaudio"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	_, sb := sessionPair(t, pcmu) // the peer sends nothing: silence
	rec := pa.Record(t, hs.SinkName+".monitor", rate)
	p := startPath(t, Options{Devices: sys, Media: sb, Output: &audio.Device{ID: hs.SinkName, Kind: audio.KindPlayback}})
	select {
	case <-p.PlayZipTone():
	case <-time.After(hardTimeout):
		t.Fatal("zip tone not played")
	}
	// What follows the tone must reach the monitor too.
	played := p.Stats().FramesPlayed
	eventually(t, "400 ms played after the tone", func() bool { return p.Stats().FramesPlayed >= played+20 })
	got := rec.Stop(t)
	checkZip(t, got, 0.2)
	p.mu.Lock()
	st := p.out.play.Stats()
	p.mu.Unlock()
	t.Logf("recorded %d ms; playback stream %+v", len(got)*1000/rate, st)
}
