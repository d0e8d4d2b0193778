package main

// envPprof names the debug switch: SOFTPHONE_PPROF=127.0.0.1:PORT makes the
// daemon serve Go's profiles (net/http/pprof: /debug/pprof/heap,
// /debug/pprof/goroutine, …) on that loopback address. It is meant for
// measuring memory and CPU on a test machine; only loopback addresses are
// accepted, and the listener has no authentication.
//
// Only a daemon built with the pprof tag (make build-pprof) has the
// profile server: net/http/pprof and the runtime's profile writers are
// 0.7 MB of binary, resident in every agent's daemon for a switch
// only a developer uses. Other builds refuse to start with the switch set,
// rather than run without what was asked for.
const envPprof = "SOFTPHONE_PPROF"
