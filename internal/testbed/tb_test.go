package testbed

import "testing"

// Tests and benchmarks hand themselves to the test bed as they are.
var (
	_ TB = (*testing.T)(nil)
	_ TB = (*testing.B)(nil)
	_ TB = testing.TB(nil)
)
