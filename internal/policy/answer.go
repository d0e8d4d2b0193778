package policy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Answer is the should_answer verdict for an incoming call.
type Answer int

const (
	// AnswerUnknown means the call rings and the agent answers manually.
	AnswerUnknown Answer = iota
	// AnswerTrue means the call is answered automatically.
	AnswerTrue
	// AnswerFalse means the call is rejected and outgoing calls are
	// refused.
	AnswerFalse
)

const (
	answerUnknownStr = "unknown"
	answerTrueStr    = "true"
	answerFalseStr   = "false"
)

// String returns "unknown", "true" or "false"; a value outside the enum is
// "unknown".
func (a Answer) String() string {
	switch a {
	case AnswerTrue:
		return answerTrueStr
	case AnswerFalse:
		return answerFalseStr
	default:
		return answerUnknownStr
	}
}

// ParseAnswer parses "unknown", "true" or "false", ignoring case and
// surrounding white space.
func ParseAnswer(s string) (Answer, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case answerUnknownStr:
		return AnswerUnknown, nil
	case answerTrueStr:
		return AnswerTrue, nil
	case answerFalseStr:
		return AnswerFalse, nil
	default:
		return AnswerUnknown, fmt.Errorf("%w: %q", ErrUnknownAnswer, s)
	}
}

// MarshalJSON encodes the answer as its String.
func (a Answer) MarshalJSON() ([]byte, error) {
	return json.Marshal(a.String())
}

// UnmarshalJSON decodes a string written by MarshalJSON.
func (a *Answer) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("policy: should_answer: %w", err)
	}
	v, err := ParseAnswer(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}
