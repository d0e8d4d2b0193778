package dsp

import "errors"

// ErrBadOptions is returned by New for an unusable rate or frame size.
var ErrBadOptions = errors.New("dsp: bad options")

// ErrInit is returned by New when speexdsp cannot make a state.
var ErrInit = errors.New("dsp: cannot initialise speexdsp")
