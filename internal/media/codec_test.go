package media

import (
	"errors"
	"math"
	"testing"
)

// sine returns n samples of a sine at hz with amplitude amp (0-1 of full
// scale), starting at phase 0.
func sine(n int, rate, hz, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*hz*float64(i)/rate)))
	}
	return out
}

// db converts an amplitude ratio to decibels.
func db(ratio float64) float64 { return 20 * math.Log10(ratio) }

// snr returns the signal-to-noise ratio in dB of got against ref, after
// finding the delay (0…maxDelay samples of got behind ref) and the gain
// that match them best; skip samples at the start of ref are left out.
func snr(ref, got []int16, skip, maxDelay int) (snrDB float64, delay int) {
	best := math.Inf(-1)
	for d := 0; d <= maxDelay; d++ {
		var sr, sg, rg float64
		for i := skip; i < len(ref) && i+d < len(got); i++ {
			r, g := float64(ref[i]), float64(got[i+d])
			sr += r * r
			sg += g * g
			rg += r * g
		}
		if sr == 0 || sg == 0 {
			continue
		}
		// Residual energy after the best gain: sr·(1-ρ²).
		rho2 := rg * rg / (sr * sg)
		v := 10 * math.Log10(1/math.Max(1-rho2, 1e-12))
		if v > best {
			best, delay = v, d
		}
	}
	return best, delay
}

func TestNewCoder(t *testing.T) {
	tests := []struct {
		name    string
		codec   Codec
		wantErr error
	}{
		{"PCMU", Codec{Name: "PCMU", ClockRate: 8000, SampleRate: 8000, Channels: 1}, nil},
		{"pcma lower case", Codec{Name: "pcma", ClockRate: 8000, SampleRate: 8000, Channels: 1}, nil},
		{"G722", Codec{Name: "G722", ClockRate: 8000, SampleRate: 16000, Channels: 1}, nil},
		{"opus mono", Codec{Name: "opus", ClockRate: 48000, SampleRate: 48000, Channels: 1}, nil},
		{"opus stereo with fec", Codec{Name: "opus", ClockRate: 48000, SampleRate: 48000, Channels: 2, Fmtp: "useinbandfec=1;stereo=1"}, nil},
		{"opus three channels", Codec{Name: "opus", ClockRate: 48000, SampleRate: 48000, Channels: 3}, ErrCodecUnsupported},
		{"unknown", Codec{Name: "GSM", ClockRate: 8000, SampleRate: 8000}, ErrCodecUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newCoder(tt.codec)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("newCoder err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			// A 20 ms frame of a 1 kHz tone goes through and comes back.
			ch := max(tt.codec.Channels, 1)
			frame := tt.codec.SampleRate / 50
			mono := sine(frame*10, float64(tt.codec.SampleRate), 1000, 0.5)
			var out []int16
			for f := range 10 {
				pcm := make([]int16, 0, frame*ch)
				for _, s := range mono[f*frame : (f+1)*frame] {
					for range ch {
						pcm = append(pcm, s)
					}
				}
				payload := c.Encode(nil, pcm)
				if len(payload) == 0 {
					t.Fatalf("frame %d: empty payload", f)
				}
				out = c.Decode(out, payload)
			}
			if len(out) != len(mono)*ch {
				t.Fatalf("decoded %d samples, want %d", len(out), len(mono)*ch)
			}
			left := make([]int16, 0, len(mono))
			for i := 0; i < len(out); i += ch {
				left = append(left, out[i])
			}
			// The last 100 ms, past codec start-up.
			if lvl := ToneLevel(left[len(left)/2:], float64(tt.codec.SampleRate), 1000); lvl < 0.4 || lvl > 0.6 {
				t.Errorf("1 kHz level after round trip = %.3f, want 0.5±0.1", lvl)
			}
		})
	}
}

// TestFadeConceal checks the G.711/G.722 concealment: a loss continues the
// tone at full level, fades, ends in silence; resumed audio is cross-faded
// without a jump; with no history a loss is silence.
func TestFadeConceal(t *testing.T) {
	for _, rate := range []int{8000, 16000} {
		f := newFadeConcealer(rate)
		frame := rate / 50
		sig := sine(frame*8, float64(rate), 1000, 0.5)
		if got := f.conceal(nil, frame); maxAbs(got) != 0 {
			t.Errorf("%d Hz: concealment without history is not silent: peak %d", rate, maxAbs(got))
		}
		f.decoded(append([]int16(nil), sig[:frame]...)) // resets the loss
		f.decoded(append([]int16(nil), sig[frame:2*frame]...))
		// Frame 2 is lost: the concealment should look like it.
		c1 := f.conceal(nil, frame)
		if lvl := ToneLevel(c1[:rate/100], float64(rate), 1000); lvl < 0.45 {
			t.Errorf("%d Hz: first 10 ms of concealment at 1 kHz level %.3f, want ≥ 0.45", rate, lvl)
		}
		// A steady tone is continued in phase: the first concealed sample
		// is close to what the lost frame held.
		for i := range 4 {
			if d := absInt(int(c1[i]) - int(sig[2*frame+i])); d > 500 {
				t.Errorf("%d Hz: concealed sample %d is %d off the tone's continuation", rate, i, d)
			}
		}
		c2 := f.conceal(nil, frame)
		c3 := f.conceal(nil, frame)
		c4 := f.conceal(nil, frame)
		if !(rms(c2) < rms(c1) && rms(c3) < rms(c2)) {
			t.Errorf("%d Hz: concealment does not fade: rms %.0f %.0f %.0f", rate, rms(c1), rms(c2), rms(c3))
		}
		if maxAbs(c4) != 0 {
			t.Errorf("%d Hz: after 60 ms concealment is not silent: peak %d", rate, maxAbs(c4))
		}
		// Audio resumes from silence: it fades in, no click.
		next := append([]int16(nil), sig[6*frame:7*frame]...)
		f.decoded(next)
		if absInt(int(next[0])) > 2000 {
			t.Errorf("%d Hz: resumed audio starts at %d after silence, want a fade-in", rate, next[0])
		}
		if lvl := ToneLevel(next[frame/2:], float64(rate), 1000); lvl < 0.45 {
			t.Errorf("%d Hz: resumed audio level %.3f, want ≥ 0.45", rate, lvl)
		}
	}
}

// TestCoderConceal: every coder from newCoder conceals with the requested
// length.
func TestCoderConceal(t *testing.T) {
	for _, c := range []Codec{
		{Name: "PCMU", SampleRate: 8000, Channels: 1},
		{Name: "PCMA", SampleRate: 8000, Channels: 1},
		{Name: "G722", SampleRate: 16000, Channels: 1},
		{Name: "opus", SampleRate: 48000, Channels: 1},
		{Name: "opus", SampleRate: 48000, Channels: 2},
	} {
		coder, err := newCoder(c)
		if err != nil {
			t.Fatal(err)
		}
		frame := c.SampleRate / 50
		pcm := make([]int16, frame*c.Channels)
		copy(pcm, sine(frame, float64(c.SampleRate), 500, 0.3))
		coder.Decode(nil, coder.Encode(nil, pcm))
		if got := len(coder.Conceal(nil, frame)); got != frame*c.Channels {
			t.Errorf("%s/%d: Conceal gave %d samples, want %d", c.Name, c.Channels, got, frame*c.Channels)
		}
	}
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(s), 1)))
}

func maxAbs(s []int16) int {
	m := 0
	for _, v := range s {
		m = max(m, absInt(int(v)))
	}
	return m
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
