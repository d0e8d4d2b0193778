// Package audio finds the machine's sound devices, watches them come and
// go, and opens capture and playback streams on them. It is the only package that talks to the sound system (through
// miniaudio, via github.com/gen2brain/malgo and cgo); it imports none of
// the softphone's other packages.
//
//	Open ──► worker goroutine (owns the miniaudio context, one call at a time)
//	             ▲  request / reply, each bounded by Options.CallTimeout
//	Snapshot ────┤
//	Watch ───────┘◄── listing 30 ms after a `pactl subscribe` event,
//	                  every BackstopInterval (3 s), or every PollInterval
//	                  (250 ms) without events ──► changed? ──► onChange
//
//	OpenCapture:  device ─► miniaudio thread ─► ring ─► Read   (media path)
//	OpenPlayback: Write ─► ring ─► miniaudio thread ─► device
//	              each stream: own worker + context, frame-counter watchdog
//
// # Backends
//
// Options.Backend "auto" (the default) tries, in order:
//
//  1. PulseAudio (a PulseAudio server, or PipeWire's pulse server);
//  2. ALSA, but only when /dev/snd holds a PCM device node (pcmC*D*p or
//     pcmC*D*c): on a machine without a sound card ALSA lists only its
//     plugin names (pulse, null, jack, oss, ...), which are not devices;
//  3. miniaudio's null backend, so a daemon still starts on a machine with
//     no sound at all. Snapshots then say so: Backend "null", Null true
//     (its devices, if listed, are silent stand-ins). The fallback is
//     logged at Warn with the reasons, and an "auto" System on the null
//     backend looks for a real sound system again every few seconds.
//
// PipeWire desktops are reached through pipewire-pulse, PipeWire's
// PulseAudio service: backend "pulseaudio" covers both, and the
// integration tests run on both. The "Dummy Output" sink that
// module-always-sink keeps while no other sink exists (pipewire-pulse
// loads it by default) is left out of every snapshot, with its monitor:
// it plays into nothing, and the agent must see no output device then.
//
// "pulseaudio", "alsa" and "null" force one backend; Open fails with
// ErrNoBackend when it cannot be opened.
//
// # Device ids
//
// For PulseAudio a Device's ID is the sink or source name (the bytes of
// miniaudio's device id up to the first NUL), such as "jabra_evolve2_65";
// for ALSA the PCM name; for other backends the hexadecimal id bytes.
// Monitor sources of PulseAudio (id ending in ".monitor", or a name
// starting "Monitor of ") are flagged Monitor: they are not microphones.
//
// # Presence watching: server events, measured
//
// miniaudio has no device-list change notification. On PulseAudio, Watch
// runs `pactl subscribe` (pulseaudio-utils) as a child process: the
// server tells it of every change, and a "new", "change" or "remove" on a
// sink, a source or the server makes Watch list the devices 30 ms later
// (one listing per burst: a headset is a sink, its monitor and a source).
// It still lists every BackstopInterval (3 s) in case an event was
// missed, such as one between the first listing and the child's
// connection. Without pactl, with Options.NoServerEvents, on ALSA and the
// null backend, or once the child has died (the server went away), Watch
// polls every PollInterval and logs why at Warn; it tries to subscribe
// again every 5 s. The child inherits PULSE_SERVER and friends, gets
// SIGKILL if the daemon dies (Linux parent-death signal), and is killed
// and reaped when Watch returns and before Close returns. Listing uses one
// long-lived context (a fresh context per listing costs about twice the
// CPU). Measured on a 2-core Debian 12 machine against PulseAudio 16.1
// with two headsets (6 devices), `go test -bench . -benchtime 1x`:
//
//	BenchmarkSnapshot          1.24 ms wall, 0.6 ms CPU of this process
//	                           (getrusage user+sys; the server's share is
//	                           below /proc's 10 ms tick per listing)
//	BenchmarkWatchPlugLatency  pactl load/unload-module to report, 40 changes:
//	  events (default)         p50 39 ms, p95 40 ms, max 47 ms
//	  polling every 250 ms     p50 143 ms, p95 246 ms, max 252 ms
//	BenchmarkWatchIdleCPU      10 s of idle watching, % of one core:
//	  events (default)         this process 0.10, server 0.10, pactl 0.07:
//	                           0.27 in all, 0.16 net of an idle baseline
//	                           (the server's net share is 0.00)
//	  polling every 250 ms     this process 0.55, server 0.80: 1.35 in all,
//	                           1.34 net
//
// The pactl figure is mostly its start-up (about 7 ms once per Watch);
// the server figures come from /proc in 10 ms ticks, so they are good to
// about ±0.1 % over 10 s. The backstop listing every 3 s costs about a
// twelfth of the 250 ms polling. Targets: change reported within 300 ms at
// p95 and watching under 0.5 % of one core all told — both met with
// events; polling alone meets the delay but costs 1.35 %.
//
// # Failures
//
// Every backend call runs on the System's worker goroutine and every caller
// waits at most Options.CallTimeout (ErrBackendHung). A failed enumeration
// closes the context and the next call opens a new one, so a restarted
// sound server is picked up. Watch reports failures to Options.OnError and
// the log, never panics, and reports an empty snapshot when listing keeps
// failing.
//
// # Streams
//
// System.OpenCapture and System.OpenPlayback open a stream on a chosen
// Device (the zero Device is the system default) as S16 at
// StreamConfig.SampleRate (48000 by default), 1 channel by default, with
// 20 ms periods. The media path reads or writes whole periods; a ring
// buffer of BufferPeriods (10) sits between it and miniaudio's audio
// thread, whose data callback only copies into or out of the ring, bumps
// atomic counters and pokes a one-slot channel: it never blocks or locks
// (malgo itself takes a short mutex to find the callback). Capture drops
// what a slow reader leaves no room for (Stats.Overruns); playback plays
// silence when the writer is late (Stats.Underruns); Write is paced by
// the device. Device ids go to miniaudio as C memory (DeviceID.Pointer,
// freed after init; miniaudio copies them).
//
// Each stream has a worker goroutine that owns a miniaudio context and
// device of its own and makes every backend call (init, start, stop,
// uninit): open waits at most Options.CallTimeout, Close at most
// StreamConfig.StopTimeout (1 s); a device that does not stop in time is
// abandoned, logged at Error, and Close returns ErrBackendHung.
//
// A stream on a device that vanishes simply stops moving frames:
// PulseAudio kills a stream pinned to a device id, miniaudio's stop
// callback does not fire and IsStarted stays true. A watchdog goroutine
// per stream checks the frame counter every 75 ms; once frames have moved
// on three checks in a row (or StartGrace, 3 s, has passed) a counter
// that stands still for StallTimeout (300 ms) closes Lost, sets Err to
// ErrDeviceLost and calls OnLost. Measured: unplug (two `pactl
// unload-module` runs) to OnLost 370-450 ms, then Close 1-2 ms.
//
// miniaudio's device uninit alone hangs on such a killed PulseAudio
// stream: it does not wake the audio thread, which sleeps in the
// PulseAudio main loop waiting for stream events that never come. Calling
// Stop first wakes it (Stop wakes the main loop), so the worker always
// stops, then uninitialises; with that, no stream has been abandoned in
// the tests.
//
// Start-up, measured with BenchmarkStreamStart (first data callback /
// steady flow): playback into a PulseAudio null sink 1.5 ms / 2.18 s —
// the null sink takes one period and then pauses for about 2.1 s before
// it streams steadily (hence StartGrace); capture from a null sink's
// monitor remapped as a source 2.0 s / 2.18 s (the monitor delivers
// nothing for the first 2 s); playback on miniaudio's null backend
// 0.6 ms / 0.23 s (it paces in real time). Real USB headsets have not
// been measured.
//
// FakeStream (NewFakeCapture, NewFakePlayback) has the same interface and
// ring, moves one period per tick (of a real ticker every Period, or of a
// channel the test drives) and can be unplugged, for tests of the layers
// above.
package audio
