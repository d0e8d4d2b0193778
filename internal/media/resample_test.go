package media

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// fitSine fits a·sin + b·cos + c at hz to x by least squares and returns
// the fitted amplitude and the ratio, in dB, of its power to the power of
// what is left (noise and distortion, SINAD).
func fitSine(x []int16, rate, hz float64) (amp, sinadDB float64) {
	// Normal equations for the three basis functions.
	var m [3][3]float64
	var v [3]float64
	basis := func(i int) [3]float64 {
		w := 2 * math.Pi * hz * float64(i) / rate
		return [3]float64{math.Sin(w), math.Cos(w), 1}
	}
	for i, s := range x {
		b := basis(i)
		for r := range 3 {
			for c := range 3 {
				m[r][c] += b[r] * b[c]
			}
			v[r] += b[r] * float64(s)
		}
	}
	coef := solve3(m, v)
	var sig, res float64
	for i, s := range x {
		b := basis(i)
		f := coef[0]*b[0] + coef[1]*b[1] + coef[2]*b[2]
		sig += (f - coef[2]) * (f - coef[2])
		res += (float64(s) - f) * (float64(s) - f)
	}
	amp = math.Hypot(coef[0], coef[1]) / 32767
	return amp, 10 * math.Log10(sig/math.Max(res, 1e-9))
}

// solve3 solves m·x = v by Cramer's rule.
func solve3(m [3][3]float64, v [3]float64) [3]float64 {
	det := func(a [3][3]float64) float64 {
		return a[0][0]*(a[1][1]*a[2][2]-a[1][2]*a[2][1]) -
			a[0][1]*(a[1][0]*a[2][2]-a[1][2]*a[2][0]) +
			a[0][2]*(a[1][0]*a[2][1]-a[1][1]*a[2][0])
	}
	d := det(m)
	var x [3]float64
	for c := range 3 {
		a := m
		for r := range 3 {
			a[r][c] = v[r]
		}
		x[c] = det(a) / d
	}
	return x
}

func TestNewResampler(t *testing.T) {
	tests := []struct {
		name            string
		from, to, chans int
		wantErr         error
	}{
		{"48k to 8k mono", 48000, 8000, 1, nil},
		{"44.1k to 16k stereo", 44100, 16000, 2, nil},
		{"8k to 48k", 8000, 48000, 1, nil},
		{"same rate stereo", 48000, 48000, 2, nil},
		{"11.025k to 48k", 11025, 48000, 1, nil},
		{"zero rate", 0, 8000, 1, ErrResampleRate},
		{"rate too high", 48000, 1000000, 1, ErrResampleRate},
		{"no channels", 48000, 8000, 0, ErrResampleRate},
		{"nine channels", 48000, 8000, 9, ErrResampleRate},
		{"coprime rates need too many phases", 44101, 8000, 1, ErrResampleRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewResampler(tt.from, tt.to, tt.chans)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && (r.From() != tt.from || r.To() != tt.to || r.Channels() != tt.chans) {
				t.Errorf("got %d→%d×%d", r.From(), r.To(), r.Channels())
			}
		})
	}
}

// resampleAll runs x through a new resampler in 20 ms frames.
func resampleAll(t testing.TB, from, to, chans int, x []int16) []int16 {
	t.Helper()
	r, err := NewResampler(from, to, chans)
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	step := from / 50 * chans
	for i := 0; i < len(x); i += step {
		out = r.Process(out, x[i:min(i+step, len(x))])
	}
	return out
}

// TestResampleTone: a tone keeps its frequency and level, with little
// added noise or distortion, for the device ↔ codec rate pairs.
func TestResampleTone(t *testing.T) {
	tests := []struct {
		from, to int
		hz       float64
	}{
		{48000, 8000, 1000},
		{48000, 8000, 3000},
		{48000, 16000, 5000},
		{48000, 16000, 300},
		{44100, 8000, 1000},
		{44100, 16000, 6000},
		{44100, 48000, 10000},
		{48000, 44100, 15000},
		{8000, 48000, 1000},
		{8000, 44100, 3000},
		{16000, 48000, 5000},
		{16000, 44100, 7000},
		{48000, 48000, 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d to %d at %.0f Hz", tt.from, tt.to, tt.hz), func(t *testing.T) {
			in := sine(tt.from/2, float64(tt.from), tt.hz, 0.5) // 500 ms
			out := resampleAll(t, tt.from, tt.to, 1, in)
			if want := len(in) * tt.to / tt.from; absInt(len(out)-want) > want/10 {
				t.Fatalf("%d samples out, want about %d", len(out), want)
			}
			// Skip the filter's start-up: the first 50 ms.
			amp, sinad := fitSine(out[tt.to/20:], float64(tt.to), tt.hz)
			t.Logf("level %+.3f dB, SINAD %.1f dB", db(amp/0.5), sinad)
			if d := db(amp / 0.5); math.Abs(d) > 0.1 {
				t.Errorf("level off by %+.3f dB, want within 0.1 dB", d)
			}
			if sinad < 60 {
				t.Errorf("SINAD %.1f dB, want ≥ 60 dB", sinad)
			}
		})
	}
}

// TestResampleAliasRejection: tones above the lower rate's Nyquist
// frequency must not fold back when going down, nor images appear when
// going up.
func TestResampleAliasRejection(t *testing.T) {
	tests := []struct {
		name       string
		from, to   int
		hz, alias  float64 // input tone and where its alias or image lands
		minRejectB float64 // dB
	}{
		{"6 kHz at 48k→8k folds to 2 kHz", 48000, 8000, 6000, 2000, 40},
		{"4.6 kHz at 48k→8k folds to 3.4 kHz", 48000, 8000, 4600, 3400, 40},
		{"9 kHz at 48k→16k folds to 7 kHz", 48000, 16000, 9000, 7000, 40},
		{"6 kHz at 44.1k→8k folds to 2 kHz", 44100, 8000, 6000, 2000, 40},
		{"1 kHz at 8k→48k images at 7 kHz", 8000, 48000, 1000, 7000, 40},
		{"5 kHz at 16k→48k images at 11 kHz", 16000, 48000, 5000, 11000, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sine(tt.from/2, float64(tt.from), tt.hz, 0.5)
			out := resampleAll(t, tt.from, tt.to, 1, in)
			if want := len(in) * tt.to / tt.from; absInt(len(out)-want) > want/10 {
				t.Fatalf("%d samples out, want about %d", len(out), want)
			}
			// A level below one LSB reads as one LSB: the figure is then a
			// lower bound.
			lvl := max(ToneLevel(out[tt.to/20:], float64(tt.to), tt.alias), 1.0/32768)
			reject := db(0.5 / lvl)
			t.Logf("%s: rejected by %.1f dB (peak output %d)", tt.name, reject, maxAbs(out[tt.to/20:]))
			if reject < tt.minRejectB {
				t.Errorf("alias at %.0f Hz only %.1f dB down, want > %.0f dB", tt.alias, reject, tt.minRejectB)
			}
		})
	}
}

// TestResampleFrames: the output does not depend on how the input is cut
// into frames (no clicks at frame boundaries), and a tone's output has no
// sample-to-sample step larger than the tone itself can make.
func TestResampleFrames(t *testing.T) {
	pairs := []struct{ from, to, chans int }{
		{48000, 8000, 1}, {44100, 16000, 2}, {8000, 48000, 1}, {16000, 44100, 1}, {48000, 48000, 2},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range pairs {
		t.Run(fmt.Sprintf("%d to %d x%d", p.from, p.to, p.chans), func(t *testing.T) {
			mono := sine(p.from/5, float64(p.from), 700, 0.8)
			in := make([]int16, 0, len(mono)*p.chans)
			for _, s := range mono {
				for range p.chans {
					in = append(in, s)
				}
			}
			r, err := NewResampler(p.from, p.to, p.chans)
			if err != nil {
				t.Fatal(err)
			}
			whole := r.Process(nil, in)
			r.Reset()
			var cut []int16
			for i := 0; i < len(in); {
				n := (1 + rng.IntN(5000)) * p.chans
				cut = r.Process(cut, in[i:min(i+n, len(in))])
				i += n
			}
			if !equalInt16(whole, cut) {
				t.Fatalf("output cut into random frames differs from one piece (%d vs %d samples)", len(cut), len(whole))
			}
			// A 700 Hz sine at 0.8 moves at most 2π·700/rate·0.8·32767 per sample.
			limit := 2*math.Pi*700/float64(p.to)*0.8*32767*1.02 + 2
			// The first 10 ms hold the filter's response to the tone's abrupt start.
			for i := p.to / 100; i < len(whole); i++ {
				if d := math.Abs(float64(whole[i]) - float64(whole[i-1])); d > limit {
					t.Fatalf("step of %.0f at output sample %d, the tone allows %.0f", d, i, limit)
				}
			}
		})
	}
}

// TestResampleDownmix: stereo is averaged to mono.
func TestResampleDownmix(t *testing.T) {
	mono := sine(4800, 48000, 1000, 0.5)
	same := make([]int16, 0, 2*len(mono))
	opposite := make([]int16, 0, 2*len(mono))
	for _, s := range mono {
		same = append(same, s, s)
		opposite = append(opposite, s, -s)
	}
	for _, to := range []int{8000, 48000} {
		want := resampleAll(t, 48000, to, 1, mono)
		if got := resampleAll(t, 48000, to, 2, same); !equalInt16(got, want) {
			t.Errorf("to %d: equal channels do not give the mono result", to)
		}
		if got := resampleAll(t, 48000, to, 2, opposite); maxAbs(got) != 0 {
			t.Errorf("to %d: opposite channels do not cancel: peak %d", to, maxAbs(got))
		}
	}
}

// TestResampleAllocs: steady-state processing allocates nothing.
func TestResampleAllocs(t *testing.T) {
	for _, p := range []struct{ from, to, chans int }{{48000, 8000, 1}, {44100, 16000, 2}, {8000, 48000, 1}} {
		r, err := NewResampler(p.from, p.to, p.chans)
		if err != nil {
			t.Fatal(err)
		}
		in := make([]int16, p.from/50*p.chans)
		copy(in, sine(len(in), float64(p.from), 440, 0.5))
		dst := make([]int16, 0, p.to/50+8)
		if n := testing.AllocsPerRun(50, func() { dst = r.Process(dst[:0], in) }); n != 0 {
			t.Errorf("%d→%d×%d: %.1f allocations per frame", p.from, p.to, p.chans, n)
		}
	}
}

func BenchmarkResample(b *testing.B) {
	for _, p := range []struct{ from, to, chans int }{
		{48000, 8000, 1}, {48000, 16000, 1}, {44100, 8000, 2}, {44100, 16000, 2},
		{8000, 48000, 1}, {16000, 48000, 1}, {44100, 48000, 2}, {48000, 44100, 1}, {48000, 48000, 2},
	} {
		b.Run(fmt.Sprintf("%dto%dx%d", p.from, p.to, p.chans), func(b *testing.B) {
			r, err := NewResampler(p.from, p.to, p.chans)
			if err != nil {
				b.Fatal(err)
			}
			in := make([]int16, p.from/50*p.chans) // one 20 ms frame
			copy(in, sine(len(in), float64(p.from), 440, 0.5))
			dst := make([]int16, 0, p.to/50+8)
			b.ReportAllocs()
			for b.Loop() {
				dst = r.Process(dst[:0], in)
			}
		})
	}
}

// A 20 ms stereo frame captured at 44.1 kHz becomes a 20 ms mono frame for
// G.722 at 16 kHz. The first frames come out a little shorter while the
// filter fills; after that every frame is 320 samples.
func ExampleResampler() {
	r, err := NewResampler(44100, 16000, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	capture := make([]int16, 882*2) // 20 ms at 44.1 kHz, interleaved stereo
	out := make([]int16, 0, 400)
	for range 3 {
		out = r.Process(out[:0], capture)
	}
	fmt.Println(len(out))
	// Output: 320
}
