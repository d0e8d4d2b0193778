package media

import (
	"errors"
	"fmt"
	"math"
)

// ErrResampleRate reports a sample rate pair or channel count a Resampler
// cannot be built for.
//
// It lives here rather than in errors.go only while another change to that
// file is under way.
var ErrResampleRate = errors.New("media: resampler: unsupported rates")

// Resampler design. A rational ratio to/from = L/M (reduced) is run as a
// polyphase windowed-sinc FIR filter: output sample n sits at input
// position n·M/L; its integer part picks the input window and its
// fractional part (one of L phases) picks a precomputed set of taps. The
// prototype low-pass is a sinc cut off just below the lower Nyquist
// frequency, shaped by a Kaiser window for resampleStopDB of stop-band
// rejection, which keeps what would fold back (48 kHz → 8 kHz) out, and
// images out when going up.
//
//	src (interleaved) ─► downmix to mono ─► history buffer ─► polyphase FIR ─► dst
const (
	// resamplePass is the pass-band edge and resampleStop the stop-band
	// edge, as fractions of the lower rate's Nyquist frequency.
	resamplePass = 0.88
	resampleStop = 1.0
	// resampleStopDB is the stop-band rejection the Kaiser window is
	// designed for.
	resampleStopDB = 80
	// resampleChunk is how many input frames are taken in per filter run;
	// it bounds the history buffer, which is allocated once.
	resampleChunk = 2048
	// resampleMaxTable bounds the tap table (phases × taps), in floats.
	resampleMaxTable = 1 << 21
	// Rates and channel counts accepted.
	resampleMinRate     = 1000
	resampleMaxRate     = 768000
	resampleMaxChannels = 8
)

// Resampler converts 16-bit PCM from one sample rate to another, mixing
// multi-channel input down to mono on the way (device capture at 44.1 or
// 48 kHz, mono or stereo, to a codec's 8, 16 or 48 kHz, and back). It is
// streaming: the filter state carries across calls, so a signal cut into
// frames of any sizes comes out the same as in one piece. It does not
// allocate once built, as long as dst has room. A Resampler is not safe
// for concurrent use.
type Resampler struct {
	from, to, channels int
	l, m               int       // to/from reduced: L outputs per M inputs
	step, rem          int       // M/L and M%L: how far one output moves
	half               int       // K: the window spans inputs i-K+1 … i+K
	taps               int       // 2K
	lead               int       // zero taps before each phase's 2K: rows of a multiple of 8
	width              int       // lead + taps: one phase's row
	table              []float32 // L phases × width
	buf                []float32 // mono input history, then new input
	pos                int       // buf index of the next output's input i
	phase              int       // next output's phase, 0 … L-1
	pass               bool      // same rate: downmix only
}

// NewResampler returns a Resampler from rate from to rate to (Hz) for
// input with channels interleaved channels; the output is mono.
func NewResampler(from, to, channels int) (*Resampler, error) {
	if from < resampleMinRate || from > resampleMaxRate || to < resampleMinRate || to > resampleMaxRate {
		return nil, fmt.Errorf("%w: %d Hz to %d Hz (rates must be %d-%d Hz)", ErrResampleRate, from, to, resampleMinRate, resampleMaxRate)
	}
	if channels < 1 || channels > resampleMaxChannels {
		return nil, fmt.Errorf("%w: %d channels (must be 1-%d)", ErrResampleRate, channels, resampleMaxChannels)
	}
	r := &Resampler{from: from, to: to, channels: channels}
	if from == to {
		r.pass = true
		return r, nil
	}
	g := gcdInt(from, to)
	r.l, r.m = to/g, from/g
	r.step, r.rem = r.m/r.l, r.m%r.l

	// Kaiser design (Oppenheim & Schafer §7.6): β from the rejection,
	// length from the transition width relative to the input rate.
	nyq := float64(min(from, to)) / 2
	fp, fs := resamplePass*nyq, resampleStop*nyq
	fc := (fp + fs) / 2 / float64(from) // cut-off, cycles per input sample
	dw := 2 * math.Pi * (fs - fp) / float64(from)
	n := (resampleStopDB - 8) / (2.285 * dw)
	r.half = int(math.Ceil(n / 2))
	r.taps = 2 * r.half
	// Rows of whole 8-lane blocks let dot's vector loop do all of a
	// row (no scalar tail, which cost more than the rest for 84 taps).
	r.lead = (8 - r.taps%8) % 8
	r.width = r.lead + r.taps
	if r.l*r.width > resampleMaxTable {
		return nil, fmt.Errorf("%w: %d Hz to %d Hz needs %d filter phases", ErrResampleRate, from, to, r.l)
	}
	beta := 0.1102 * (resampleStopDB - 8.7)
	i0b := besselI0(beta)
	r.table = make([]float32, r.l*r.width)
	for ph := range r.l {
		row := r.table[ph*r.width+r.lead : (ph+1)*r.width]
		frac := float64(ph) / float64(r.l)
		sum := 0.0
		h := make([]float64, r.taps)
		for j := range r.taps {
			t := float64(j-r.half+1) - frac // in input samples, within (-K, K]
			x := t / float64(r.half)
			w := besselI0(beta*math.Sqrt(max(0, 1-x*x))) / i0b
			h[j] = 2 * fc * sincPi(2*fc*t) * w
			sum += h[j]
		}
		// Each phase passes DC at exactly unit gain, so no phase-dependent
		// ripple turns into a tone at the output.
		for j := range r.taps {
			row[j] = float32(h[j] / sum)
		}
	}
	r.buf = make([]float32, 0, r.width+resampleChunk)
	r.Reset()
	return r, nil
}

// From returns the input rate, To the output rate.
func (r *Resampler) From() int { return r.from }

// To returns the output rate.
func (r *Resampler) To() int { return r.to }

// Channels returns the number of input channels.
func (r *Resampler) Channels() int { return r.channels }

// Reset clears the filter history, as at the start of a new stream.
func (r *Resampler) Reset() {
	if r.pass {
		return
	}
	// K-1 zeros stand for the input before the first sample, which the
	// first output's window reaches back to (and lead more, which meet
	// the rows' zero taps).
	r.buf = r.buf[:r.lead+r.half-1]
	clear(r.buf)
	r.pos, r.phase = r.lead+r.half-1, 0
}

// Process resamples src (interleaved frames of Channels samples) and
// appends the mono output to dst. A trailing partial frame is ignored.
// Output lags input by about half the filter length.
func (r *Resampler) Process(dst, src []int16) []int16 {
	ch := r.channels
	if r.pass {
		return r.downmix(dst, src)
	}
	frames := len(src) / ch
	for done := 0; done < frames; {
		take := min(frames-done, cap(r.buf)-len(r.buf))
		in := src[done*ch : (done+take)*ch]
		if ch == 1 {
			for _, s := range in {
				r.buf = append(r.buf, float32(s))
			}
		} else {
			scale := 1 / float32(ch)
			for f := 0; f < len(in); f += ch {
				var sum float32
				for _, s := range in[f : f+ch] {
					sum += float32(s)
				}
				r.buf = append(r.buf, sum*scale)
			}
		}
		done += take
		dst = r.filter(dst)
	}
	return dst
}

// filter produces every output whose window lies in buf, then drops the
// input no later output needs.
func (r *Resampler) filter(dst []int16) []int16 {
	k, lead, width := r.half, r.lead, r.width
	for r.pos+k < len(r.buf) {
		x := r.buf[r.pos-k+1-lead : r.pos+k+1]
		c := r.table[r.phase*width : (r.phase+1)*width]
		dst = append(dst, roundClip16(dot(x, c)))
		// Next output: M/L inputs on (no division per sample: it
		// cost as much as an upsampling output's products).
		r.pos += r.step
		r.phase += r.rem
		if r.phase >= r.l {
			r.phase -= r.l
			r.pos++
		}
	}
	drop := min(r.pos-k+1-lead, len(r.buf))
	if drop > 0 {
		n := copy(r.buf, r.buf[drop:])
		r.buf = r.buf[:n]
		r.pos -= drop
	}
	return dst
}

// downmix appends src mixed to mono, for equal rates.
func (r *Resampler) downmix(dst, src []int16) []int16 {
	ch := r.channels
	if ch == 1 {
		return append(dst, src...)
	}
	for f := 0; f+ch <= len(src); f += ch {
		var sum int32
		for _, s := range src[f : f+ch] {
			sum += int32(s)
		}
		dst = append(dst, int16(sum/int32(ch)))
	}
	return dst
}

// roundClip16 rounds v to the nearest 16-bit sample, saturating.
func roundClip16(v float32) int16 {
	switch {
	case v >= 32767:
		return 32767
	case v <= -32768:
		return -32768
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}

// sincPi is the normalised sinc function sin(πx)/(πx).
func sincPi(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series (converges fast for the β used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		f := x / (2 * float64(k))
		term *= f * f
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcdInt(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
