package bench

import "errors"

// Errors of the harness.
var (
	// ErrNotMeasurable means a figure could not be measured in this build
	// (for example the device audio path is not wired); the report carries
	// the reason instead of a number.
	ErrNotMeasurable = errors.New("bench: not measurable yet")
	// ErrFigureFailed means a figure's set-up or measurement failed.
	ErrFigureFailed = errors.New("bench: figure failed")
	// ErrBadProcStat means a /proc file did not have the expected shape.
	ErrBadProcStat = errors.New("bench: malformed /proc data")
	// ErrNoSamples means a summary was asked of an empty series.
	ErrNoSamples = errors.New("bench: no samples")
	// ErrBadOptions means the harness options are out of range.
	ErrBadOptions = errors.New("bench: bad options")
)
