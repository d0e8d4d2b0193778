// Package dsp is the voice processing stage of a call's capture path:
// acoustic echo cancellation, by speexdsp (libspeexdsp) or WebRTC's audio
// processing module (libwebrtc-audio-processing, through a small C
// face, apm.h), then noise suppression and automatic gain control by
// speexdsp's preprocessor, through cgo.
//
//	playback path ─► Reference ─► far-end FIFO ──┐
//	                                             ▼
//	capture ─► Capture ─► echo canceller (MDF) ─► preprocessor ─► (in place)
//	                      speex_echo_cancellation   residual echo suppression,
//	                                                denoise, AGC
//
// A Processor works on mono 16-bit samples at one device rate, in 10 ms
// frames: the capture path's packet times (10, 20, 30 ms ...) are whole
// numbers of them, so the stage adds no buffering and no latency of its
// own. The reference is what the playback path hands to the playback
// device; it waits in a short FIFO (ReferenceLimit) until the capture path
// takes one frame of it for each captured frame, read at the speaker's
// place (the devices' frame counters, Playing). What is left of the
// echo's delay (the sound servers' buffering, the room, a relay: 20 ms
// on a headset, 130-250 ms through a loopback) the stage measures, by
// the correlation of the two signals' energy envelopes, and holds the
// reference back by it less 24 ms (delay.go; EchoDelay reports it), so
// the cancellers see a short, early echo. Until it has found the delay
// (0.6 s of the far end talking) the reference is not held back; when it
// moves, WebRTC's module starts afresh, and speexdsp's filter too when
// the echo is found; when the echo jumps (a sound server's underrun:
// followed within about 0.7 s) the filter keeps what it learnt. The filter (Tail) spans the
// rest of the echo: the margin and the room's decay.
//
// Reference and Capture run on different goroutines (the receive and send
// sides of a voice path); Reset may be called from any goroutine and takes
// effect before the next captured frame, and Close after both have
// stopped.
//
// # Two echo cancellers, by default one after the other
//
// Both are field-grade libraries packaged everywhere, used for the same
// job by baresip (speex_pp, webrtc_aec) and PulseAudio's
// module-echo-cancel. Measured on the same PulseAudio echo path (100 or
// 150 ms past the speaker, 10 dB down; voice.TestEchoNoiseOnPulse,
// BenchmarkEchoBed), the reference held back by the measured delay:
//
//   - WebRTC (0.3, the version Debian ships): 50-60 dB less echo, 25 dB
//     within 1.5-2 s of the first frame; its suppressor lowers the
//     agent's voice by 5-7 dB while both talk, even at its lowest
//     suppression level. Without the delay held back it lost the path
//     from about 180 ms past the speaker's place (6-14 dB at 150 ms).
//
//   - speexdsp: 30-48 dB less echo once converged, 25 dB reached about
//     3 s into the call; the agent's voice within 1-3 dB while both talk.
//
//   - speexdsp's filter, then WebRTC's canceller on what it leaves, both
//     fed the same reference (EngineCombined, the default): 25 dB within
//     1-1.5 s, 35-65 dB once converged, the agent's voice within 4 dB
//     while both talk. WebRTC's module takes the echo off while the MDF
//     filter learns the path; once the filter has, the module's
//     suppressor sees the agent's voice for what it is and leaves it
//     nearly whole. speexdsp's residual echo suppressor is left out of
//     this chain: on top of WebRTC's it took 3 dB more off the agent's
//     voice during double talk.
//
//     capture ─► MDF filter ─► WebRTC AEC (10 ms at a time) ─► preprocessor
//     (the reference, once per frame, to both)      denoise, AGC
//
// The chain meets every figure of the bed, at both delays and on a
// loaded machine, so it is the default: echo
// that comes back to a caller for seconds is the harm callers notice, and
// an agent's voice ducked whenever both talk is the next. It costs both
// cancellers' CPU (BenchmarkStage: 1.5-2.1 % of a core per call at 48
// kHz, against 0.8-1.1 and 1.0-1.5 % for each alone, as fast as the
// machine ran that day); an administrator short of
// CPU picks one ([policy.session] echo_canceller = webrtc or speex).
// Noise suppression is speexdsp's with any: it took 26 dB of stationary
// noise off against WebRTC's 18 dB at its high level, speech kept alike.
package dsp
