package audio

import "errors"

// ErrClosed is returned by the methods of a System after Close.
var ErrClosed = errors.New("audio: system closed")

// ErrUnknownBackend is returned by Open when Options.Backend names no
// backend this package knows ("auto", "pulseaudio", "alsa", "null").
var ErrUnknownBackend = errors.New("audio: unknown backend")

// ErrNoBackend is returned when the backend that was asked for cannot be
// opened (for example "pulseaudio" with no server to talk to).
var ErrNoBackend = errors.New("audio: backend unavailable")

// ErrBackendHung is returned when a call into the audio backend did not
// return within Options.CallTimeout, or when an earlier such call is still
// stuck. The System stays usable: once the stuck call returns, calls work
// again.
var ErrBackendHung = errors.New("audio: backend call did not return in time")

// ErrStreamClosed is returned by the methods of a stream after its Close.
var ErrStreamClosed = errors.New("audio: stream closed")

// ErrDeviceLost is the error of a stream whose device stopped delivering
// or taking frames: it was unplugged, or the sound server dropped the
// stream. The stream is dead; close it and open a new one.
var ErrDeviceLost = errors.New("audio: stream device lost")

// ErrBadStreamConfig is returned when a StreamConfig asks for something a
// stream cannot do (a negative rate, more than two channels, ...).
var ErrBadStreamConfig = errors.New("audio: bad stream config")
