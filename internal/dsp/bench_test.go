package dsp

import (
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// BenchmarkStage reports what the stage costs per call: the CPU time of
// one 20 ms frame at 48 kHz (echo cancellation with its 200 ms filter,
// residual echo and noise suppression), as a share of one core for a
// call running in real time, and the echo and noise figures on the
// simulated echo path of TestEchoCancelled (120 ms, 10 dB). The figures
// on the PulseAudio test bed are BenchmarkEchoBed's (voice). Each echo
// canceller in turn.
func BenchmarkStage(b *testing.B) {
	for _, engine := range []string{EngineSpeex, EngineWebRTC, EngineCombined} {
		b.Run(engine, func(b *testing.B) { benchmarkStage(b, engine) })
	}
}

func benchmarkStage(b *testing.B, engine string) {
	p, err := New(Options{Settings: Settings{EchoCancellation: true, NoiseSuppression: true, Engine: engine}, Rate: rate})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	n := sec(8)
	far := testbed.SpeechLike(rate, n, 130, 0.2, 1)
	near := make([]int16, n)
	copy(near[sec(5):], testbed.SpeechLike(rate, sec(3), 210, 0.1, 2))
	mic, out := simulate(b, p, far, near, sec(0.12), 0.3)
	erle := testbed.LevelDB(mic[sec(2.5):sec(5)]) - testbed.LevelDB(out[sec(2.5):sec(5)])

	const step = rate / 50
	frame := make([]int16, step)
	b.ResetTimer()
	start := time.Now()
	frames := 0
	pos := uint64(n) // the speaker's place goes on from the simulated call's
	for i := 0; i < b.N; i++ {
		for off := 0; off+step <= n; off += step {
			p.Reference(far[off : off+step])
			p.Playing(pos)
			copy(frame, mic[off:off+step])
			p.Capture(frame)
			pos += step
			frames++
		}
	}
	per := time.Since(start) / time.Duration(frames)
	b.ReportMetric(float64(per.Microseconds()), "µs/frame")
	b.ReportMetric(100*float64(per)/float64(20*time.Millisecond), "%core/call")
	b.ReportMetric(erle, "ERLE-dB")
}
