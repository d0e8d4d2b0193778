package media

// The resampler's inner product, the sum of x[j]·c[j] (x and c of one
// length), is the Resampler's whole cost: a 48 kHz → 8 kHz frame takes
// 504 products per output sample, and the filter runs on every frame of
// a call in both directions. amd64 machines with AVX2 and FMA run it
// eight lanes at a time (dotFMA, dot_amd64.s); others use dotGo. haveFMA
// says which; tests turn it off to prove the plain one where both exist.

// dotGo is the inner product in plain Go, four partial sums at a time.
func dotGo(x, c []float32) float32 {
	x = x[:len(c)]
	var a0, a1, a2, a3 float32
	j := 0
	for ; j+4 <= len(c); j += 4 {
		a0 += x[j] * c[j]
		a1 += x[j+1] * c[j+1]
		a2 += x[j+2] * c[j+2]
		a3 += x[j+3] * c[j+3]
	}
	for ; j < len(c); j++ {
		a0 += x[j] * c[j]
	}
	return (a0 + a1) + (a2 + a3)
}

// dot is the inner product by the fastest way this machine has. x must
// be at least as long as c.
func dot(x, c []float32) float32 {
	x = x[:len(c)]
	if haveFMA {
		return dotFMA(x, c)
	}
	return dotGo(x, c)
}
