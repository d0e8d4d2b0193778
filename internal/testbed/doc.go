// Package testbed starts the real peers the integration tests talk to:
// a headless sound server with virtual devices (PulseAudio, or PipeWire
// with its PulseAudio service), Kamailio, baresip, sipp and
// a headless Chromium, and a UDP relay that impairs the media between
// them. Every peer runs in a temporary folder of its own, on ports chosen
// at run time, and is stopped by the cleanups of the test that started it.
//
// Integration tests call Require first: they skip only when
// SOFTPHONE_INTEGRATION is unset; with it set (make test sets it) a missing
// peer is a test failure, never a skip.
//
//	test or benchmark (TB) ──Require──► skip / fail on a missing program
//	        │
//	        ├─StartPulse / StartPipeWire / StartKamailio / StartBaresip / StartSipp / StartChromium
//	        │      │
//	        │      ▼
//	        │   Start: Dir (temporary folder) + FreePort ──► Process
//	        │      output ──► reader goroutine ──► <name>.log, WaitFor lines
//	        │
//	        ├─StartRelay: datagrams ──► random loss and jitter ──► target
//	        │
//	        └─Cleanup ──► Stop (SIGTERM, then SIGKILL) ──► CheckLeaks' goroutine check
//
// The helpers take a TB, the few methods of testing.TB they call, so the
// bench harness (bench/) starts the same peers outside `go test`.
// CheckLeaks is the goroutine-leak check (go.uber.org/goleak) the packages'
// tests put on whatever starts a UA, a call or a session.
package testbed
