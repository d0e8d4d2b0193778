package media

import "golang.org/x/sys/cpu"

// haveFMA says dotFMA can run here.
var haveFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotFMA is dotGo with AVX2 and FMA: 32 products per loop, in four 8-lane
// sums. x and c must be of one length.
//
//go:noescape
func dotFMA(x, c []float32) float32
