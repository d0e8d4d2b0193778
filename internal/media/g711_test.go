package media

import (
	"math"
	"testing"
)

// Reference points from ITU-T G.711 Tables 1a/2a (decoder output values,
// scaled from 13-bit A-law and 14-bit µ-law units to 16 bits by 8 and 4).
func TestG711Reference(t *testing.T) {
	tests := []struct {
		name   string
		linear int16
		code   byte
		decode int16 // value the code decodes to
		law    string
	}{
		{"µ zero", 0, 0xFF, 0, "mu"},
		{"µ positive max", 32767, 0x80, 32124, "mu"},
		{"µ negative max", -32768, 0x00, -32124, "mu"},
		{"µ smallest step", 8, 0xFE, 8, "mu"},           // table 2a: segment 1 step 1, value 2
		{"µ negative small", -8, 0x7E, -8, "mu"},        // sign bit clear
		{"µ segment 4 start", 924, 0xCF, 924, "mu"},     // 231 * 4
		{"µ segment 4 end", 1884, 0xC0, 1884, "mu"},     // 471 * 4
		{"µ segment 8 start", 16764, 0x8F, 16764, "mu"}, // 4191 * 4
		{"A zero positive", 0, 0xD5, 8, "a"},            // table 1a: value 1
		{"A positive max", 32767, 0xAA, 32256, "a"},     // 4032 * 8
		{"A negative max", -32768, 0x2A, -32256, "a"},
		{"A smallest negative", -8, 0x55, -8, "a"},
		{"A segment 2 start", 264, 0xC5, 264, "a"},   // 33 * 8
		{"A segment 5 start", 2112, 0x95, 2112, "a"}, // 264 * 8
		{"A segment 5 end", 4032, 0x9A, 4032, "a"},   // 504 * 8
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, dec := EncodeMulaw, DecodeMulaw
			if tt.law == "a" {
				enc, dec = EncodeAlaw, DecodeAlaw
			}
			if got := enc(tt.linear); got != tt.code {
				t.Errorf("encode(%d) = %#02x, want %#02x", tt.linear, got, tt.code)
			}
			if got := dec(tt.code); got != tt.decode {
				t.Errorf("decode(%#02x) = %d, want %d", tt.code, got, tt.decode)
			}
		})
	}
}

// TestG711RoundTrip: every code's decoded value encodes back to the same
// code (µ-law 0x7F, "negative zero", comes back as 0xFF), and decoding is
// monotonic over the code order within each sign.
func TestG711RoundTrip(t *testing.T) {
	for c := range 256 {
		code := byte(c)
		if got := EncodeAlaw(DecodeAlaw(code)); got != code {
			t.Errorf("A-law %#02x -> %d -> %#02x", code, DecodeAlaw(code), got)
		}
		want := code
		if code == 0x7F {
			want = 0xFF
		}
		if got := EncodeMulaw(DecodeMulaw(code)); got != want {
			t.Errorf("µ-law %#02x -> %d -> %#02x", code, DecodeMulaw(code), got)
		}
	}
}

// TestG711Error: the quantisation error stays within half a step of the
// segment (G.711 §1: 4-bit steps per segment), i.e. under 1/32 of the
// value plus the smallest step, over the whole 16-bit range.
func TestG711Error(t *testing.T) {
	for v := -32768; v <= 32767; v += 7 {
		s := int16(v)
		for _, law := range []struct {
			name     string
			enc      func(int16) byte
			dec      func(byte) int16
			min, max float64
		}{
			{"mu", EncodeMulaw, DecodeMulaw, 8, 32124},
			{"a", EncodeAlaw, DecodeAlaw, 16, 32256},
		} {
			x := math.Max(-law.max, math.Min(law.max, float64(s)))
			got := float64(law.dec(law.enc(s)))
			if d := math.Abs(got - x); d > math.Abs(x)/32+law.min {
				t.Fatalf("%s: %d decodes to %v (error %v)", law.name, s, got, d)
			}
		}
	}
}

func BenchmarkEncodeMulaw160(b *testing.B) {
	pcm := tone(160, 8000, 1000, 0.5)
	dst := make([]byte, 0, 160)
	b.SetBytes(int64(len(pcm) * 2))
	for b.Loop() {
		dst = mulawCoder.Encode(dst[:0], pcm)
	}
}

func BenchmarkDecodeAlaw160(b *testing.B) {
	payload := alawCoder.Encode(nil, tone(160, 8000, 1000, 0.5))
	dst := make([]int16, 0, 160)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		dst = alawCoder.Decode(dst[:0], payload)
	}
}
