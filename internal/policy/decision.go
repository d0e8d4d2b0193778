package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Equal reports whether d and o select the same devices (and the same
// fallback marks) and give the same verdict. The Reason is not compared:
// it also lists devices that play no part, and a change there alone is not
// worth logging.
func (d Decision) Equal(o Decision) bool {
	return equalSelection(d.Input, o.Input) &&
		equalSelection(d.Output, o.Output) &&
		d.HeadsetAvailable == o.HeadsetAvailable &&
		d.AutoAnswerBlocked == o.AutoAnswerBlocked &&
		d.ShouldAnswer == o.ShouldAnswer &&
		d.RejectCode == o.RejectCode &&
		d.OutgoingAllowed == o.OutgoingAllowed
}

func equalSelection(a, b *Selection) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Summary is a one-line form for logs, such as
// "input=Jabra Evolve2 65 Mic output=Jabra Evolve2 65 headset=yes should_answer=true".
// A fallback device is marked "(fallback)"; a rejecting decision adds the
// code and "outgoing=blocked", a blocked auto-answer "auto_answer=blocked".
func (d Decision) Summary() string {
	var b strings.Builder
	b.WriteString("input=")
	writeSummarySelection(&b, d.Input)
	b.WriteString(" output=")
	writeSummarySelection(&b, d.Output)
	b.WriteString(" headset=")
	if d.HeadsetAvailable {
		b.WriteString("yes")
	} else {
		b.WriteString("no")
	}
	b.WriteString(" should_answer=")
	b.WriteString(d.ShouldAnswer.String())
	if d.ShouldAnswer == AnswerFalse {
		b.WriteString(" reject_code=")
		b.WriteString(strconv.Itoa(d.RejectCode))
	}
	if !d.OutgoingAllowed {
		b.WriteString(" outgoing=blocked")
	}
	if d.AutoAnswerBlocked && d.ShouldAnswer != AnswerFalse {
		b.WriteString(" auto_answer=blocked")
	}
	return b.String()
}

func writeSummarySelection(b *strings.Builder, s *Selection) {
	if s == nil {
		b.WriteString("none")
		return
	}
	b.WriteString(displayName(s.Device))
	if s.Fallback {
		b.WriteString(" (fallback)")
	}
}

// reason explains the decision: the verdict, its cause, the selected
// devices and how each was chosen, and the present devices when a list
// matched nothing.
func (p *Policy) reason(d *Decision, hs headsetMatch, in, out pick, capture, playback []present) string {
	s := &p.settings
	var b strings.Builder

	switch d.ShouldAnswer {
	case AnswerFalse:
		fmt.Fprintf(&b, "a call now is rejected with %d: use_headset=1 and %s (reject_session_when_headset_na=1); outgoing calls are blocked",
			d.RejectCode, p.headsetMissing(hs))
	case AnswerTrue:
		b.WriteString("a call now is answered automatically: auto_answer=1 and ")
		if s.UseHeadset {
			fmt.Fprintf(&b, "headset_name entry %q matches a present microphone and speaker", p.headset[hs.entry].entry)
		} else {
			b.WriteString("a microphone and a speaker are present")
		}
	default:
		b.WriteString("a call now rings for a manual answer: ")
		switch {
		case d.AutoAnswerBlocked && s.UseHeadset:
			fmt.Fprintf(&b, "auto-answer is blocked: use_headset=1 and %s (reject_session_when_headset_na=0)", p.headsetMissing(hs))
		case d.AutoAnswerBlocked && d.Input == nil && d.Output == nil:
			b.WriteString("auto-answer is blocked: no usable microphone or speaker")
		case d.AutoAnswerBlocked && d.Input == nil:
			b.WriteString("auto-answer is blocked: no usable microphone")
		case d.AutoAnswerBlocked:
			b.WriteString("auto-answer is blocked: no usable speaker")
		default:
			b.WriteString("auto_answer=0")
		}
	}

	b.WriteString("; input ")
	p.writeSelection(&b, d.Input, in, keyAudioInDevice, p.audioIn)
	b.WriteString(", output ")
	p.writeSelection(&b, d.Output, out, keyAudioOutDevice, p.audioOut)

	if (s.UseHeadset && !d.HeadsetAvailable) || in.entry < 0 || out.entry < 0 {
		b.WriteString("; present: ")
		writePresent(&b, capture, playback)
	}
	return b.String()
}

// headsetMissing says why no headset is available.
func (p *Policy) headsetMissing(hs headsetMatch) string {
	switch {
	case len(p.headset) == 0:
		return "headset_name is empty"
	case hs.partial >= 0 && hs.partialIn:
		return fmt.Sprintf("no headset_name entry matches both a present microphone and a present speaker (%q matches no speaker)", p.headset[hs.partial].entry)
	case hs.partial >= 0:
		return fmt.Sprintf("no headset_name entry matches both a present microphone and a present speaker (%q matches no microphone)", p.headset[hs.partial].entry)
	default:
		return "no headset_name entry matches a present device"
	}
}

// writeSelection writes one selected device and how it was chosen.
func (p *Policy) writeSelection(b *strings.Builder, sel *Selection, pk pick, key string, ms []matcher) {
	if sel == nil {
		b.WriteString("none")
		return
	}
	b.WriteString(displayName(sel.Device))
	if sel.Device.Monitor {
		b.WriteString(" (monitor)")
	}
	switch {
	case pk.entry >= 0 && p.settings.UseHeadset:
		fmt.Fprintf(b, " (headset_name entry %q)", p.headset[pk.entry].entry)
	case pk.entry >= 0:
		fmt.Fprintf(b, " (%s entry %q)", key, ms[pk.entry].entry)
	default:
		b.WriteString(" (fallback")
		if sel.Device.Default {
			b.WriteString(", system default")
		}
		switch {
		case p.settings.UseHeadset:
			b.WriteString(": no headset")
		case len(ms) == 0:
			fmt.Fprintf(b, ": %s is empty", key)
		default:
			fmt.Fprintf(b, ": no %s entry matches", key)
		}
		b.WriteString(")")
	}
}

// writePresent lists the names of the present non-monitor devices, capture
// first, each name once.
func writePresent(b *strings.Builder, capture, playback []present) {
	seen := make(map[string]bool, len(capture)+len(playback))
	n := 0
	for _, list := range [][]present{capture, playback} {
		for i := range list {
			if list[i].Monitor {
				continue
			}
			name := displayName(list[i].Device)
			if seen[name] {
				continue
			}
			seen[name] = true
			if n > 0 {
				b.WriteString(", ")
			}
			b.WriteString(name)
			n++
		}
	}
	if n == 0 {
		b.WriteString("none")
	}
}
