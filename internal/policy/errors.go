package policy

import "errors"

// ErrUnknownAnswer means a should_answer value is not one of "true",
// "false" or "unknown".
var ErrUnknownAnswer = errors.New("policy: unknown should_answer value")
