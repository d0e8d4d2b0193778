package main

import "runtime"

// schedulerThreads is how many threads run the daemon's Go code at once
// (GOMAXPROCS) unless its environment sets GOMAXPROCS.
//
// One is enough for one agent's phone: a call's audio is one goroutine
// woken every packet time, SIP and the local API are short bursts, and
// the codecs and devices run in C, on threads of their own that GOMAXPROCS
// does not count. With a second scheduler thread every wake-up of a
// goroutine also wakes an idle thread to look for more work, which finds
// none: on a call that is about half the daemon's thread switches
// (BENCHMARKS.md, item 4).
const schedulerThreads = 1

// limitScheduler sets GOMAXPROCS to schedulerThreads unless getenv says
// GOMAXPROCS was chosen, and returns what is in force.
func limitScheduler(getenv func(string) string) int {
	if getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	runtime.GOMAXPROCS(schedulerThreads)
	return schedulerThreads
}
