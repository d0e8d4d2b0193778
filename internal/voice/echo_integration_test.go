package voice

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/dsp"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/testbed"
)

// farMedia is a Media without a network whose far end talks: ReadFrame
// hands out the next 20 ms of far every 20 ms (silence after it ends, and
// done is closed then); WriteFrame keeps what the path sends, with when.
type farMedia struct {
	neg    media.Negotiated
	ticker *time.Ticker
	far    []int16
	pos    int
	done   chan struct{}
	t0     time.Time
	mu     sync.Mutex
	sent   []timedFrame
}

type timedFrame struct {
	at time.Duration // since t0
	s  []int16
}

func newFarMedia(t testing.TB, far []int16) *farMedia {
	m := &farMedia{neg: negotiated(opus, netip.AddrPort{}, netip.AddrPort{}), far: far,
		ticker: time.NewTicker(20 * time.Millisecond), done: make(chan struct{}), t0: time.Now()}
	t.Cleanup(m.ticker.Stop)
	return m
}

func (m *farMedia) WriteFrame(s []int16) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, timedFrame{at: time.Since(m.t0), s: append([]int16(nil), s...)})
	return nil
}

func (m *farMedia) ReadFrame(ctx context.Context) ([]int16, error) {
	select {
	case <-m.ticker.C:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	out := make([]int16, ms(20))
	if m.pos < len(m.far) {
		m.pos += copy(out, m.far[m.pos:])
		if m.pos >= len(m.far) {
			close(m.done)
		}
	}
	return out, nil
}

func (m *farMedia) Negotiated() media.Negotiated { return m.neg }

// firstSent is when the first frame was sent.
func (m *farMedia) firstSent() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sent) == 0 {
		return time.Hour
	}
	return m.sent[0].at
}

// convergence is the time the echo canceller is given before ERLE is
// measured: speexdsp's canceller reaches 25 dB on this echo path after
// 2.5-3 s of speech (BENCHMARKS: dsp).
const convergence = 3 * time.Second

// sentBetween is what the path sent between a and b (since the start).
func (m *farMedia) sentBetween(a, b time.Duration) []int16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int16
	for _, f := range m.sent {
		if f.at >= a && f.at < b {
			out = append(out, f.s...)
		}
	}
	return out
}

// echoRun is one call on an echo path: the far end's audio played to the
// speaker, near played into the room, the microphone recorded raw (what
// the path captured before processing) and what the path sent.
type echoRun struct {
	m       *farMedia
	raw     []int16 // the microphone, from about the start
	resyncs uint64  // the stage's, see dsp.Processor.Resyncs
}

// rawBetween is the raw microphone between a and b.
func (r *echoRun) rawBetween(a, b time.Duration) []int16 {
	i, j := min(ms(int(a.Milliseconds())), len(r.raw)), min(ms(int(b.Milliseconds())), len(r.raw))
	return r.raw[i:j]
}

// onset is when the raw microphone first carries sound (10 ms above
// -50 dBFS): the virtual devices take a while to stream.
func (r *echoRun) onset() (time.Duration, bool) {
	for i := 0; i+ms(10) <= len(r.raw); i += ms(10) {
		if testbed.LevelDB(r.raw[i:i+ms(10)]) > -50 {
			return time.Duration(i/ms(1)) * time.Millisecond, true
		}
	}
	return 0, false
}

func runEcho(tb testing.TB, sys *audio.System, pa *testbed.Pulse, ep *testbed.EchoPath, set dsp.Settings, far, near []int16) *echoRun {
	tb.Helper()
	rec := pa.Record(tb, ep.Mic, rate)
	m := newFarMedia(tb, far)
	pa.Play(tb, ep.Room, near, rate)
	p, err := Start(Options{Devices: sys, Media: m, Processing: set,
		Input:  &audio.Device{ID: ep.Mic, Kind: audio.KindCapture},
		Output: &audio.Device{ID: ep.Speaker, Kind: audio.KindPlayback}})
	if err != nil {
		tb.Fatal(err)
	}
	select {
	case <-m.done:
	case <-time.After(time.Duration(len(far)/ms(1))*time.Millisecond + hardTimeout):
		tb.Fatal("the far end's audio was not all played")
	}
	var resyncs uint64
	if p.dsp != nil {
		resyncs = p.dsp.Resyncs()
	}
	if err := p.Close(); err != nil {
		tb.Errorf("close path: %v", err)
	}
	return &echoRun{m: m, raw: rec.Stop(tb), resyncs: resyncs}
}

// echoBed is the PulseAudio test bed with an echo path: 100 ms, 10 dB.
func echoBed(tb testing.TB) (*audio.System, *testbed.Pulse, *testbed.EchoPath) {
	tb.Helper()
	testbed.Require(tb, "parec", "paplay")
	pa := testbed.StartSoundServer(tb, testbed.PulseAudio)
	pa.Setenv(tb)
	ep := pa.AddEchoPath(tb, "laptop", 100*time.Millisecond, 10)
	sys, err := audio.Open(audio.Options{Backend: "pulseaudio"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sys.Close() })
	return sys, pa, ep
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func samplesOf(d time.Duration) int { return ms(int(d.Milliseconds())) }

// echoFigures are the quality figures of the stage on the echo bed.
type echoFigures struct {
	ERLE       float64 // dB, far end alone, from convergence after the capture starts
	DoubleTalk float64 // dB, near end sent during double talk against the near end alone at the microphone
	NoiseLess  float64 // dB less stationary noise
	SpeechKept float64 // dB, speech in noise sent against the microphone
	Bypass     float64 // dB, sent against the microphone with the stage off
}

func (f echoFigures) String() string {
	return fmt.Sprintf("ERLE %.1f dB, double talk %+.1f dB, noise %.1f dB less, speech %+.1f dB, bypass %+.1f dB",
		f.ERLE, f.DoubleTalk, f.NoiseLess, f.SpeechKept, f.Bypass)
}

// measureEcho runs the three calls of the echo test and returns the figures.
//
//  1. Echo and double talk (defaults: echo cancellation and noise
//     suppression): the far end talks from 0 to 10 s; the agent talks
//     from 7.5 to 12.5 s (double talk 7.5-10 s, alone 10-12.5 s). ERLE
//     is measured from convergence after the capture starts to 7.5 s.
//  2. Noise: stationary noise in the room all along, the agent talks from
//     4 s; the far end is silent.
//  3. Bypass: everything off, the far end talks: its echo goes out as it
//     came in.
func measureEcho(tb testing.TB) echoFigures {
	sys, pa, ep := echoBed(tb)
	on := dsp.Settings{EchoCancellation: true, NoiseSuppression: true}
	var f echoFigures

	far := append(testbed.SpeechLike(rate, samplesOf(sec(10)), 120, 0.2, 1), make([]int16, samplesOf(sec(3)))...)
	near := make([]int16, samplesOf(sec(13)))
	copy(near[samplesOf(sec(7.5)):], testbed.SpeechLike(rate, samplesOf(sec(5)), 210, 0.1, 2))
	r := runEcho(tb, sys, pa, ep, on, far, near)
	onset, ok := r.onset()
	first := r.m.firstSent()
	if !ok || onset > sec(3) || first > sec(3) {
		tb.Fatalf("the echo or the capture did not start within 3 s (echo %s %v, first frame sent %s)", onset, ok, first)
	}
	// The virtual devices start with a stall (up to ~1.5 s): the stage
	// sees echo and reference from the first captured frame on.
	a, b := max(onset, first)+convergence, sec(7.5)
	f.ERLE = testbed.LevelDB(r.rawBetween(a, b)) - testbed.LevelDB(r.m.sentBetween(a, b))
	tb.Logf("echo at the microphone from %s, first frame sent at %s; ERLE over %s-%s; reference resyncs %d", onset, first, a, b, r.resyncs)
	f.DoubleTalk = testbed.LevelDB(r.m.sentBetween(sec(8), sec(10))) - testbed.LevelDB(r.rawBetween(sec(10.5), sec(12.5)))

	noise := testbed.Noise(samplesOf(sec(8)), 0.01, 3)
	speech := make([]int16, len(noise))
	copy(speech[samplesOf(sec(4)):], testbed.SpeechLike(rate, samplesOf(sec(4)), 180, 0.1, 4))
	r = runEcho(tb, sys, pa, ep, on, make([]int16, samplesOf(sec(8))), testbed.Mix(noise, speech))
	f.NoiseLess = testbed.LevelDB(r.rawBetween(sec(2.5), sec(4))) - testbed.LevelDB(r.m.sentBetween(sec(2.5), sec(4)))
	f.SpeechKept = testbed.LevelDB(r.m.sentBetween(sec(4.5), sec(7.5))) - testbed.LevelDB(r.rawBetween(sec(4.5), sec(7.5)))

	r = runEcho(tb, sys, pa, ep, dsp.Settings{}, far[:samplesOf(sec(6))], make([]int16, samplesOf(sec(6))))
	f.Bypass = testbed.LevelDB(r.m.sentBetween(sec(3.5), sec(5.5))) - testbed.LevelDB(r.rawBetween(sec(3.5), sec(5.5)))
	return f
}

// TestEchoNoiseOnPulse measures the voice processing stage on the
// PulseAudio test bed with a real echo path: the speaker's monitor comes
// back into the microphone through module-loopback, 100 ms later and
// 10 dB down, mixed with the agent's own voice and room noise (see
// measureEcho). The stage must keep
// the agent's voice within 6 dB during double talk, take 10 dB off
// stationary noise while keeping speech within 6 dB, and pass the audio
// untouched when off.
//
// ERLE is measured and logged here but not yet asserted: on this bed the
// canceller converges to 60-85 dB less echo within about 2 s of the
// first captured frame, but on a loaded machine the echo path's timing
// jumps now and then (device stalls, the loopback's own underruns) and
// each jump costs it a second or more of reconvergence, so the figure
// over the window ranged from 6 to 46 dB over runs. The 25 dB threshold
// is asserted on a simulated echo path in dsp.TestEchoCancelled.
func TestEchoNoiseOnPulse(t *testing.T) {
	f := measureEcho(t)
	t.Log(f)
	if f.DoubleTalk < -6 || f.DoubleTalk > 6 {
		t.Errorf("near end during double talk %+.1f dB, want within 6 dB", f.DoubleTalk)
	}
	if f.NoiseLess < 10 {
		t.Errorf("stationary noise %.1f dB less, want >= 10", f.NoiseLess)
	}
	if f.SpeechKept < -6 || f.SpeechKept > 6 {
		t.Errorf("speech in noise %+.1f dB, want within 6 dB", f.SpeechKept)
	}
	if f.Bypass < -1 || f.Bypass > 1 {
		t.Errorf("stage off: sent %+.1f dB against the microphone, want the same (within 1 dB)", f.Bypass)
	}
}

// BenchmarkEchoBed reports the stage's figures on the PulseAudio echo bed
// (measureEcho): ERLE, the near end's level during double talk, noise
// reduction, speech kept in noise.
func BenchmarkEchoBed(b *testing.B) {
	for range b.N {
		f := measureEcho(b)
		b.ReportMetric(f.ERLE, "ERLE-dB")
		b.ReportMetric(f.DoubleTalk, "doubletalk-dB")
		b.ReportMetric(f.NoiseLess, "noise-less-dB")
		b.ReportMetric(f.SpeechKept, "speech-dB")
	}
}
