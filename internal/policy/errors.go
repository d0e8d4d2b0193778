package policy

import "errors"

// ErrUnknownAnswer means a should_answer value is not one of "true",
// "false" or "unknown".
var ErrUnknownAnswer = errors.New("policy: unknown should_answer value")

// ErrUnknownAction means an admission action's name is not known.
var ErrUnknownAction = errors.New("policy: unknown admission action")
