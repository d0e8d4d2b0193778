package voice

import "errors"

// ErrClosed is returned by the methods of a Path or Ringer after Close or
// Stop.
var ErrClosed = errors.New("voice: path closed")

// ErrBadOptions is returned by Start and StartRinger for missing or
// unusable options.
var ErrBadOptions = errors.New("voice: bad options")

// ErrBadVolume is returned for a volume outside 0-100.
var ErrBadVolume = errors.New("voice: volume out of range")

// ErrInvalidDigit is returned by SendDTMF for a character that is not a
// DTMF digit (0-9, *, #, A-D).
var ErrInvalidDigit = errors.New("voice: invalid dtmf digit")

// ErrBadCadence is returned for a ring cadence that cannot be played.
var ErrBadCadence = errors.New("voice: bad ring cadence")

// ErrNoOutput is returned by StartRinger when no output device could be
// opened.
var ErrNoOutput = errors.New("voice: no output device could be opened")

// ErrCloseTimeout is returned by Close and Stop when a goroutine or a
// stream did not stop within the bound; it was abandoned.
var ErrCloseTimeout = errors.New("voice: did not stop in time")
