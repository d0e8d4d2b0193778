package media

import (
	"math"
	"testing"
	"time"
)

// TestMOSFromR checks G.107 Annex B's conversion at values computed from
// its formula.
func TestMOSFromR(t *testing.T) {
	tests := []struct {
		r, want float64
	}{
		{-5, 1},
		{0, 1},
		{50, 2.575},    // 1 + 1.75 − 0.175
		{60, 3.1},      // 1 + 2.1 + 0
		{70, 3.5970},   // 1 + 2.45 + 70·10·30·7e-6
		{80, 4.0240},   // 1 + 2.8 + 80·20·20·7e-6
		{90, 4.3390},   // 1 + 3.15 + 90·30·10·7e-6
		{93.2, 4.4093}, // the default R: 4.41
		{100, 4.5},
		{120, 4.5},
	}
	for _, tt := range tests {
		if got := MOSFromR(tt.r); math.Abs(got-tt.want) > 0.0005 {
			t.Errorf("MOSFromR(%v) = %.4f, want %.4f", tt.r, got, tt.want)
		}
	}
}

// TestRFactor checks the simplified E-model against hand computation.
func TestRFactor(t *testing.T) {
	g711 := CodecImpairment("PCMU", false)
	g711plc := CodecImpairment("PCMA", true)
	tests := []struct {
		name  string
		delay time.Duration
		loss  float64
		imp   Impairment
		want  float64
	}{
		{"ideal", 0, 0, g711, 93.2},
		{"100 ms", 100 * time.Millisecond, 0, g711, 93.2 - 2.4},
		{"200 ms: the knee at 177.3", 200 * time.Millisecond, 0, g711, 93.2 - 4.8 - 0.11*22.7},
		{"1 % loss without plc", 0, 1, g711, 93.2 - 95*1/(1+4.3)},
		{"1 % loss with plc", 0, 1, g711plc, 93.2 - 95*1/(1+25.1)},
		{"5 % loss with plc and 60 ms", 60 * time.Millisecond, 5, g711plc, 93.2 - 1.44 - 95*5/(5+25.1)},
		{"negative loss is none", 0, -1, g711, 93.2},
		{"opus", 0, 2, CodecImpairment("opus", false), 93.2 - 95*2/(2+25.1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RFactor(tt.delay, tt.loss, tt.imp); math.Abs(got-tt.want) > 0.001 {
				t.Errorf("R = %.3f, want %.3f", got, tt.want)
			}
		})
	}
}
