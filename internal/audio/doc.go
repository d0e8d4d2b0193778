// Package audio finds the machine's sound devices, watches them come and
// go, and opens capture and playback streams on them. It is the only
// package that talks to the sound system (through miniaudio, via
// github.com/gen2brain/malgo and cgo); it imports none of the softphone's
// other packages.
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
// # Presence watching: server events
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
// long-lived context rather than a fresh one per listing, which costs more
// CPU. BenchmarkSnapshot, BenchmarkWatchPlugLatency and
// BenchmarkWatchIdleCPU measure listing, events against polling, and idle
// watching; their figures are in BENCHMARKS.md.
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
// thread, whose data callback only copies into or out of the ring and
// bumps atomic counters: it never blocks or locks. The callback is C
// (cdevice.go), put in place of malgo's callback into Go before the
// device starts: a call from a C thread into Go leaves a scheduler P in
// a syscall state that the Go runtime's monitor thread must take back,
// and with two devices per call calling back every 10 ms that thread woke
// 3600-3900 times a second, most of a call's CPU. Read and Write look at
// the ring again after the time the samples they wait for take to arrive
// (at least 1 ms, at most a period). Should the device not be laid out as
// expected, the stream keeps malgo's callback (and says so in the log).
// Capture drops what a slow reader leaves no room for (Stats.Overruns);
// playback plays silence when the writer is late (Stats.Underruns); Write
// is paced by the device. Device ids go to miniaudio as C memory (DeviceID.Pointer,
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
// callback does not fire and IsStarted stays true. One watchdog goroutine
// for all streams (watchdogs.go) checks each stream's frame counter every
// 75 ms (the shortest interval of the streams watched); once frames have moved
// on three checks in a row (or StartGrace, 3 s, has passed) a counter
// that stands still for StallTimeout (300 ms) closes Lost, sets Err to
// ErrDeviceLost and calls OnLost.
//
// miniaudio's device uninit alone hangs on such a killed PulseAudio
// stream: it does not wake the audio thread, which sleeps in the
// PulseAudio main loop waiting for stream events that never come. Calling
// Stop first wakes it (Stop wakes the main loop), so the worker always
// stops, then uninitialises; with that, no stream has been abandoned in
// the tests.
//
// A PulseAudio null sink takes one period and then pauses for about two
// seconds before it streams steadily, and a null sink's monitor delivers
// nothing at first: hence StartGrace. BenchmarkStreamStart measures the
// first data callback and the steady flow (BENCHMARKS.md).
//
// On PulseAudio each stream's context declines miniaudio's device-name
// lookup at the end of the device's init (pulseinfo.go): that lookup
// crashed the process when the device had just vanished. Every context
// comes from initContext, which applies the guard.
//
// FakeStream (NewFakeCapture, NewFakePlayback) has the same interface and
// ring, moves one period per tick (of a real ticker every Period, or of a
// channel the test drives) and can be unplugged, for tests of the layers
// above.
package audio
