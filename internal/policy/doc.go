// Package policy decides, from the agent's settings and a snapshot of the
// audio devices present, which microphone and speaker the phone uses,
// whether a headset is available, and what happens to a call: answered
// automatically, left ringing for a manual answer, or rejected with a SIP
// code. It is pure: no I/O, no goroutines, no package state, and it imports
// none of the product's other packages.
//
// The rules are those of the Genesys Softphone "Audio device settings"
// page, applied as ordered checks:
//
//	Settings ──New──▶ Policy (matchers compiled once, warnings returned)
//	                    │
//	Snapshot ──Evaluate─┴─▶ Decision ──NewVerdict──▶ Verdict (JSON contract)
//
//	1. select  : headset_name (use_headset=1) or audio_in_device /
//	             audio_out_device (use_headset=0): the first entry that
//	             matches a present device wins; else the system default,
//	             else the first device in backend order (fallback)
//	2. headset : one headset_name entry must match both a present
//	             microphone and a present speaker
//	3. reject  : use_headset=1, reject_session_when_headset_na=1 and no
//	             headset → should_answer=false, outgoing calls blocked
//	4. block   : no headset (use_headset=1), or no usable microphone or
//	             speaker (use_headset=0) → no auto-answer
//	5. answer  : auto_answer=1 and not blocked → should_answer=true,
//	             else unknown (the call rings)
//
// # Device entries
//
// An entry of headset_name, audio_in_device or audio_out_device matches a
// device when, ignoring case, the entry equals or is contained in the
// device's name or id, or when the entry, compiled as a Go (RE2) regular
// expression with the case-insensitive flag (?i), matches anywhere in the
// device's name. A proper name containing regular-expression
// metacharacters, such as "Headset (USB)", therefore still matches as a
// name. An entry that does not compile is matched as a name only, and an
// empty entry is ignored; New reports both as warnings. Surrounding white
// space is not part of an entry.
//
// PulseAudio monitor sources (Device.Monitor) are not microphones: they are
// never a fallback, never part of a headset, and are matched only by an
// audio_in_device entry equal, ignoring case, to their full name or id.
package policy
