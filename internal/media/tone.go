package media

import "math"

// ToneLevel measures how strongly the frequency hz is present in samples
// taken at rate, with the Goertzel algorithm (a single DFT bin). It returns
// the amplitude of that component relative to full scale: a full-scale sine
// at hz gives about 1.0, silence or other frequencies about 0. Pick a
// length holding a whole number of periods for an exact bin.
func ToneLevel(samples []int16, rate, hz float64) float64 {
	n := len(samples)
	if n == 0 || rate <= 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*hz/rate)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	if power < 0 {
		power = 0
	}
	return 2 * math.Sqrt(power) / float64(n)
}
