package media

import (
	"math"
	"testing"
)

// tone returns n samples of a sine at hz with amplitude amp (0-1).
func tone(n int, rate, hz, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*hz*float64(i)/rate)))
	}
	return out
}

func TestToneLevel(t *testing.T) {
	tests := []struct {
		name     string
		samples  []int16
		hz       float64
		min, max float64
	}{
		{"1 kHz found", tone(800, 8000, 1000, 0.5), 1000, 0.49, 0.51},
		{"full scale", tone(800, 8000, 1000, 1), 1000, 0.99, 1.01},
		{"1 kHz absent at 2 kHz", tone(800, 8000, 1000, 0.5), 2000, 0, 0.01},
		{"silence", make([]int16, 800), 1000, 0, 0},
		{"empty", nil, 1000, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToneLevel(tt.samples, 8000, tt.hz)
			if got < tt.min || got > tt.max {
				t.Errorf("level = %v, want %v..%v", got, tt.min, tt.max)
			}
		})
	}
}
