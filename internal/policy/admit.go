package policy

import (
	"fmt"
	"time"
)

// Admission: what an incoming call gets, from the verdict in force and the
// other calls of the phone. The phone asks when the INVITE arrives and
// again, for a call that still rings, whenever something it depends on
// changes (the devices, another call ending, the delay an auto-answer
// header asked for running out):
//
//	Admit(verdict, calls, offer) ──▶ Admission{Action, Code, Delay, Auto, Reason}
//
//	1. replace : an INVITE with Replaces for one of our calls (RFC 3891)
//	             carries on a conversation the agent is in → answer
//	2. reject  : should_answer=false → the configured code
//	3. busy    : another call is up and call_waiting=0 → 486 Busy Here
//	             (a new call only: a ringing call is never refused for it)
//	4. wait    : another call is up → ring without a ringer over the
//	             conversation; decided again when that call ends
//	5. auto    : should_answer=true → answer, the agent hears the zip tone
//	6. header  : the caller asked for auto-answer (auto_answer_by_header=1)
//	             and the devices do not block it → answer after its delay
//	7. ring    : otherwise ring for the agent's manual answer

// Action is what the phone does with an incoming call.
type Action int

// Actions; the zero value is unknown (no decision).
const (
	ActionUnknown Action = iota
	// ActionAnswer answers the call now.
	ActionAnswer
	// ActionAnswerAfter rings and answers once Admission.Delay is over
	// (the call is decided again then).
	ActionAnswerAfter
	// ActionRing rings for the agent's manual answer.
	ActionRing
	// ActionWait leaves the call ringing silently behind another call
	// (call waiting): it is decided again when that call ends.
	ActionWait
	// ActionReject refuses the call with Admission.Code.
	ActionReject
)

var actionNames = []string{"unknown", "answer", "answer-after", "ring", "wait", "reject"}

// String returns the action's name.
func (a Action) String() string {
	if a < 0 || int(a) >= len(actionNames) {
		return actionNames[0]
	}
	return actionNames[a]
}

// ParseAction parses an action's name.
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if i > 0 && n == s {
			return Action(i), nil
		}
	}
	return ActionUnknown, fmt.Errorf("%w: %q", ErrUnknownAction, s)
}

// Calls is what admission needs to know of the phone's other calls.
type Calls struct {
	// Up counts the other calls in progress: answered, held, or outgoing.
	// A call that is ending (its BYE sent or received) is not counted: a
	// call arriving meanwhile is decided as if it had ended.
	Up int
	// CallWaiting is call_waiting: a call may ring while another is up.
	CallWaiting bool
}

// Offer is the incoming call as admission sees it.
type Offer struct {
	// Replacing is set for an INVITE with Replaces naming one of our
	// calls (RFC 3891).
	Replacing bool
	// HeaderAutoAnswer is set when the INVITE asks to be answered
	// automatically (Call-Info answer-after, Alert-Info, Answer-Mode) and
	// auto_answer_by_header=1; HeaderDelay is what is left of the delay
	// it asked for.
	HeaderAutoAnswer bool
	HeaderDelay      time.Duration
	// Ringing is set when the call is decided again: it already rings
	// (or waits). Such a call is never refused for being busy.
	Ringing bool
}

// Admission is the decision for one incoming call.
type Admission struct {
	Action Action
	// Code is the SIP status of a rejection (400-699).
	Code int
	// Delay is how long ActionAnswerAfter waits.
	Delay time.Duration
	// Auto is set when the phone answers by itself: the agent hears the
	// zip tone.
	Auto bool
	// Reason says why, in plain words.
	Reason string
}

// Admit decides what an incoming call gets (see the ladder above).
func Admit(v Decision, c Calls, o Offer) Admission {
	busy := c.Up > 0
	switch {
	case o.Replacing:
		return Admission{Action: ActionAnswer, Reason: "the call replaces one of ours (RFC 3891): answered at once"}
	case v.ShouldAnswer == AnswerFalse:
		return Admission{Action: ActionReject, Code: v.RejectCode, Reason: v.Reason}
	case busy && !c.CallWaiting && !o.Ringing:
		return Admission{Action: ActionReject, Code: 486, Reason: "call waiting is off and a call is in progress"}
	case busy:
		return Admission{Action: ActionWait, Reason: "another call is in progress: the call waits"}
	case v.ShouldAnswer == AnswerTrue:
		return Admission{Action: ActionAnswer, Auto: true, Reason: "answered automatically: " + v.Reason}
	case o.HeaderAutoAnswer && v.AutoAnswerBlocked:
		return Admission{Action: ActionRing, Reason: "auto-answer requested by the caller but blocked: " + v.Reason}
	case o.HeaderAutoAnswer && o.HeaderDelay <= 0:
		return Admission{Action: ActionAnswer, Auto: true, Reason: "answered on the caller's request"}
	case o.HeaderAutoAnswer:
		return Admission{Action: ActionAnswerAfter, Delay: o.HeaderDelay, Auto: true,
			Reason: "answered on the caller's request after " + o.HeaderDelay.String()}
	}
	return Admission{Action: ActionRing, Reason: "rings for a manual answer: " + v.Reason}
}
