package testbed

import (
	"sync"

	"go.uber.org/goleak"
)

// IgnorePeerOutput is the goleak option for a peer's output reader (Start):
// it ends at EOF on the peer's output, which a peer's forked children (as
// Kamailio's) hold for a moment after Stop returns. It belongs to the test
// bed, not to the code under test.
func IgnorePeerOutput() goleak.Option {
	return goleak.IgnoreAnyFunction("github.com/softphone/softphone/internal/testbed.Start.func1")
}

// leakChecked holds the tests and benchmarks CheckLeaks already watches.
var leakChecked sync.Map

// CheckLeaks fails t when a goroutine started after the call outlives the
// cleanups t registers later (a UA's or a session's Close among them); it
// is for the helpers that start a UA, a call or a session, and for the
// tests that start them by hand. Goroutines already running are ignored,
// as are the peers' output readers and the goroutines opts names. A second
// call for the same t does nothing: the first, earlier one covers it.
// Tests that use it must not run in parallel with others.
func CheckLeaks(t TB, opts ...goleak.Option) {
	t.Helper()
	if _, seen := leakChecked.LoadOrStore(t, struct{}{}); seen {
		return
	}
	opts = append([]goleak.Option{goleak.IgnoreCurrent(), IgnorePeerOutput()}, opts...)
	t.Cleanup(func() {
		leakChecked.Delete(t)
		goleak.VerifyNone(t, opts...)
	})
}
