package policy

import (
	"slices"
)

// Device is one audio device as the policy sees it.
type Device struct {
	Name, ID string
	// Default marks the system's default device of its direction.
	Default bool
	// Monitor marks a PulseAudio monitor source: it records what a sink
	// plays and is not a microphone.
	Monitor bool
	// Card groups the capture and playback devices of one physical card;
	// empty when unknown.
	Card string
}

// Snapshot is the set of present devices, each list in backend order.
type Snapshot struct {
	Capture, Playback []Device
}

// Settings are the agent's audio settings, named after the configuration
// keys use_headset, headset_name, audio_in_device, audio_out_device,
// auto_answer, reject_session_when_headset_na and sip_code_when_headset_na.
type Settings struct {
	UseHeadset bool
	// HeadsetName, AudioInDevice and AudioOutDevice are in priority order.
	HeadsetName, AudioInDevice, AudioOutDevice []string
	AutoAnswer, RejectSessionWhenHeadsetNA     bool
	// SIPCodeWhenHeadsetNA is the code as configured; 0 means missing.
	SIPCodeWhenHeadsetNA int
}

// Selection is the device chosen for one direction.
type Selection struct {
	Device Device
	// Fallback is true when no configured entry matched and the device was
	// taken from the backend's list.
	Fallback bool
}

// Decision is the outcome of the rules for one snapshot.
type Decision struct {
	// Input and Output are the selected devices; nil means none.
	Input, Output *Selection
	// HeadsetAvailable is true when one headset_name entry matches both a
	// present microphone and a present speaker. It is computed whatever
	// use_headset says, but changes nothing when use_headset=0.
	HeadsetAvailable bool
	// AutoAnswerBlocked is true when no call could be answered
	// automatically now. It is also true when the call is rejected
	// (use_headset=1, reject_session_when_headset_na=1, no headset), since
	// no auto-answer is possible then either.
	AutoAnswerBlocked bool
	ShouldAnswer      Answer
	// RejectCode is the SIP final response code for a rejected call; 0
	// unless ShouldAnswer is AnswerFalse.
	RejectCode int
	// OutgoingAllowed is false exactly when ShouldAnswer is AnswerFalse.
	OutgoingAllowed bool
	// Reason says in plain words why, listing the present devices when a
	// configured list matched none.
	Reason string
}

// Policy applies one set of settings to device snapshots. It is immutable
// once made, so Evaluate is safe for concurrent use.
type Policy struct {
	settings                   Settings
	headset, audioIn, audioOut []matcher
}

// New compiles the device entries of s once. The warnings name entries that
// are empty (ignored) or not valid regular expressions (matched as names
// only); they are not errors.
func New(s Settings) (*Policy, []string) {
	p := &Policy{settings: cloneSettings(s)}
	var warnings, w []string
	p.headset, w = compileEntries(keyHeadsetName, s.HeadsetName)
	warnings = append(warnings, w...)
	p.audioIn, w = compileEntries(keyAudioInDevice, s.AudioInDevice)
	warnings = append(warnings, w...)
	p.audioOut, w = compileEntries(keyAudioOutDevice, s.AudioOutDevice)
	warnings = append(warnings, w...)
	return p, warnings
}

// Settings returns a copy of the settings the policy was made from.
func (p *Policy) Settings() Settings {
	return cloneSettings(p.settings)
}

func cloneSettings(s Settings) Settings {
	s.HeadsetName = slices.Clone(s.HeadsetName)
	s.AudioInDevice = slices.Clone(s.AudioInDevice)
	s.AudioOutDevice = slices.Clone(s.AudioOutDevice)
	return s
}

// RejectCode returns the SIP response code for rejecting a call while no
// headset is available: the configured code when it is a final error
// response, 400 to 699 inclusive (RFC 3261 section 21.4 to 21.6), else 480
// Temporarily Unavailable (RFC 3261 section 21.4.18) with ok false. A
// configured 0 means the setting is missing.
func RejectCode(configured int) (code int, ok bool) {
	if configured >= 400 && configured <= 699 {
		return configured, true
	}
	return defaultRejectCode, false
}

const defaultRejectCode = 480

// headsetMatch is the outcome of the headset search.
type headsetMatch struct {
	entry     int // index into Policy.headset; -1 when none matched both
	in, out   int // device indexes when entry >= 0
	partial   int // first entry matching one direction only; -1 when none
	partialIn bool
}

// findHeadset tries the headset_name entries in priority order; the first
// that matches both a present capture and a present playback device selects
// both. Among several matches of that entry, a pair on the same non-empty
// card wins, else the first of each in backend order. Monitors never count.
func (p *Policy) findHeadset(capture, playback []present) headsetMatch {
	h := headsetMatch{entry: -1, in: -1, out: -1, partial: -1}
	for ei := range p.headset {
		m := &p.headset[ei]
		in := m.firstMatch(capture, false)
		out := m.firstMatch(playback, false)
		if in < 0 || out < 0 {
			if h.partial < 0 && (in >= 0 || out >= 0) {
				h.partial, h.partialIn = ei, in >= 0
			}
			continue
		}
		h.entry, h.in, h.out = ei, in, out
		if ci, pi, ok := sameCard(m, capture, playback, in, out); ok {
			h.in, h.out = ci, pi
		}
		return h
	}
	return h
}

// sameCard looks for the first capture device, in backend order from
// firstIn, paired with a playback device on the same non-empty card, both
// matched by m.
func sameCard(m *matcher, capture, playback []present, firstIn, firstOut int) (int, int, bool) {
	for ci := firstIn; ci < len(capture); ci++ {
		c := &capture[ci]
		if c.Card == "" || c.Monitor || !m.match(c, false) {
			continue
		}
		for pi := firstOut; pi < len(playback); pi++ {
			o := &playback[pi]
			if o.Card == c.Card && !o.Monitor && m.match(o, false) {
				return ci, pi, true
			}
		}
	}
	return 0, 0, false
}

// pick is how one direction was selected, for the reason.
type pick struct {
	index int // device index; -1 for none
	entry int // matching entry index; -1 for a fallback
}

// selectDevice returns the first entry, in priority order, that matches a
// present device, else the fallback.
func selectDevice(ms []matcher, devs []present, allowMonitor bool) pick {
	for ei := range ms {
		if i := ms[ei].firstMatch(devs, allowMonitor); i >= 0 {
			return pick{index: i, entry: ei}
		}
	}
	return pick{index: fallback(devs), entry: -1}
}

func selection(devs []present, pk pick) *Selection {
	if pk.index < 0 {
		return nil
	}
	return &Selection{Device: devs[pk.index].Device, Fallback: pk.entry < 0}
}

// Evaluate applies the rules to a snapshot. It is pure and safe for
// concurrent use.
func (p *Policy) Evaluate(s Snapshot) Decision {
	capture, playback := prepare(s.Capture), prepare(s.Playback)
	hs := p.findHeadset(capture, playback)

	var in, out pick
	switch {
	case p.settings.UseHeadset && hs.entry >= 0:
		in = pick{index: hs.in, entry: hs.entry}
		out = pick{index: hs.out, entry: hs.entry}
	case p.settings.UseHeadset:
		in = pick{index: fallback(capture), entry: -1}
		out = pick{index: fallback(playback), entry: -1}
	default:
		in = selectDevice(p.audioIn, capture, true)
		out = selectDevice(p.audioOut, playback, false)
	}

	d := Decision{
		Input:            selection(capture, in),
		Output:           selection(playback, out),
		HeadsetAvailable: hs.entry >= 0,
	}
	if p.settings.UseHeadset {
		d.AutoAnswerBlocked = !d.HeadsetAvailable
	} else {
		d.AutoAnswerBlocked = d.Input == nil || d.Output == nil
	}

	switch {
	case p.settings.UseHeadset && p.settings.RejectSessionWhenHeadsetNA && !d.HeadsetAvailable:
		d.ShouldAnswer = AnswerFalse
		d.RejectCode, _ = RejectCode(p.settings.SIPCodeWhenHeadsetNA)
	case p.settings.AutoAnswer && !d.AutoAnswerBlocked:
		d.ShouldAnswer = AnswerTrue
	default:
		d.ShouldAnswer = AnswerUnknown
	}
	d.OutgoingAllowed = d.ShouldAnswer != AnswerFalse
	d.Reason = p.reason(&d, hs, in, out, capture, playback)
	return d
}
