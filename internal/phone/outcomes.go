package phone

import (
	"strings"
	"sync"
)

// CallOutcome counts the calls of one direction that ended with one
// outcome since the phone started.
type CallOutcome struct {
	Direction string `json:"direction"` // incoming | outgoing
	// Outcome is answered; for an unanswered incoming call rejected (the
	// agent, the device policy or call waiting refused it) or missed (the
	// caller gave up, or nobody answered in time); for an unanswered
	// outgoing call failed.
	Outcome string `json:"outcome"`
	Count   uint64 `json:"count"`
}

// Call outcomes, in the order CallOutcomes lists them.
var callOutcomes = []string{"answered", "rejected", "missed", "failed"}

// outcomeTally counts ended calls by direction and outcome.
type outcomeTally struct {
	mu sync.Mutex
	n  map[[2]string]uint64
}

// count adds one ended call.
func (t *outcomeTally) count(ci CallInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[[2]string]uint64{}
	}
	t.n[[2]string{ci.Direction, outcomeOf(ci)}]++
}

// outcomeOf classifies an ended call.
func outcomeOf(ci CallInfo) string {
	switch {
	case !ci.Answered.IsZero():
		return "answered"
	case ci.Direction == "outgoing":
		return "failed"
	case strings.Contains(strings.ToLower(ci.Reason), "reject"):
		return "rejected"
	default:
		return "missed"
	}
}

// CallOutcomes counts the calls ended since the start, every direction
// and outcome listed (0 when none).
func (p *Phone) CallOutcomes() []CallOutcome {
	p.outcomes.mu.Lock()
	defer p.outcomes.mu.Unlock()
	var out []CallOutcome
	for _, d := range []string{"incoming", "outgoing"} {
		for _, o := range callOutcomes {
			out = append(out, CallOutcome{Direction: d, Outcome: o, Count: p.outcomes.n[[2]string{d, o}]})
		}
	}
	return out
}
