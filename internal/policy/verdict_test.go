package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestVerdictJSON(t *testing.T) {
	tests := []struct {
		name     string
		s        Settings
		snap     Snapshot
		want     string // exact JSON, reason left out
		contains []string
	}{
		{
			name: "empty lists are [] and no selection is null",
			s:    Settings{UseHeadset: true, RejectSessionWhenHeadsetNA: true},
			snap: Snapshot{},
			want: `{"capture":[],"playback":[],"input":null,"output":null,"headset_available":false,` +
				`"auto_answer_blocked":true,"should_answer":"false","reject_code":480,"outgoing_allowed":false}`,
		},
		{
			name: "headset with a monitor listed",
			s:    Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}, AutoAnswer: true},
			snap: Snapshot{Capture: []Device{jabraMic, monitorSrc}, Playback: []Device{jabraSpk}},
			want: `{"capture":[` +
				`{"name":"Jabra Evolve2 65 Mic","id":"alsa_input.usb-GN_Jabra_Evolve2_65-00.mono-fallback","default":false},` +
				`{"name":"Monitor of Built-in Speakers","id":"alsa_output.pci-0000_00_1f.3.analog-stereo.monitor","default":false,"monitor":true}],` +
				`"playback":[{"name":"Jabra Evolve2 65","id":"alsa_output.usb-GN_Jabra_Evolve2_65-00.analog-stereo","default":false}],` +
				`"input":{"name":"Jabra Evolve2 65 Mic","id":"alsa_input.usb-GN_Jabra_Evolve2_65-00.mono-fallback","fallback":false},` +
				`"output":{"name":"Jabra Evolve2 65","id":"alsa_output.usb-GN_Jabra_Evolve2_65-00.analog-stereo","fallback":false},` +
				`"headset_available":true,"auto_answer_blocked":false,"should_answer":"true","reject_code":0,"outgoing_allowed":true}`,
		},
		{
			name: "fallback marked",
			s:    Settings{},
			snap: Snapshot{Capture: []Device{builtinMic}, Playback: []Device{builtinSpk}},
			contains: []string{`"input":{"name":"Built-in Microphone","id":"alsa_input.pci-0000_00_1f.3.analog-stereo","fallback":true}`,
				`"should_answer":"unknown"`, `"default":true`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newPolicy(t, tt.s).Evaluate(tt.snap)
			v := NewVerdict(tt.snap, d)
			if v.Reason != d.Reason || v.Reason == "" {
				t.Errorf("Verdict.Reason = %q, want the decision's %q", v.Reason, d.Reason)
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(b, &keys); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			got := slices.Sorted(func(yield func(string) bool) {
				for k := range keys {
					if !yield(k) {
						return
					}
				}
			})
			wantKeys := []string{"auto_answer_blocked", "capture", "headset_available", "input", "outgoing_allowed",
				"output", "playback", "reason", "reject_code", "should_answer"}
			if !slices.Equal(got, wantKeys) {
				t.Errorf("keys = %v, want %v", got, wantKeys)
			}
			v.Reason = ""
			b, err = json.Marshal(v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			s := strings.Replace(string(b), `,"reason":""`, "", 1)
			if tt.want != "" && s != tt.want {
				t.Errorf("JSON =\n  %s\nwant\n  %s", s, tt.want)
			}
			for _, c := range tt.contains {
				if !strings.Contains(s, c) {
					t.Errorf("JSON %s\n  does not contain %s", s, c)
				}
			}
		})
	}
}
