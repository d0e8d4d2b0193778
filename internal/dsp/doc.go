// Package dsp is the voice processing stage of a call's capture path:
// acoustic echo cancellation, noise suppression and automatic gain
// control, by speexdsp (libspeexdsp) through cgo.
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
// takes one frame of it for each captured frame. The echo canceller's
// filter (Tail) spans the rest of the echo's delay: the devices' own
// buffering plus the room (or a relay's delay) up to a few hundred ms.
//
// Reference and Capture run on different goroutines (the receive and send
// sides of a voice path); Reset may be called from any goroutine and takes
// effect before the next captured frame, and Close after both have
// stopped.
//
// # Why speexdsp
//
// speexdsp is a C library with a stable C API, packaged everywhere
// (Debian's libspeexdsp-dev), used for the same job by baresip's speex_pp
// and PulseAudio's module-echo-cancel (aec_method=speex). WebRTC's audio
// processing module (libwebrtc-audio-processing-dev) is the other
// field-grade choice; it needs a C++ shim and was not measured here.
package dsp
