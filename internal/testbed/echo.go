package testbed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EchoPath is a virtual laptop: a speaker (a null sink) whose sound comes
// back into a microphone, delayed and attenuated, mixed with whatever is
// played into the room (the agent's own voice, background noise).
//
//	speaker sink ─► monitor ─► module-loopback (Delay) ─► volume (Loss) ─┐
//	                                                                      ▼
//	room sink (Room: paplay the near end here) ─────────────────────► mix ─► monitor ─► remap-source ─► microphone
type EchoPath struct {
	// Speaker is the sink the phone plays into; Room the sink the near
	// end is played into; Mic the source the phone captures from (a real
	// source remapped from the room's monitor).
	Speaker, Room, Mic string
	// Delay and Loss are the echo's delay and attenuation.
	Delay time.Duration
	Loss  float64 // dB
}

// AddEchoPath builds an echo path named after prefix. PulseAudio only:
// the loopback's sink input is found by its owner module.
func (p *Pulse) AddEchoPath(t testing.TB, prefix string, delay time.Duration, lossDB float64) *EchoPath {
	t.Helper()
	e := &EchoPath{Speaker: prefix + "_spk", Room: prefix + "_room", Mic: prefix + "_mic", Delay: delay, Loss: lossDB}
	p.AddSink(t, e.Speaker, prefix+" Speaker")
	p.AddSink(t, e.Room, prefix+" Room")
	p.LoadModule(t, "module-remap-source", "source_name="+e.Mic, "master="+e.Room+".monitor",
		"channels=1", "source_properties="+propDescription(prefix+" Mic"))
	mod := p.LoadModule(t, "module-loopback", "source="+e.Speaker+".monitor", "sink="+e.Room,
		fmt.Sprintf("latency_msec=%d", delay.Milliseconds()), "adjust_time=0", "source_dont_move=true", "sink_dont_move=true")
	in := ownedSinkInput(t, p, mod)
	p.Pactl(t, "set-sink-input-volume", strconv.Itoa(in), fmt.Sprintf("%.1fdB", -lossDB))
	return e
}

// ownedSinkInput returns the index of the sink input module mod owns.
func ownedSinkInput(t testing.TB, p *Pulse, mod int) int {
	t.Helper()
	for _, block := range strings.Split(p.Pactl(t, "list", "sink-inputs"), "Sink Input #")[1:] {
		idx, rest, _ := strings.Cut(block, "\n")
		if strings.Contains(rest, "Owner Module: "+strconv.Itoa(mod)+"\n") {
			n, err := strconv.Atoi(strings.TrimSpace(idx))
			if err != nil {
				t.Fatalf("pulse: sink input index %q: %v", idx, err)
			}
			return n
		}
	}
	t.Fatalf("pulse: no sink input of module %d", mod)
	return 0
}

// SpeechLike returns n samples at rate of a synthetic voice: a harmonic
// complex on a fundamental around f0 Hz that glides (intonation) and
// wobbles (vibrato), shaped by two formant-like resonances that move, cut
// into syllables (about 4 a second) and words with short pauses between.
// Its RMS level over the voiced parts is about amp (0..1 of full scale).
// Unlike a tone, it is broadband and non-stationary, as an echo
// canceller's and a noise suppressor's real input is.
func SpeechLike(rate, n int, f0, amp float64, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]int16, n)
	phase := 0.0
	syl := 0.0     // syllable phase
	sylRate := 4.0 // syllables a second
	pause := 0     // samples of pause left
	for i := range out {
		ts := float64(i) / float64(rate)
		if pause > 0 {
			pause--
			continue
		}
		if rng.Float64() < 1.0/float64(rate) { // about one word break a second
			pause = rate/10 + rng.IntN(rate/5)
			continue
		}
		f := f0 * (1 + 0.15*math.Sin(2*math.Pi*0.3*ts) + 0.02*math.Sin(2*math.Pi*5.5*ts))
		phase += 2 * math.Pi * f / float64(rate)
		syl += sylRate / float64(rate)
		env := math.Pow(math.Sin(math.Pi*math.Mod(syl, 1)), 2)
		f1 := 500 + 300*math.Sin(2*math.Pi*1.3*ts)
		f2 := 1500 + 600*math.Sin(2*math.Pi*0.7*ts+1)
		v := 0.0
		for h := 1; float64(h)*f < math.Min(3800, float64(rate)/2-200); h++ {
			fh := float64(h) * f
			g := 1/(1+math.Pow((fh-f1)/150, 2)) + 0.5/(1+math.Pow((fh-f2)/250, 2)) + 0.05
			v += g * math.Sin(float64(h)*phase)
		}
		out[i] = clip16(amp * 2.2 * env * v / 2.5 * 32767)
	}
	return out
}

// Noise returns n samples of stationary white noise of RMS level amp
// (0..1 of full scale), as a fan or a room's hum.
func Noise(n int, amp float64, seed uint64) []int16 {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]int16, n)
	for i := range out {
		out[i] = clip16(rng.NormFloat64() * amp * 32767)
	}
	return out
}

// Mix adds b into a (sample by sample, clipped) and returns a.
func Mix(a, b []int16) []int16 {
	for i := range min(len(a), len(b)) {
		a[i] = clip16(float64(a[i]) + float64(b[i]))
	}
	return a
}

func clip16(v float64) int16 {
	return int16(max(-32768, min(32767, v)))
}

// LevelDB is the RMS level of samples in dB relative to full scale;
// -inf-like (-200) for silence.
func LevelDB(samples []int16) float64 {
	if len(samples) == 0 {
		return -200
	}
	var sum float64
	for _, s := range samples {
		x := float64(s) / 32768
		sum += x * x
	}
	if sum == 0 {
		return -200
	}
	return 10 * math.Log10(sum/float64(len(samples)))
}
