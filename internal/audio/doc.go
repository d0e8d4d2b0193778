// Package audio finds the machine's sound devices and watches them come
// and go. It is the only package that talks to the sound system (through
// miniaudio, via github.com/gen2brain/malgo and cgo); it imports none of
// the softphone's other packages.
//
//	Open ──► worker goroutine (owns the miniaudio context, one call at a time)
//	             ▲  request / reply, each bounded by Options.CallTimeout
//	Snapshot ────┤
//	Watch ── tick every PollInterval ──► Snapshot ──► changed? ──► onChange
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
// # Presence watching: polling, measured
//
// miniaudio has no device-list change notification, so Watch polls one
// long-lived context (a long-lived PulseAudio context sees sinks and sources
// loaded and unloaded after it was opened, and default changes; a fresh
// context per poll costs about twice the CPU). Measured on a 2-core Debian 12
// machine against PulseAudio 16.1 with two headsets (6 devices):
//
//	BenchmarkSnapshot          1.28 ms wall, 0.18 ms CPU of this process
//	                           (getrusage user+sys), 0.89 ms CPU of the server
//	BenchmarkWatchPlugLatency  plug/unplug to report, 40 changes at 250 ms:
//	                           p50 128 ms, p95 238 ms, max 257 ms
//	BenchmarkWatchIdleCPU      10 s idle watching at 250 ms: 0.31 % of one
//	                           core in this process (net of an idle baseline),
//	                           0.60 % in the PulseAudio server
//
// Both targets for this process (change reported within 300 ms at p95,
// under 0.5 % of a core) are met by polling, so no sound-server event
// subscription is used: libpulse's subscribe API needs its headers
// (libpulse-dev) for cgo, and `pactl subscribe` would make the daemon depend
// on a child process. The price is paid mostly by the sound server (each
// listing is a server-info, a sink-list and a source-list request, twice);
// a longer PollInterval lowers both costs and raises the delay in
// proportion. A subscription to the server's own change events (the native
// protocol's SUBSCRIBE command) with polling as a slow backstop is the way
// to lower it further.
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
// # Streams (later)
//
// Capture and playback streams on a chosen device will be opened on the
// same worker: a stream on a device that vanishes simply stops delivering
// frames (PulseAudio kills a stream pinned to a device id, and the stop
// callback does not fire), and uninitialising it can then hang. Streams
// will therefore carry a frame-counter watchdog and uninitialise in a
// bounded, non-blocking way. Device ids map back to miniaudio ids by
// copying the ID string's bytes (PulseAudio, ALSA) into C memory.
package audio
