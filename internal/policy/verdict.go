package policy

// Verdict is the stable JSON contract of `softphone devices --json` and of
// the local API: the present devices and the decision for them.
type Verdict struct {
	Capture           []VerdictDevice   `json:"capture"` // never null: [] when empty
	Playback          []VerdictDevice   `json:"playback"`
	Input             *VerdictSelection `json:"input"` // null when none
	Output            *VerdictSelection `json:"output"`
	HeadsetAvailable  bool              `json:"headset_available"`
	AutoAnswerBlocked bool              `json:"auto_answer_blocked"`
	ShouldAnswer      string            `json:"should_answer"` // "true" | "false" | "unknown"
	RejectCode        int               `json:"reject_code"`
	OutgoingAllowed   bool              `json:"outgoing_allowed"`
	Reason            string            `json:"reason"`
}

// VerdictDevice is one present device in a Verdict.
type VerdictDevice struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Default bool   `json:"default"`
	Monitor bool   `json:"monitor,omitempty"`
}

// VerdictSelection is a selected device in a Verdict.
type VerdictSelection struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Fallback bool   `json:"fallback"`
}

// NewVerdict combines a snapshot and the decision made for it.
func NewVerdict(s Snapshot, d Decision) Verdict {
	return Verdict{
		Capture:           verdictDevices(s.Capture),
		Playback:          verdictDevices(s.Playback),
		Input:             verdictSelection(d.Input),
		Output:            verdictSelection(d.Output),
		HeadsetAvailable:  d.HeadsetAvailable,
		AutoAnswerBlocked: d.AutoAnswerBlocked,
		ShouldAnswer:      d.ShouldAnswer.String(),
		RejectCode:        d.RejectCode,
		OutgoingAllowed:   d.OutgoingAllowed,
		Reason:            d.Reason,
	}
}

func verdictDevices(devs []Device) []VerdictDevice {
	out := make([]VerdictDevice, 0, len(devs))
	for _, d := range devs {
		out = append(out, VerdictDevice{Name: d.Name, ID: d.ID, Default: d.Default, Monitor: d.Monitor})
	}
	return out
}

func verdictSelection(s *Selection) *VerdictSelection {
	if s == nil {
		return nil
	}
	return &VerdictSelection{Name: s.Device.Name, ID: s.Device.ID, Fallback: s.Fallback}
}
