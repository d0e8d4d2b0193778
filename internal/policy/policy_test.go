package policy

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Devices shaped like PulseAudio's, in the order malgo lists them.
var (
	builtinMic = Device{Name: "Built-in Microphone", ID: "alsa_input.pci-0000_00_1f.3.analog-stereo", Default: true, Card: "pci-0000_00_1f.3"}
	builtinSpk = Device{Name: "Built-in Speakers", ID: "alsa_output.pci-0000_00_1f.3.analog-stereo", Default: true, Card: "pci-0000_00_1f.3"}
	jabraMic   = Device{Name: "Jabra Evolve2 65 Mic", ID: "alsa_input.usb-GN_Jabra_Evolve2_65-00.mono-fallback", Card: "usb-GN_Jabra"}
	jabraSpk   = Device{Name: "Jabra Evolve2 65", ID: "alsa_output.usb-GN_Jabra_Evolve2_65-00.analog-stereo", Card: "usb-GN_Jabra"}
	plantMic   = Device{Name: "Plantronics Blackwire 3220 Mic", ID: "alsa_input.usb-Plantronics_Blackwire_3220-00.analog-stereo", Card: "usb-Plantronics"}
	plantSpk   = Device{Name: "Plantronics Blackwire 3220", ID: "alsa_output.usb-Plantronics_Blackwire_3220-00.analog-stereo", Card: "usb-Plantronics"}
	monitorSrc = Device{Name: "Monitor of Built-in Speakers", ID: "alsa_output.pci-0000_00_1f.3.analog-stereo.monitor", Monitor: true}
)

func configured(d Device) *Selection { return &Selection{Device: d} }
func fellBack(d Device) *Selection   { return &Selection{Device: d, Fallback: true} }

func selString(s *Selection) string {
	if s == nil {
		return "none"
	}
	return fmt.Sprintf("%q fallback=%v", s.Device.Name, s.Fallback)
}

func checkReason(t *testing.T, reason string, want, notWant []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(reason, w) {
			t.Errorf("reason %q\n  does not contain %q", reason, w)
		}
	}
	for _, w := range notWant {
		if strings.Contains(reason, w) {
			t.Errorf("reason %q\n  contains %q", reason, w)
		}
	}
}

func newPolicy(t testing.TB, s Settings) *Policy {
	t.Helper()
	p, warnings := New(s)
	if len(warnings) != 0 {
		t.Fatalf("New warnings = %q, want none", warnings)
	}
	return p
}

// TestCombinations covers every cell of the seed's "Combinations of
// settings" table.
func TestCombinations(t *testing.T) {
	withHeadset := Snapshot{
		Capture:  []Device{builtinMic, jabraMic, monitorSrc},
		Playback: []Device{builtinSpk, jabraSpk},
	}
	noHeadset := Snapshot{
		Capture:  []Device{builtinMic, monitorSrc},
		Playback: []Device{builtinSpk},
	}
	snap := func(mic, spk bool) Snapshot {
		s := Snapshot{Capture: []Device{monitorSrc}} // a monitor is not a microphone
		if mic {
			s.Capture = append(s.Capture, builtinMic)
		}
		if spk {
			s.Playback = []Device{builtinSpk}
		}
		return s
	}
	tests := []struct {
		name       string
		useHeadset bool
		auto       bool
		reject     bool
		snap       Snapshot
		wantIn     *Selection
		wantOut    *Selection
		wantHS     bool
		wantAnswer Answer
		wantBlock  bool
		wantCode   int
		wantOut2   bool // OutgoingAllowed
		wantReason []string
	}{
		// use_headset=1, headset available: auto_answer decides; reject is not used.
		{"uh1/headset/auto1/reject1", true, true, true, withHeadset, configured(jabraMic), configured(jabraSpk), true, AnswerTrue, false, 0, true,
			[]string{"a call now is answered automatically", `headset_name entry "jabra" matches`}},
		{"uh1/headset/auto1/reject0", true, true, false, withHeadset, configured(jabraMic), configured(jabraSpk), true, AnswerTrue, false, 0, true,
			[]string{"answered automatically", "input Jabra Evolve2 65 Mic (headset_name entry \"jabra\")"}},
		{"uh1/headset/auto0/reject1", true, false, true, withHeadset, configured(jabraMic), configured(jabraSpk), true, AnswerUnknown, false, 0, true,
			[]string{"rings for a manual answer: auto_answer=0"}},
		{"uh1/headset/auto0/reject0", true, false, false, withHeadset, configured(jabraMic), configured(jabraSpk), true, AnswerUnknown, false, 0, true,
			[]string{"rings for a manual answer: auto_answer=0", "output Jabra Evolve2 65 (headset_name entry \"jabra\")"}},
		// use_headset=1, no headset: reject decides; auto_answer is not used.
		{"uh1/none/auto1/reject1", true, true, true, noHeadset, fellBack(builtinMic), fellBack(builtinSpk), false, AnswerFalse, true, 486, false,
			[]string{"a call now is rejected with 486: use_headset=1 and no headset_name entry matches a present device", "outgoing calls are blocked",
				"present: Built-in Microphone, Built-in Speakers"}},
		{"uh1/none/auto0/reject1", true, false, true, noHeadset, fellBack(builtinMic), fellBack(builtinSpk), false, AnswerFalse, true, 486, false,
			[]string{"rejected with 486", "input Built-in Microphone (fallback, system default: no headset)"}},
		{"uh1/none/auto1/reject0", true, true, false, noHeadset, fellBack(builtinMic), fellBack(builtinSpk), false, AnswerUnknown, true, 0, true,
			[]string{"rings for a manual answer: auto-answer is blocked: use_headset=1 and no headset_name entry matches a present device (reject_session_when_headset_na=0)",
				"present: Built-in Microphone, Built-in Speakers"}},
		{"uh1/none/auto0/reject0", true, false, false, noHeadset, fellBack(builtinMic), fellBack(builtinSpk), false, AnswerUnknown, true, 0, true,
			[]string{"auto-answer is blocked", "output Built-in Speakers (fallback, system default: no headset)"}},
		// use_headset=0: microphone and speaker present or not; reject is never used.
		{"uh0/mic/spk/auto1/reject1", false, true, true, snap(true, true), fellBack(builtinMic), fellBack(builtinSpk), false, AnswerTrue, false, 0, true,
			[]string{"answered automatically: auto_answer=1 and a microphone and a speaker are present"}},
		{"uh0/mic/spk/auto1/reject0", false, true, false, snap(true, true), fellBack(builtinMic), fellBack(builtinSpk), false, AnswerTrue, false, 0, true,
			[]string{"answered automatically", "fallback, system default: audio_in_device is empty"}},
		{"uh0/mic/spk/auto0/reject1", false, false, true, snap(true, true), fellBack(builtinMic), fellBack(builtinSpk), false, AnswerUnknown, false, 0, true,
			[]string{"rings for a manual answer: auto_answer=0"}},
		{"uh0/mic/spk/auto0/reject0", false, false, false, snap(true, true), fellBack(builtinMic), fellBack(builtinSpk), false, AnswerUnknown, false, 0, true,
			[]string{"auto_answer=0"}},
		{"uh0/mic/nospk/auto1/reject1", false, true, true, snap(true, false), fellBack(builtinMic), nil, false, AnswerUnknown, true, 0, true,
			[]string{"auto-answer is blocked: no usable speaker", "output none", "present: Built-in Microphone"}},
		{"uh0/mic/nospk/auto1/reject0", false, true, false, snap(true, false), fellBack(builtinMic), nil, false, AnswerUnknown, true, 0, true,
			[]string{"no usable speaker"}},
		{"uh0/mic/nospk/auto0/reject1", false, false, true, snap(true, false), fellBack(builtinMic), nil, false, AnswerUnknown, true, 0, true,
			[]string{"no usable speaker"}},
		{"uh0/mic/nospk/auto0/reject0", false, false, false, snap(true, false), fellBack(builtinMic), nil, false, AnswerUnknown, true, 0, true,
			[]string{"no usable speaker"}},
		{"uh0/nomic/spk/auto1/reject1", false, true, true, snap(false, true), nil, fellBack(builtinSpk), false, AnswerUnknown, true, 0, true,
			[]string{"auto-answer is blocked: no usable microphone;", "input none", "present: Built-in Speakers"}},
		{"uh0/nomic/spk/auto1/reject0", false, true, false, snap(false, true), nil, fellBack(builtinSpk), false, AnswerUnknown, true, 0, true,
			[]string{"no usable microphone;"}},
		{"uh0/nomic/spk/auto0/reject1", false, false, true, snap(false, true), nil, fellBack(builtinSpk), false, AnswerUnknown, true, 0, true,
			[]string{"no usable microphone;"}},
		{"uh0/nomic/spk/auto0/reject0", false, false, false, snap(false, true), nil, fellBack(builtinSpk), false, AnswerUnknown, true, 0, true,
			[]string{"no usable microphone;"}},
		{"uh0/nomic/nospk/auto1/reject1", false, true, true, snap(false, false), nil, nil, false, AnswerUnknown, true, 0, true,
			[]string{"no usable microphone or speaker", "present: none"}},
		{"uh0/nomic/nospk/auto1/reject0", false, true, false, snap(false, false), nil, nil, false, AnswerUnknown, true, 0, true,
			[]string{"no usable microphone or speaker"}},
		{"uh0/nomic/nospk/auto0/reject1", false, false, true, snap(false, false), nil, nil, false, AnswerUnknown, true, 0, true,
			[]string{"no usable microphone or speaker"}},
		{"uh0/nomic/nospk/auto0/reject0", false, false, false, snap(false, false), nil, nil, false, AnswerUnknown, true, 0, true,
			[]string{"no usable microphone or speaker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Settings{
				UseHeadset:                 tt.useHeadset,
				AutoAnswer:                 tt.auto,
				RejectSessionWhenHeadsetNA: tt.reject,
				SIPCodeWhenHeadsetNA:       486,
			}
			if tt.useHeadset {
				s.HeadsetName = []string{"jabra"}
			}
			d := newPolicy(t, s).Evaluate(tt.snap)
			if !equalSelection(d.Input, tt.wantIn) {
				t.Errorf("Input = %s, want %s", selString(d.Input), selString(tt.wantIn))
			}
			if !equalSelection(d.Output, tt.wantOut) {
				t.Errorf("Output = %s, want %s", selString(d.Output), selString(tt.wantOut))
			}
			if d.HeadsetAvailable != tt.wantHS {
				t.Errorf("HeadsetAvailable = %v, want %v", d.HeadsetAvailable, tt.wantHS)
			}
			if d.ShouldAnswer != tt.wantAnswer {
				t.Errorf("ShouldAnswer = %v, want %v", d.ShouldAnswer, tt.wantAnswer)
			}
			if d.AutoAnswerBlocked != tt.wantBlock {
				t.Errorf("AutoAnswerBlocked = %v, want %v", d.AutoAnswerBlocked, tt.wantBlock)
			}
			if d.RejectCode != tt.wantCode {
				t.Errorf("RejectCode = %d, want %d", d.RejectCode, tt.wantCode)
			}
			if d.OutgoingAllowed != tt.wantOut2 {
				t.Errorf("OutgoingAllowed = %v, want %v", d.OutgoingAllowed, tt.wantOut2)
			}
			checkReason(t, d.Reason, tt.wantReason, nil)
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name         string
		entry        string
		dev          Device
		allowMonitor bool
		want         bool
	}{
		{"equal name", "Jabra Evolve2 65", jabraSpk, false, true},
		{"equal name other case", "JABRA EVOLVE2 65", jabraSpk, false, true},
		{"contained in name", "evolve2", jabraSpk, false, true},
		{"contained in id", "usb-gn_jabra", jabraSpk, false, true},
		{"equal id", "alsa_output.usb-GN_Jabra_Evolve2_65-00.analog-stereo", jabraSpk, false, true},
		{"not contained", "Plantronics", jabraSpk, false, false},
		{"regex anywhere in name", `evolve\d+`, jabraSpk, false, true},
		{"regex case-insensitive", `^JABRA.*65$`, jabraSpk, false, true},
		{"regex anchored mismatch", `^Evolve`, jabraSpk, false, false},
		{"regex alternation", "plantronics|jabra", jabraSpk, false, true},
		{"regex not tried on id", `^alsa_output\.usb`, Device{Name: "Headset", ID: "alsa_output.usb-x"}, false, false},
		{"proper name with metacharacters", "Headset (USB)", Device{Name: "Headset (USB)", ID: "x"}, false, true},
		{"proper name with metacharacters contained", "headset (usb)", Device{Name: "Logitech Headset (USB) Mono", ID: "x"}, false, true},
		{"metacharacters also match as regex", "Headset (USB)", Device{Name: "Headset USB", ID: "x"}, false, true},
		{"invalid regex matched as name", "[abc", Device{Name: "Model [abc] 2", ID: "x"}, false, true},
		{"invalid regex no name match", "[abc", Device{Name: "abc", ID: "x"}, false, false},
		{"monitor equal name", "monitor of built-in speakers", monitorSrc, true, true},
		{"monitor equal id", "ALSA_OUTPUT.pci-0000_00_1f.3.analog-stereo.monitor", monitorSrc, true, true},
		{"monitor contained only", "Monitor of", monitorSrc, true, false},
		{"monitor regex only", "^Monitor of Built-in Speakers$", monitorSrc, true, false},
		{"monitor equal but not allowed", "Monitor of Built-in Speakers", monitorSrc, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, _ := compileEntries(keyAudioInDevice, []string{tt.entry})
			if len(ms) != 1 {
				t.Fatalf("compileEntries gave %d matchers, want 1", len(ms))
			}
			devs := prepare([]Device{tt.dev})
			if got := ms[0].match(&devs[0], tt.allowMonitor); got != tt.want {
				t.Errorf("match(%q, %q) = %v, want %v", tt.entry, tt.dev.Name, got, tt.want)
			}
		})
	}
}

func TestNewWarnings(t *testing.T) {
	tests := []struct {
		name     string
		s        Settings
		want     []string
		wantKept [3]int // matchers kept for headset_name, audio_in_device, audio_out_device
	}{
		{"none", Settings{HeadsetName: []string{"Jabra", "Headset (USB)"}, AudioInDevice: []string{`mic\d`}}, nil, [3]int{2, 1, 0}},
		{"invalid regex", Settings{HeadsetName: []string{"[abc"}},
			[]string{`headset_name entry "[abc" is not a valid regular expression: matched as a name only`}, [3]int{1, 0, 0}},
		{"empty entries", Settings{AudioInDevice: []string{"", "Mic"}, AudioOutDevice: []string{"  "}},
			[]string{"audio_in_device entry 1 is empty: ignored", "audio_out_device entry 1 is empty: ignored"}, [3]int{0, 1, 0}},
		{"each list named", Settings{HeadsetName: []string{"a("}, AudioInDevice: []string{"b["}, AudioOutDevice: []string{"*c"}},
			[]string{
				`headset_name entry "a(" is not a valid regular expression: matched as a name only`,
				`audio_in_device entry "b[" is not a valid regular expression: matched as a name only`,
				`audio_out_device entry "*c" is not a valid regular expression: matched as a name only`,
			}, [3]int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, got := New(tt.s)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("warnings = %q, want %q", got, tt.want)
			}
			kept := [3]int{len(p.headset), len(p.audioIn), len(p.audioOut)}
			if kept != tt.wantKept {
				t.Errorf("kept matchers = %v, want %v", kept, tt.wantKept)
			}
		})
	}
}

// TestSelection covers matching kinds, priority order, headset pairing,
// monitors and the fallback order.
func TestSelection(t *testing.T) {
	usbHeadsetMic := Device{Name: "Headset (USB) Mic", ID: "in-usb", Card: "usb-1"}
	usbHeadsetSpk := Device{Name: "Headset (USB)", ID: "out-usb", Card: "usb-1"}
	tests := []struct {
		name       string
		s          Settings
		snap       Snapshot
		wantIn     *Selection
		wantOut    *Selection
		wantHS     bool
		wantReason []string
		notReason  []string
	}{
		{
			name:   "headset by regex",
			s:      Settings{UseHeadset: true, HeadsetName: []string{`blackwire\s+32\d\d`}},
			snap:   Snapshot{Capture: []Device{builtinMic, plantMic}, Playback: []Device{builtinSpk, plantSpk}},
			wantIn: configured(plantMic), wantOut: configured(plantSpk), wantHS: true,
			wantReason: []string{`headset_name entry "blackwire\\s+32\\d\\d"`},
			notReason:  []string{"present:"},
		},
		{
			name:   "headset by contained id",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"usb-gn_jabra"}},
			snap:   Snapshot{Capture: []Device{builtinMic, jabraMic}, Playback: []Device{builtinSpk, jabraSpk}},
			wantIn: configured(jabraMic), wantOut: configured(jabraSpk), wantHS: true,
		},
		{
			name:   "headset by literal name with metacharacters",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Headset (USB)"}},
			snap:   Snapshot{Capture: []Device{builtinMic, usbHeadsetMic}, Playback: []Device{builtinSpk, usbHeadsetSpk}},
			wantIn: configured(usbHeadsetMic), wantOut: configured(usbHeadsetSpk), wantHS: true,
		},
		{
			name:   "headset by invalid regex as name",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Model [X"}},
			snap:   Snapshot{Capture: []Device{builtinMic, {Name: "Model [X Mic", ID: "i"}}, Playback: []Device{{Name: "Model [X", ID: "o"}}},
			wantIn: configured(Device{Name: "Model [X Mic", ID: "i"}), wantOut: configured(Device{Name: "Model [X", ID: "o"}), wantHS: true,
		},
		{
			name:   "priority: only second entry present",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Plantronics", "Jabra"}},
			snap:   Snapshot{Capture: []Device{builtinMic, jabraMic}, Playback: []Device{builtinSpk, jabraSpk}},
			wantIn: configured(jabraMic), wantOut: configured(jabraSpk), wantHS: true,
			wantReason: []string{`(headset_name entry "Jabra")`},
		},
		{
			name:   "priority: both present, first entry wins over backend order",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Plantronics", "Jabra"}},
			snap:   Snapshot{Capture: []Device{jabraMic, plantMic}, Playback: []Device{jabraSpk, plantSpk}},
			wantIn: configured(plantMic), wantOut: configured(plantSpk), wantHS: true,
			wantReason: []string{`(headset_name entry "Plantronics")`},
		},
		{
			name:   "headset whose microphone is absent is not available",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}},
			snap:   Snapshot{Capture: []Device{builtinMic}, Playback: []Device{builtinSpk, jabraSpk}},
			wantIn: fellBack(builtinMic), wantOut: fellBack(builtinSpk), wantHS: false,
			wantReason: []string{`no headset_name entry matches both a present microphone and a present speaker ("Jabra" matches no microphone)`,
				"present: Built-in Microphone, Built-in Speakers, Jabra Evolve2 65"},
		},
		{
			name:   "headset whose speaker is absent is not available",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}},
			snap:   Snapshot{Capture: []Device{builtinMic, jabraMic}, Playback: []Device{builtinSpk}},
			wantIn: fellBack(builtinMic), wantOut: fellBack(builtinSpk), wantHS: false,
			wantReason: []string{`("Jabra" matches no speaker)`},
		},
		{
			name:   "a lower entry matching both beats a higher one matching one side",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Jabra", "Plantronics"}},
			snap:   Snapshot{Capture: []Device{plantMic}, Playback: []Device{jabraSpk, plantSpk}},
			wantIn: configured(plantMic), wantOut: configured(plantSpk), wantHS: true,
		},
		{
			name: "same-card pair preferred over backend order",
			s:    Settings{UseHeadset: true, HeadsetName: []string{"headset"}},
			snap: Snapshot{
				Capture:  []Device{{Name: "USB Headset Mic", ID: "in-a", Card: "card-a"}, {Name: "USB Headset Mic", ID: "in-b", Card: "card-b"}},
				Playback: []Device{{Name: "USB Headset", ID: "out-b", Card: "card-b"}, {Name: "USB Headset", ID: "out-c", Card: "card-c"}},
			},
			wantIn:  configured(Device{Name: "USB Headset Mic", ID: "in-b", Card: "card-b"}),
			wantOut: configured(Device{Name: "USB Headset", ID: "out-b", Card: "card-b"}), wantHS: true,
		},
		{
			name: "no same card: backend order",
			s:    Settings{UseHeadset: true, HeadsetName: []string{"headset"}},
			snap: Snapshot{
				Capture:  []Device{{Name: "USB Headset Mic", ID: "in-a", Card: "card-a"}, {Name: "BT Headset Mic", ID: "in-b"}},
				Playback: []Device{{Name: "BT Headset", ID: "out-b"}, {Name: "USB Headset", ID: "out-c", Card: "card-c"}},
			},
			wantIn:  configured(Device{Name: "USB Headset Mic", ID: "in-a", Card: "card-a"}),
			wantOut: configured(Device{Name: "BT Headset", ID: "out-b"}), wantHS: true,
		},
		{
			name: "empty cards are not the same card",
			s:    Settings{UseHeadset: true, HeadsetName: []string{"headset"}},
			snap: Snapshot{
				Capture:  []Device{{Name: "Headset Mic A", ID: "in-a", Card: "card-a"}, {Name: "Headset Mic B", ID: "in-b"}},
				Playback: []Device{{Name: "Headset A2", ID: "out-a2", Card: "card-x"}, {Name: "Headset B", ID: "out-b"}},
			},
			wantIn:  configured(Device{Name: "Headset Mic A", ID: "in-a", Card: "card-a"}),
			wantOut: configured(Device{Name: "Headset A2", ID: "out-a2", Card: "card-x"}), wantHS: true,
		},
		{
			name:   "monitor is never a headset",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Built-in Speakers"}},
			snap:   Snapshot{Capture: []Device{monitorSrc}, Playback: []Device{builtinSpk}},
			wantIn: nil, wantOut: fellBack(builtinSpk), wantHS: false,
			wantReason: []string{"input none", `("Built-in Speakers" matches no microphone)`, "present: Built-in Speakers"},
			notReason:  []string{"Monitor of"},
		},
		{
			name:   "monitor is never a fallback, even as system default",
			s:      Settings{},
			snap:   Snapshot{Capture: []Device{{Name: "Monitor of Null", ID: "null.monitor", Monitor: true, Default: true}, {Name: "USB Mic", ID: "usb-mic"}}, Playback: []Device{builtinSpk}},
			wantIn: fellBack(Device{Name: "USB Mic", ID: "usb-mic"}), wantOut: fellBack(builtinSpk),
			wantReason: []string{"input USB Mic (fallback: audio_in_device is empty)"},
		},
		{
			name:   "monitor selected by exact audio_in_device name",
			s:      Settings{AudioInDevice: []string{"monitor of built-in speakers"}},
			snap:   Snapshot{Capture: []Device{builtinMic, monitorSrc}, Playback: []Device{builtinSpk}},
			wantIn: configured(monitorSrc), wantOut: fellBack(builtinSpk),
			wantReason: []string{`input Monitor of Built-in Speakers (monitor) (audio_in_device entry "monitor of built-in speakers")`},
		},
		{
			name:   "monitor selected by exact audio_in_device id",
			s:      Settings{AudioInDevice: []string{monitorSrc.ID}},
			snap:   Snapshot{Capture: []Device{monitorSrc}, Playback: []Device{builtinSpk}},
			wantIn: configured(monitorSrc), wantOut: fellBack(builtinSpk),
		},
		{
			name:   "monitor not selected by a contained audio_in_device entry",
			s:      Settings{AudioInDevice: []string{"Monitor"}},
			snap:   Snapshot{Capture: []Device{monitorSrc, builtinMic}, Playback: []Device{builtinSpk}},
			wantIn: fellBack(builtinMic), wantOut: fellBack(builtinSpk),
			wantReason: []string{"(fallback, system default: no audio_in_device entry matches)", "present: Built-in Microphone, Built-in Speakers"},
			notReason:  []string{"Monitor of"},
		},
		{
			name:   "monitor not selected by headset_name equal to its name",
			s:      Settings{HeadsetName: []string{"Monitor of Built-in Speakers"}, UseHeadset: true},
			snap:   Snapshot{Capture: []Device{monitorSrc, builtinMic}, Playback: []Device{builtinSpk}},
			wantIn: fellBack(builtinMic), wantOut: fellBack(builtinSpk),
		},
		{
			name:   "default first in fallback",
			s:      Settings{AudioInDevice: []string{"nothing"}, AudioOutDevice: []string{"nothing"}},
			snap:   Snapshot{Capture: []Device{jabraMic, plantMic, builtinMic}, Playback: []Device{jabraSpk, builtinSpk}},
			wantIn: fellBack(builtinMic), wantOut: fellBack(builtinSpk),
			wantReason: []string{"no audio_out_device entry matches", "present: Jabra Evolve2 65 Mic, Plantronics Blackwire 3220 Mic, Built-in Microphone, Jabra Evolve2 65, Built-in Speakers"},
		},
		{
			name:   "no default: backend order",
			s:      Settings{},
			snap:   Snapshot{Capture: []Device{jabraMic, plantMic}, Playback: []Device{plantSpk, jabraSpk}},
			wantIn: fellBack(jabraMic), wantOut: fellBack(plantSpk),
			notReason: []string{"system default"},
		},
		{
			name:   "use_headset=0: in and out chosen separately",
			s:      Settings{AudioInDevice: []string{"Plantronics", "Jabra"}, AudioOutDevice: []string{"Jabra"}, HeadsetName: []string{"Jabra"}},
			snap:   Snapshot{Capture: []Device{builtinMic, jabraMic, plantMic}, Playback: []Device{builtinSpk, jabraSpk}},
			wantIn: configured(plantMic), wantOut: configured(jabraSpk), wantHS: true,
			wantReason: []string{`input Plantronics Blackwire 3220 Mic (audio_in_device entry "Plantronics")`, `output Jabra Evolve2 65 (audio_out_device entry "Jabra")`},
			notReason:  []string{"present:"},
		},
		{
			name:   "use_headset=0: second entry when first absent",
			s:      Settings{AudioInDevice: []string{"Plantronics", "Jabra"}},
			snap:   Snapshot{Capture: []Device{builtinMic, jabraMic}, Playback: []Device{builtinSpk}},
			wantIn: configured(jabraMic), wantOut: fellBack(builtinSpk),
		},
		{
			name:   "use_headset=1 ignores audio_in_device",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Plantronics"}, AudioInDevice: []string{"Jabra"}, AudioOutDevice: []string{"Jabra"}},
			snap:   Snapshot{Capture: []Device{builtinMic, jabraMic}, Playback: []Device{builtinSpk, jabraSpk}},
			wantIn: fellBack(builtinMic), wantOut: fellBack(builtinSpk),
		},
		{
			name:   "empty headset list",
			s:      Settings{UseHeadset: true},
			snap:   Snapshot{Capture: []Device{builtinMic}, Playback: []Device{builtinSpk}},
			wantIn: fellBack(builtinMic), wantOut: fellBack(builtinSpk),
			wantReason: []string{"use_headset=1 and headset_name is empty"},
		},
		{
			name:   "empty device lists",
			s:      Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}},
			snap:   Snapshot{},
			wantIn: nil, wantOut: nil,
			wantReason: []string{"no headset_name entry matches a present device", "input none, output none", "present: none"},
		},
		{
			name:   "device without a name is shown by id",
			s:      Settings{},
			snap:   Snapshot{Capture: []Device{{ID: "hw:1,0"}}},
			wantIn: fellBack(Device{ID: "hw:1,0"}), wantOut: nil,
			wantReason: []string{"input hw:1,0 (fallback", "present: hw:1,0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := New(tt.s)
			d := p.Evaluate(tt.snap)
			if !equalSelection(d.Input, tt.wantIn) {
				t.Errorf("Input = %s, want %s", selString(d.Input), selString(tt.wantIn))
			}
			if !equalSelection(d.Output, tt.wantOut) {
				t.Errorf("Output = %s, want %s", selString(d.Output), selString(tt.wantOut))
			}
			if d.HeadsetAvailable != tt.wantHS {
				t.Errorf("HeadsetAvailable = %v, want %v", d.HeadsetAvailable, tt.wantHS)
			}
			checkReason(t, d.Reason, tt.wantReason, tt.notReason)
		})
	}
}

// TestUseHeadset0HeadsetIsInformational checks that a headset found while
// use_headset=0 changes neither selection nor verdict.
func TestUseHeadset0HeadsetIsInformational(t *testing.T) {
	snap := Snapshot{Capture: []Device{jabraMic}, Playback: []Device{builtinSpk}}
	base := Settings{AutoAnswer: true, RejectSessionWhenHeadsetNA: true, AudioOutDevice: []string{"Built-in"}}
	with := base
	with.HeadsetName = []string{"Jabra"}
	d0 := newPolicy(t, base).Evaluate(snap)
	d1 := newPolicy(t, with).Evaluate(snap)
	if d0.HeadsetAvailable || d1.HeadsetAvailable {
		t.Fatalf("HeadsetAvailable = %v, %v, want false (no Jabra speaker)", d0.HeadsetAvailable, d1.HeadsetAvailable)
	}
	snap.Playback = append(snap.Playback, jabraSpk)
	d2 := newPolicy(t, with).Evaluate(snap)
	if !d2.HeadsetAvailable {
		t.Errorf("HeadsetAvailable = false, want true")
	}
	if d2.Output == nil || d2.Output.Device != builtinSpk {
		t.Errorf("Output = %s, want the audio_out_device match", selString(d2.Output))
	}
	if d2.ShouldAnswer != AnswerTrue || d2.RejectCode != 0 || !d2.OutgoingAllowed {
		t.Errorf("verdict = %v/%d/%v, want true/0/true", d2.ShouldAnswer, d2.RejectCode, d2.OutgoingAllowed)
	}
}

func TestRejectCode(t *testing.T) {
	tests := []struct {
		configured int
		want       int
		wantOK     bool
	}{
		{0, 480, false},
		{-1, 480, false},
		{-486, 480, false},
		{200, 480, false},
		{399, 480, false},
		{400, 400, true},
		{480, 480, true},
		{486, 486, true},
		{603, 603, true},
		{699, 699, true},
		{700, 480, false},
		{100000, 480, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.configured), func(t *testing.T) {
			got, ok := RejectCode(tt.configured)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RejectCode(%d) = %d, %v, want %d, %v", tt.configured, got, ok, tt.want, tt.wantOK)
			}
			p := newPolicy(t, Settings{UseHeadset: true, RejectSessionWhenHeadsetNA: true, SIPCodeWhenHeadsetNA: tt.configured})
			d := p.Evaluate(Snapshot{Capture: []Device{builtinMic}, Playback: []Device{builtinSpk}})
			if d.RejectCode != tt.want || d.ShouldAnswer != AnswerFalse || d.OutgoingAllowed {
				t.Errorf("decision = %d/%v/%v, want %d/false/false", d.RejectCode, d.ShouldAnswer, d.OutgoingAllowed, tt.want)
			}
			checkReason(t, d.Reason, []string{fmt.Sprintf("rejected with %d:", tt.want)}, nil)
		})
	}
}

func TestFallbackDoesNotChangeRejection(t *testing.T) {
	p := newPolicy(t, Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}, RejectSessionWhenHeadsetNA: true, AutoAnswer: true})
	for _, snap := range []Snapshot{
		{},
		{Capture: []Device{builtinMic}, Playback: []Device{builtinSpk}},
	} {
		d := p.Evaluate(snap)
		if d.ShouldAnswer != AnswerFalse || d.RejectCode != 480 || !d.AutoAnswerBlocked || d.OutgoingAllowed {
			t.Errorf("snapshot %+v: decision %s, want rejection with 480", snap, d.Summary())
		}
	}
}

func TestEqual(t *testing.T) {
	p := newPolicy(t, Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}, AutoAnswer: true})
	base := Snapshot{Capture: []Device{builtinMic, jabraMic}, Playback: []Device{builtinSpk, jabraSpk}}
	d := p.Evaluate(base)
	tests := []struct {
		name string
		snap Snapshot
		want bool
	}{
		{"same snapshot", base, true},
		{"unrelated device added", Snapshot{Capture: append([]Device{plantMic}, base.Capture...), Playback: base.Playback}, true},
		{"headset removed", Snapshot{Capture: []Device{builtinMic}, Playback: []Device{builtinSpk}}, false},
		{"nothing present", Snapshot{}, false},
		{"headset card changed", Snapshot{Capture: []Device{builtinMic, {Name: jabraMic.Name, ID: jabraMic.ID}}, Playback: base.Playback}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := p.Evaluate(tt.snap)
			if got := d.Equal(o); got != tt.want {
				t.Errorf("Equal = %v, want %v\n  a: %s\n  b: %s", got, tt.want, d.Summary(), o.Summary())
			}
			if got := o.Equal(d); got != tt.want {
				t.Errorf("Equal (reversed) = %v, want %v", got, tt.want)
			}
		})
	}
	if (Decision{}).Equal(Decision{Input: &Selection{}}) {
		t.Errorf("nil and non-nil Input compare equal")
	}
	if !(Decision{Reason: "a"}).Equal(Decision{Reason: "b"}) {
		t.Errorf("Equal compares Reason")
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		snap Snapshot
		want string
	}{
		{"headset", Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}, AutoAnswer: true},
			Snapshot{Capture: []Device{jabraMic}, Playback: []Device{jabraSpk}},
			"input=Jabra Evolve2 65 Mic output=Jabra Evolve2 65 headset=yes should_answer=true"},
		{"rejecting", Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}, RejectSessionWhenHeadsetNA: true, SIPCodeWhenHeadsetNA: 486},
			Snapshot{Capture: []Device{builtinMic}},
			"input=Built-in Microphone (fallback) output=none headset=no should_answer=false reject_code=486 outgoing=blocked"},
		{"blocked", Settings{AutoAnswer: true}, Snapshot{Playback: []Device{builtinSpk}},
			"input=none output=Built-in Speakers (fallback) headset=no should_answer=unknown auto_answer=blocked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newPolicy(t, tt.s).Evaluate(tt.snap).Summary(); got != tt.want {
				t.Errorf("Summary = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSettingsIsACopy(t *testing.T) {
	in := Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}, AudioInDevice: []string{"a"}, AudioOutDevice: []string{"b"}, SIPCodeWhenHeadsetNA: 486}
	p := newPolicy(t, in)
	in.HeadsetName[0] = "changed by caller"
	got := p.Settings()
	if got.HeadsetName[0] != "Jabra" || got.AudioInDevice[0] != "a" || got.AudioOutDevice[0] != "b" || got.SIPCodeWhenHeadsetNA != 486 || !got.UseHeadset {
		t.Fatalf("Settings() = %+v, want the settings given to New", got)
	}
	got.AudioInDevice[0] = "changed by reader"
	if p.Settings().AudioInDevice[0] != "a" {
		t.Errorf("Settings() shares its slices with the policy")
	}
	// The policy's matchers are not affected by the caller's slice either.
	if d := p.Evaluate(Snapshot{Capture: []Device{jabraMic}, Playback: []Device{jabraSpk}}); !d.HeadsetAvailable {
		t.Errorf("HeadsetAvailable = false after the caller changed its slice")
	}
}

// TestEvaluateConcurrent runs Evaluate from several goroutines; run with
// -race to check that it shares no mutable state.
func TestEvaluateConcurrent(t *testing.T) {
	p := newPolicy(t, Settings{UseHeadset: true, HeadsetName: []string{`jabra|plantronics`}, AutoAnswer: true})
	snaps := []Snapshot{
		{Capture: []Device{jabraMic}, Playback: []Device{jabraSpk}},
		{Capture: []Device{builtinMic}, Playback: []Device{builtinSpk}},
	}
	want := []Decision{p.Evaluate(snaps[0]), p.Evaluate(snaps[1])}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (g + i) % 2
				if got := p.Evaluate(snaps[k]); !got.Equal(want[k]) || got.Reason != want[k].Reason {
					errs <- fmt.Sprintf("goroutine %d: %s, want %s", g, got.Summary(), want[k].Summary())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p, _ := New(Settings{
		UseHeadset:  true,
		HeadsetName: []string{"Plantronics", `jabra\s+evolve2?\s+\d+`, "Headset (USB)"},
		AutoAnswer:  true,
	})
	snap := Snapshot{
		Capture:  []Device{builtinMic, monitorSrc, plantMic, jabraMic},
		Playback: []Device{builtinSpk, jabraSpk},
	}
	b.ReportAllocs()
	for b.Loop() {
		d := p.Evaluate(snap)
		if !d.HeadsetAvailable {
			b.Fatal("no headset")
		}
	}
}

func TestMatchAll(t *testing.T) {
	devs := []Device{
		{Name: "Monitor of Speakers", ID: "spk.monitor", Monitor: true},
		{Name: "Built-in Speakers", ID: "spk"},
		{Name: "Jabra Evolve2 65", ID: "jabra"},
		{Name: "Plantronics", ID: "plt"},
	}
	tests := []struct {
		entries []string
		want    []int
	}{
		{nil, nil},
		{[]string{"speakers"}, []int{1}},
		{[]string{"plantronics", "^jabra"}, []int{3, 2}},
		{[]string{"e", "jabra"}, []int{1, 2}},
		{[]string{"nothing"}, nil},
		{[]string{"[bad", "Monitor of Speakers"}, nil},
	}
	for _, tt := range tests {
		got := MatchAll(tt.entries, devs)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("MatchAll(%q) = %v, want %v", tt.entries, got, tt.want)
		}
	}
}
