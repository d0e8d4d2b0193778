package bench

import (
	"math"
	"sort"
)

// Percentile returns the p-th percentile (0..100) of xs by the
// nearest-rank method; xs need not be sorted and is not changed.
func Percentile(xs []float64, p float64) (float64, error) {
	if len(xs) == 0 {
		return 0, ErrNoSamples
	}
	if p < 0 || p > 100 || math.IsNaN(p) {
		return 0, ErrBadOptions
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return s[rank-1], nil
}

// Spread is min, median and max of the per-run values of one figure.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// Summarize returns the spread of xs; the median of an even count is the
// mean of the two middle values.
func Summarize(xs []float64) (Spread, error) {
	if len(xs) == 0 {
		return Spread{}, ErrNoSamples
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Spread{Min: s[0], Median: med, Max: s[n-1], N: n}, nil
}

// Ratio is ours/theirs, or false when it has no meaning (a missing side
// or a zero denominator).
func Ratio(ours, theirs float64) (float64, bool) {
	if theirs == 0 || math.IsNaN(ours) || math.IsNaN(theirs) {
		return 0, false
	}
	return ours / theirs, true
}
