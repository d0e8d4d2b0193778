// Package bench is the side-by-side benchmark harness: it runs the
// softphone daemon (bin/softphone) and baresip on the same machine, in the
// same run and under the same load, alternating the two (A B A B …), and
// reports each figure as ours / baresip / ratio with min–median–max over
// the runs, as a table and as JSON with the raw figures.
//
// The peers are the real ones internal/testbed starts for `make test`:
// a private PulseAudio with a virtual headset, Kamailio, sipp and baresip,
// on ports chosen at run time. The harness is an ordinary program
// (cmd/softphone-bench); testbed's helpers take a testbed.TB, the few
// methods of testing.TB they call, which the program provides with a small
// implementation of its own (runTB) whose Fatal ends only the figure being
// measured.
//
//	figure           load                             measured on
//	1 call set-up    sipp uac, auto-answer            sipp message trace (µs)
//	2 reject rate    sipp uac at rising -r            sipp exit, trace, /proc RSS
//	3 CPU per call   baresip caller, both sending     /proc/<pid>/stat utime+stime
//	4 latency        Go RTP peer + pacat/parec        tone onset timestamps
//	5 hot-plug       pactl load/unload-module         /v1/events "devices"
//	6 idle / start   Kamailio registrar with auth     /proc RSS, registration event
//	7 device switch  headset unplugged mid-call       GET /v1/calls, parec onsets
//
// One run of one figure, for each phone in turn:
//
//	Run ─► figure ─► scope (runTB: cleanups, Fatal ends the figure)
//	                   │
//	                   ├─► testbed peers (PulseAudio, Kamailio, sipp, baresip)
//	                   ├─► the phone under test (bin/softphone or baresip)
//	                   └─► measurement ─► Side (values or the reason for n/a)
//	Report ◄── every figure's sides ──► WriteTable (stdout) / WriteJSON
package bench
