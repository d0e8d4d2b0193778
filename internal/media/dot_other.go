//go:build !amd64

package media

// haveFMA is false: only amd64 has the assembly inner product.
var haveFMA = false

// dotFMA stands in for the amd64 assembly, never called here.
func dotFMA(x, c []float32) float32 { return dotGo(x, c) }
