package media

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDot checks the inner product in use (the assembly one where the
// CPU has it) against the plain one, for every length the resampler's filters
// have and the loop's edges around them, on samples of a 16-bit signal's
// range and taps of a filter's.
func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 520; n++ {
		x := make([]float32, n+3)
		c := make([]float32, n)
		var mag float64
		for i := range x {
			x[i] = float32(rng.IntN(65536) - 32768)
		}
		for i := range c {
			c[i] = float32(rng.NormFloat64() / 20)
			mag += math.Abs(float64(x[i] * c[i]))
		}
		want := dotGo(x, c)
		got := dot(x, c)
		// The two add in different orders: they agree to float32's
		// rounding over the sum of the products' magnitudes.
		if d := math.Abs(float64(got - want)); d > 1e-5*mag+1e-3 {
			t.Fatalf("n=%d: dot %v, plain %v (|products| %v)", n, got, want, mag)
		}
	}
}

// TestDotShortX checks that dot refuses a window shorter than the taps
// (the assembly cannot), as indexing would.
func TestDotShortX(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("dot of a short x did not panic")
		}
	}()
	dot(make([]float32, 7), make([]float32, 8))
}

// TestResamplePlainDot runs the resampler's tests with the plain inner
// product, which machines without AVX2 and FMA use: both paths stay
// proved wherever the assembly one is in use.
func TestResamplePlainDot(t *testing.T) {
	saved := haveFMA
	haveFMA = false
	t.Cleanup(func() { haveFMA = saved })
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"tone", TestResampleTone},
		{"alias", TestResampleAliasRejection},
		{"frames", TestResampleFrames},
	} {
		t.Run(tc.name, tc.f)
	}
}
