package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// g722RoundTrip encodes pcm in 20 ms frames and decodes it again.
func g722RoundTrip(pcm []int16) (codes []byte, out []int16) {
	enc, dec := NewG722Encoder(), NewG722Decoder()
	for i := 0; i < len(pcm); i += 320 {
		n := len(codes)
		codes = enc.Encode(codes, pcm[i:min(i+320, len(pcm))])
		out = dec.Decode(out, codes[n:])
	}
	return codes, out
}

// TestG722RoundTrip: tones in the lower (1 kHz) and higher (5 kHz) sub-band
// keep their frequency and level through G.722 at 64 kbit/s.
func TestG722RoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		hz     float64
		amp    float64
		minSNR float64 // dB
	}{
		{"1 kHz -6 dBFS", 1000, 0.5, 30},
		{"1 kHz -26 dBFS", 1000, 0.05, 25},
		{"300 Hz -12 dBFS", 300, 0.25, 30},
		{"5 kHz -10 dBFS", 5000, 0.3, 12},
		{"6.5 kHz -10 dBFS", 6500, 0.3, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sine(16000, 16000, tt.hz, tt.amp) // 1 s
			codes, out := g722RoundTrip(in)
			if len(codes) != len(in)/2 || len(out) != len(in) {
				t.Fatalf("sizes: %d samples → %d bytes → %d samples", len(in), len(codes), len(out))
			}
			tail := out[len(out)/2:] // past adaptation
			lvl := ToneLevel(tail, 16000, tt.hz)
			if d := db(lvl / tt.amp); math.Abs(d) > 1 {
				t.Errorf("level %.4f, %+.2f dB off the input's %.4f; want within 1 dB", lvl, d, tt.amp)
			}
			// The tone dominates: no other 500 Hz-spaced bin holds more than
			// a tenth of its level.
			for f := 500.0; f < 8000; f += 500 {
				if f == tt.hz {
					continue
				}
				if o := ToneLevel(tail, 16000, f); o > lvl/10 {
					t.Errorf("component at %.0f Hz at %.4f, tone %.4f", f, o, lvl)
				}
			}
			s, _ := snr(in, out, 4000, 64)
			t.Logf("%s: SNR %.1f dB", tt.name, s)
			if s < tt.minSNR {
				t.Errorf("SNR %.1f dB, want ≥ %.0f dB", s, tt.minSNR)
			}
		})
	}
}

// TestG722Streaming: frames of any sizes, odd ones included, give the same
// codes as one call; Reset starts over.
func TestG722Streaming(t *testing.T) {
	in := sine(3200, 16000, 1000, 0.4)
	want := NewG722Encoder().Encode(nil, in)
	enc := NewG722Encoder()
	var got []byte
	for i, n := 0, 1; i < len(in); n = n%7 + 1 {
		got = enc.Encode(got, in[i:min(i+n, len(in))])
		i += n
	}
	if !bytes.Equal(got, want) {
		t.Fatal("codes differ when the input is cut into odd pieces")
	}
	enc.Reset()
	if again := enc.Encode(nil, in); !bytes.Equal(again, want) {
		t.Fatal("codes differ after Reset")
	}
	dec := NewG722Decoder()
	a := dec.Decode(nil, want)
	dec.Reset()
	if b := dec.Decode(nil, want); !equalInt16(a, b) {
		t.Fatal("decoded samples differ after Reset")
	}
}

// TestG722Silence: digital silence stays (nearly) silent.
func TestG722Silence(t *testing.T) {
	_, out := g722RoundTrip(make([]int16, 3200))
	if m := maxAbs(out); m > 16 {
		t.Errorf("silence decodes with peak %d", m)
	}
}

// TestG722FFmpeg cross-checks against ffmpeg's independent G.722 codec:
// both encoders must produce the same codes for the same input, and both
// decoders the same samples for those codes.
func TestG722FFmpeg(t *testing.T) {
	testbed.Require(t, "ffmpeg")
	dir := testbed.Dir(t, "g722")
	// 1 s: a 1 kHz and a 5 kHz tone, then a sweep to 7.5 kHz, then a loud
	// two-tone burst that saturates the quantizers.
	var in []int16
	in = append(in, sine(4000, 16000, 1000, 0.5)...)
	in = append(in, sine(4000, 16000, 5000, 0.3)...)
	for i := range 4000 {
		ft := float64(i) / 16000
		in = append(in, int16(12000*math.Sin(2*math.Pi*(100*ft+7400/2/0.25*ft*ft))))
	}
	a, b := sine(4000, 16000, 440, 0.6), sine(4000, 16000, 3100, 0.6)
	for i := range a {
		in = append(in, int16(max(-32768, min(32767, int(a[i])+int(b[i])))))
	}
	raw := filepath.Join(dir, "in.s16")
	if err := os.WriteFile(raw, int16Bytes(in), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ff := func(args ...string) {
		t.Helper()
		base := []string{"-hide_banner", "-loglevel", "error", "-y"}
		if _, err := testbed.Run(ctx, dir, nil, "ffmpeg", append(base, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	ff("-f", "s16le", "-ar", "16000", "-ac", "1", "-i", "in.s16", "-c:a", "g722", "-f", "g722", "ff.g722")
	theirs, err := os.ReadFile(filepath.Join(dir, "ff.g722"))
	if err != nil {
		t.Fatal(err)
	}
	ours, ourPCM := g722RoundTrip(in)
	if diff := countDiff(ours, theirs); diff != 0 || len(ours) != len(theirs) {
		t.Errorf("encoders differ: %d of %d codes (ffmpeg wrote %d)", diff, len(ours), len(theirs))
	}
	if err := os.WriteFile(filepath.Join(dir, "ours.g722"), ours, 0o644); err != nil {
		t.Fatal(err)
	}
	ff("-f", "g722", "-i", "ours.g722", "-f", "s16le", "-ac", "1", "ff.s16")
	b16, err := os.ReadFile(filepath.Join(dir, "ff.s16"))
	if err != nil {
		t.Fatal(err)
	}
	theirPCM := make([]int16, len(b16)/2)
	if err := binary.Read(bytes.NewReader(b16), binary.LittleEndian, theirPCM); err != nil {
		t.Fatal(err)
	}
	if len(theirPCM) != len(ourPCM) {
		t.Fatalf("ffmpeg decoded %d samples, we %d", len(theirPCM), len(ourPCM))
	}
	diff, worst := 0, 0
	for i := range ourPCM {
		if d := absInt(int(ourPCM[i]) - int(theirPCM[i])); d != 0 {
			diff++
			worst = max(worst, d)
		}
	}
	if diff != 0 {
		t.Errorf("decoders differ on %d of %d samples (worst by %d)", diff, len(ourPCM), worst)
	}
}

func int16Bytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func equalInt16(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func BenchmarkG722Encode(b *testing.B) {
	in := sine(320, 16000, 1000, 0.5) // one 20 ms frame
	enc := NewG722Encoder()
	dst := make([]byte, 0, 160)
	b.ReportAllocs()
	for b.Loop() {
		dst = enc.Encode(dst[:0], in)
	}
}

func BenchmarkG722Decode(b *testing.B) {
	codes := NewG722Encoder().Encode(nil, sine(320, 16000, 1000, 0.5))
	dec := NewG722Decoder()
	dst := make([]int16, 0, 320)
	b.ReportAllocs()
	for b.Loop() {
		dst = dec.Decode(dst[:0], codes)
	}
}
