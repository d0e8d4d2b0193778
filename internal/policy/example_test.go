package policy_test

import (
	"encoding/json"
	"fmt"

	"github.com/softphone/softphone/internal/policy"
)

func Example() {
	p, warnings := policy.New(policy.Settings{
		UseHeadset:                 true,
		HeadsetName:                []string{"Plantronics", `jabra evolve2? \d+`},
		AutoAnswer:                 true,
		RejectSessionWhenHeadsetNA: true,
		SIPCodeWhenHeadsetNA:       486,
	})
	fmt.Println("warnings:", len(warnings))

	withHeadset := policy.Snapshot{
		Capture:  []policy.Device{{Name: "Built-in Microphone", ID: "in-0", Default: true}, {Name: "Jabra Evolve2 65 Mic", ID: "in-1"}},
		Playback: []policy.Device{{Name: "Built-in Speakers", ID: "out-0", Default: true}, {Name: "Jabra Evolve2 65", ID: "out-1"}},
	}
	d := p.Evaluate(withHeadset)
	fmt.Println(d.Summary())

	unplugged := policy.Snapshot{Capture: withHeadset.Capture[:1], Playback: withHeadset.Playback[:1]}
	d2 := p.Evaluate(unplugged)
	fmt.Println(d2.Summary())
	fmt.Println(d2.Reason)
	fmt.Println("changed:", !d.Equal(d2))

	b, _ := json.Marshal(policy.NewVerdict(policy.Snapshot{}, policy.Decision{}))
	fmt.Println(string(b))
	// Output:
	// warnings: 0
	// input=Jabra Evolve2 65 Mic output=Jabra Evolve2 65 headset=yes should_answer=true
	// input=Built-in Microphone (fallback) output=Built-in Speakers (fallback) headset=no should_answer=false reject_code=486 outgoing=blocked
	// a call now is rejected with 486: use_headset=1 and no headset_name entry matches a present device (reject_session_when_headset_na=1); outgoing calls are blocked; input Built-in Microphone (fallback, system default: no headset), output Built-in Speakers (fallback, system default: no headset); present: Built-in Microphone, Built-in Speakers
	// changed: true
	// {"capture":[],"playback":[],"input":null,"output":null,"headset_available":false,"auto_answer_blocked":false,"should_answer":"unknown","reject_code":0,"outgoing_allowed":false,"reason":""}
}
