package policy

import (
	"testing"
	"time"
)

// TestAdmit decides one incoming call for every case of the seed's
// combinations (verdicts made by Evaluate from the settings and devices of
// each row), call waiting, the caller's auto-answer request, a call
// replacing ours, and a ringing call decided again (the devices changed,
// the other call ended, the header's delay ran out).
func TestAdmit(t *testing.T) {
	headset := Snapshot{Capture: []Device{builtinMic, jabraMic}, Playback: []Device{builtinSpk, jabraSpk}}
	noHeadset := Snapshot{Capture: []Device{builtinMic}, Playback: []Device{builtinSpk}}
	noMic := Snapshot{Playback: []Device{builtinSpk}}
	hs := func(auto, reject bool, code int) Settings {
		return Settings{UseHeadset: true, HeadsetName: []string{"Jabra"}, AutoAnswer: auto,
			RejectSessionWhenHeadsetNA: reject, SIPCodeWhenHeadsetNA: code}
	}
	plain := func(auto, reject bool) Settings {
		return Settings{AutoAnswer: auto, RejectSessionWhenHeadsetNA: reject, SIPCodeWhenHeadsetNA: 486}
	}
	idle := Calls{CallWaiting: true}
	busy := Calls{Up: 1, CallWaiting: true}
	busyNoWaiting := Calls{Up: 1}
	header := Offer{HeaderAutoAnswer: true}
	headerLater := Offer{HeaderAutoAnswer: true, HeaderDelay: 2 * time.Second}
	ringing := Offer{Ringing: true}

	tests := []struct {
		name     string
		settings Settings
		devices  Snapshot
		calls    Calls
		offer    Offer
		want     Action
		code     int
		auto     bool
		delay    time.Duration
	}{
		// The seed's combinations, use_headset=1.
		{name: "headset present, auto_answer=1: answered automatically", settings: hs(true, false, 486), devices: headset,
			calls: idle, want: ActionAnswer, auto: true},
		{name: "headset present, auto_answer=0: rings", settings: hs(false, false, 486), devices: headset,
			calls: idle, want: ActionRing},
		{name: "headset present, reject=1 changes nothing", settings: hs(true, true, 486), devices: headset,
			calls: idle, want: ActionAnswer, auto: true},
		{name: "no headset, reject=1: the configured code", settings: hs(true, true, 486), devices: noHeadset,
			calls: idle, want: ActionReject, code: 486},
		{name: "no headset, reject=1, code 603", settings: hs(false, true, 603), devices: noHeadset,
			calls: idle, want: ActionReject, code: 603},
		{name: "no headset, reject=1, code out of range: 480", settings: hs(true, true, 700), devices: noHeadset,
			calls: idle, want: ActionReject, code: 480},
		{name: "no headset, reject=0, auto_answer=1: rings (auto-answer blocked)", settings: hs(true, false, 486), devices: noHeadset,
			calls: idle, want: ActionRing},
		{name: "no headset, reject=0, auto_answer=0: rings", settings: hs(false, false, 486), devices: noHeadset,
			calls: idle, want: ActionRing},
		// use_headset=0.
		{name: "use_headset=0, microphone and speaker, auto_answer=1: answered", settings: plain(true, true), devices: noHeadset,
			calls: idle, want: ActionAnswer, auto: true},
		{name: "use_headset=0, microphone and speaker, auto_answer=0: rings", settings: plain(false, true), devices: noHeadset,
			calls: idle, want: ActionRing},
		{name: "use_headset=0, no microphone, auto_answer=1: rings, never rejected", settings: plain(true, true), devices: noMic,
			calls: idle, want: ActionRing},
		{name: "use_headset=0, no devices at all: rings", settings: plain(true, true), devices: Snapshot{},
			calls: idle, want: ActionRing},

		// Call waiting.
		{name: "busy, call_waiting=1, auto_answer=1: waits, not answered over the call", settings: hs(true, false, 486), devices: headset,
			calls: busy, want: ActionWait},
		{name: "busy, call_waiting=1, auto_answer=0: waits", settings: hs(false, false, 486), devices: headset,
			calls: busy, want: ActionWait},
		{name: "busy, call_waiting=0: 486", settings: hs(true, false, 486), devices: headset,
			calls: busyNoWaiting, want: ActionReject, code: 486},
		{name: "busy, verdict false: the verdict's code first", settings: hs(true, true, 603), devices: noHeadset,
			calls: busyNoWaiting, want: ActionReject, code: 603},
		{name: "a ringing outgoing call counts as busy (Up)", settings: plain(true, false), devices: noHeadset,
			calls: Calls{Up: 2, CallWaiting: true}, want: ActionWait},

		// The caller's auto-answer request.
		{name: "header, auto_answer=0, no delay: answered", settings: hs(false, false, 486), devices: headset,
			calls: idle, offer: header, want: ActionAnswer, auto: true},
		{name: "header with a delay: answered after it", settings: hs(false, false, 486), devices: headset,
			calls: idle, offer: headerLater, want: ActionAnswerAfter, auto: true, delay: 2 * time.Second},
		{name: "header, no headset (blocked): rings", settings: hs(false, false, 486), devices: noHeadset,
			calls: idle, offer: header, want: ActionRing},
		{name: "header, no headset, reject=1: rejected", settings: hs(false, true, 486), devices: noHeadset,
			calls: idle, offer: header, want: ActionReject, code: 486},
		{name: "header while busy: waits", settings: hs(false, false, 486), devices: headset,
			calls: busy, offer: header, want: ActionWait},

		// A call replacing ours (RFC 3891).
		{name: "replaces: answered whatever the verdict", settings: hs(true, true, 486), devices: noHeadset,
			calls: busyNoWaiting, offer: Offer{Replacing: true}, want: ActionAnswer},

		// Decided again while it rings.
		{name: "again: headset plugged in (auto_answer=1): answered", settings: hs(true, false, 486), devices: headset,
			calls: idle, offer: ringing, want: ActionAnswer, auto: true},
		{name: "again: headset unplugged (reject=1): rejected", settings: hs(true, true, 486), devices: noHeadset,
			calls: idle, offer: ringing, want: ActionReject, code: 486},
		{name: "again: headset unplugged (reject=0): rings on", settings: hs(true, false, 486), devices: noHeadset,
			calls: idle, offer: ringing, want: ActionRing},
		{name: "again: the other call ended (auto_answer=1): answered with the zip tone", settings: hs(true, false, 486), devices: headset,
			calls: idle, offer: ringing, want: ActionAnswer, auto: true},
		{name: "again: the other call ended (auto_answer=0): rings now", settings: hs(false, false, 486), devices: headset,
			calls: idle, offer: ringing, want: ActionRing},
		{name: "again: still busy, call_waiting=0: waits, not refused", settings: hs(true, false, 486), devices: headset,
			calls: busyNoWaiting, offer: ringing, want: ActionWait},
		{name: "again: the header's delay ran out: answered", settings: hs(false, false, 486), devices: headset,
			calls: idle, offer: Offer{Ringing: true, HeaderAutoAnswer: true}, want: ActionAnswer, auto: true},
		{name: "again: the other call ended, header with time left: answered after it", settings: hs(false, false, 486), devices: headset,
			calls: idle, offer: Offer{Ringing: true, HeaderAutoAnswer: true, HeaderDelay: time.Second}, want: ActionAnswerAfter, auto: true, delay: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newPolicy(t, tc.settings).Evaluate(tc.devices)
			got := Admit(v, tc.calls, tc.offer)
			if got.Action != tc.want || got.Code != tc.code || got.Auto != tc.auto || got.Delay != tc.delay {
				t.Errorf("Admit = %s code %d auto %v delay %s, want %s code %d auto %v delay %s (verdict %s)",
					got.Action, got.Code, got.Auto, got.Delay, tc.want, tc.code, tc.auto, tc.delay, v.Summary())
			}
			if got.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}

func TestActionNames(t *testing.T) {
	for a := ActionAnswer; a <= ActionReject; a++ {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a.String(), got, err)
		}
	}
	if Action(99).String() != "unknown" || ActionUnknown.String() != "unknown" {
		t.Error("an action outside the enum is not unknown")
	}
	if _, err := ParseAction("unknown"); err == nil {
		t.Error("ParseAction(unknown) is no error")
	}
}
