package main

import (
	"runtime"
	"testing"
)

// TestLimitScheduler: the daemon runs its Go code on one thread unless
// GOMAXPROCS is in its environment, which then stays as the runtime read it.
func TestLimitScheduler(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	runtime.GOMAXPROCS(3)
	if got := limitScheduler(func(k string) string {
		if k == "GOMAXPROCS" {
			return "3"
		}
		return ""
	}); got != 3 || runtime.GOMAXPROCS(0) != 3 {
		t.Errorf("GOMAXPROCS=3 in the environment: limitScheduler %d, runtime %d; want both 3", got, runtime.GOMAXPROCS(0))
	}
	if got := limitScheduler(func(string) string { return "" }); got != schedulerThreads || runtime.GOMAXPROCS(0) != schedulerThreads {
		t.Errorf("no GOMAXPROCS in the environment: limitScheduler %d, runtime %d; want %d", got, runtime.GOMAXPROCS(0), schedulerThreads)
	}
}
