package voice

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// toneRamp is the fade in and out of every tone burst, so bursts start and
// end without a click.
const toneRamp = 2 * time.Millisecond

// segment is one part of a tone sequence: the sum of sines at freqs, each
// of peak amplitude amp (relative to full scale), for dur; no freqs is
// silence.
type segment struct {
	freqs []float64
	amp   float64
	dur   time.Duration
}

// toneSeq renders a sequence of segments at any sample rate, once or in a
// loop. Its position is kept in seconds, so the rate may change between
// calls (a codec change) without the timing slipping. It is used by one
// goroutine at a time.
type toneSeq struct {
	segs []segment
	loop bool
	i    int     // current segment
	pos  float64 // seconds into the current segment
}

// render fills dst with the next len(dst) samples at rate and reports
// whether the sequence goes on after them; what follows the end of a
// sequence that does not loop is silence.
func (g *toneSeq) render(dst []int16, rate int) bool {
	step := 1 / float64(rate)
	ramp := toneRamp.Seconds()
	for n := range dst {
		if g.i >= len(g.segs) {
			if !g.loop || len(g.segs) == 0 {
				clear(dst[n:])
				return false
			}
			g.i = 0
		}
		s := g.segs[g.i]
		dur := s.dur.Seconds()
		var v float64
		if len(s.freqs) > 0 {
			env := min(1, g.pos/ramp, (dur-g.pos)/ramp)
			for _, f := range s.freqs {
				v += math.Sin(2 * math.Pi * f * g.pos)
			}
			v *= s.amp * max(env, 0)
		}
		dst[n] = int16(math.Round(max(-1, min(v, 1)) * 32767))
		g.pos += step
		// Half a sample of slack: the position is a sum of rounded steps.
		if g.pos >= dur-step/2 {
			g.pos = max(0, g.pos-dur)
			g.i++
		}
	}
	return g.loop || g.i < len(g.segs)
}

// dtmfRows and dtmfCols are the ITU-T Q.23 frequency groups (Hz): a key
// sends one of each, the row of its key pad position and the column.
var (
	dtmfRows = [4]float64{697, 770, 852, 941}
	dtmfCols = [4]float64{1209, 1336, 1477, 1633}
	dtmfPad  = [4]string{"123A", "456B", "789C", "*0#D"}
)

// DTMF timing of the in-band sender (ITU-T Q.24 asks for at least 40 ms of
// tone and 40 ms of pause; these are the usual, safer values).
const (
	DTMFTone  = 100 * time.Millisecond
	DTMFPause = 60 * time.Millisecond
	// dtmfLevel is the peak amplitude of each of the two sines (-12 dBFS
	// each, so the pair never clips).
	dtmfLevel = 0.25
)

// DTMFFrequencies returns the Q.23 low (row) and high (column) frequency
// of a DTMF digit: 0-9, *, #, A-D (lower-case a-d too).
func DTMFFrequencies(digit rune) (low, high float64, err error) {
	d := strings.ToUpper(string(digit))
	for r, row := range dtmfPad {
		if c := strings.Index(row, d); c >= 0 && len(d) == 1 {
			return dtmfRows[r], dtmfCols[c], nil
		}
	}
	return 0, 0, fmt.Errorf("%w: %q", ErrInvalidDigit, digit)
}

// dtmfSequence is the tone sequence sending digits in band.
func dtmfSequence(digits string) (*toneSeq, error) {
	if digits == "" {
		return nil, fmt.Errorf("%w: no digits", ErrInvalidDigit)
	}
	g := &toneSeq{}
	for _, d := range digits {
		lo, hi, err := DTMFFrequencies(d)
		if err != nil {
			return nil, err
		}
		g.segs = append(g.segs,
			segment{freqs: []float64{lo, hi}, amp: dtmfLevel, dur: DTMFTone},
			segment{dur: DTMFPause})
	}
	return g, nil
}

// Zip tone: two short 1 kHz beeps telling an agent that a call was
// answered automatically.
const (
	ZipToneFrequency = 1000
	ZipToneBeep      = 60 * time.Millisecond
	ZipToneGap       = 60 * time.Millisecond
	zipToneLevel     = 0.3
)

// zipSequence is the zip tone: beep, gap, beep.
func zipSequence() *toneSeq {
	beep := segment{freqs: []float64{ZipToneFrequency}, amp: zipToneLevel, dur: ZipToneBeep}
	return &toneSeq{segs: []segment{beep, {dur: ZipToneGap}, beep}}
}

// Cadence is a ringing tone: the sum of sines at Freqs, each of peak
// amplitude Level (relative to full scale), On long, then Off of silence,
// repeated.
type Cadence struct {
	Freqs   []float64
	Level   float64
	On, Off time.Duration
}

// DefaultCadence is 425 Hz, 1 s on and 4 s off at -10 dBFS: the ringing
// tone of ITU-T E.180 Supplement 2 used across most of Europe.
func DefaultCadence() Cadence {
	return Cadence{Freqs: []float64{425}, Level: 0.3, On: time.Second, Off: 4 * time.Second}
}

// Validate checks that c can be played at rate Hz.
func (c Cadence) Validate(rate int) error {
	switch {
	case len(c.Freqs) == 0:
		return fmt.Errorf("%w: no frequency", ErrBadCadence)
	case c.On <= 0 || c.Off < 0:
		return fmt.Errorf("%w: on %s, off %s", ErrBadCadence, c.On, c.Off)
	case c.Level <= 0 || c.Level*float64(len(c.Freqs)) > 1:
		return fmt.Errorf("%w: level %g for %d frequencies (the sum must stay within full scale)", ErrBadCadence, c.Level, len(c.Freqs))
	}
	for _, f := range c.Freqs {
		if f <= 0 || f >= float64(rate)/2 {
			return fmt.Errorf("%w: %g Hz at %d Hz sampling", ErrBadCadence, f, rate)
		}
	}
	return nil
}

// sequence is the looping tone sequence of c.
func (c Cadence) sequence() *toneSeq {
	g := &toneSeq{loop: true, segs: []segment{{freqs: c.Freqs, amp: c.Level, dur: c.On}}}
	if c.Off > 0 {
		g.segs = append(g.segs, segment{dur: c.Off})
	}
	return g
}
