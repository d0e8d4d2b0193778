package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// The configuration keys whose entries name devices; they appear in
// warnings and reasons.
const (
	keyHeadsetName    = "headset_name"
	keyAudioInDevice  = "audio_in_device"
	keyAudioOutDevice = "audio_out_device"
)

// matcher is one compiled device entry.
type matcher struct {
	entry string         // as configured, trimmed
	lower string         // entry in lower case, for the name/id test
	re    *regexp.Regexp // nil when the entry is not a valid expression
}

// compileEntries compiles the entries of one list in priority order. An
// empty entry is dropped and an entry that is not a valid regular
// expression keeps only the name test; both yield a warning.
func compileEntries(key string, entries []string) ([]matcher, []string) {
	var (
		ms       []matcher
		warnings []string
	)
	for i, raw := range entries {
		e := strings.TrimSpace(raw)
		if e == "" {
			warnings = append(warnings, fmt.Sprintf("%s entry %d is empty: ignored", key, i+1))
			continue
		}
		m := matcher{entry: e, lower: strings.ToLower(e)}
		re, err := regexp.Compile("(?i)" + e)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s entry %q is not a valid regular expression: matched as a name only", key, e))
		} else {
			m.re = re
		}
		ms = append(ms, m)
	}
	return ms, warnings
}

// present is a device of a snapshot with its name and id in lower case.
type present struct {
	Device
	lowerName, lowerID string
}

func prepare(devs []Device) []present {
	out := make([]present, len(devs))
	for i, d := range devs {
		out[i] = present{Device: d, lowerName: strings.ToLower(d.Name), lowerID: strings.ToLower(d.ID)}
	}
	return out
}

// match reports whether the entry names the device. A monitor matches only
// when monitors are allowed (audio_in_device) and the entry equals its full
// name or id, ignoring case.
func (m *matcher) match(d *present, allowMonitor bool) bool {
	if d.Monitor {
		return allowMonitor && (strings.EqualFold(m.entry, d.Name) || strings.EqualFold(m.entry, d.ID))
	}
	if strings.Contains(d.lowerName, m.lower) || strings.Contains(d.lowerID, m.lower) {
		return true
	}
	return m.re != nil && m.re.MatchString(d.Name)
}

// firstMatch returns the index of the first device, in backend order, that
// the entry matches, or -1.
func (m *matcher) firstMatch(devs []present, allowMonitor bool) int {
	for i := range devs {
		if m.match(&devs[i], allowMonitor) {
			return i
		}
	}
	return -1
}

// fallback returns the system default device if it is not a monitor, else
// the first non-monitor device in backend order, else -1.
func fallback(devs []present) int {
	first := -1
	for i := range devs {
		if devs[i].Monitor {
			continue
		}
		if devs[i].Default {
			return i
		}
		if first < 0 {
			first = i
		}
	}
	return first
}

// displayName is the device's name, or its id when it has no name.
func displayName(d Device) string {
	if d.Name != "" {
		return d.Name
	}
	return d.ID
}

// MatchAll returns the indexes of the devices (never monitors) that any of
// the entries names, by the same rules as the device lists, in entry
// priority order and each once. It serves lists outside the seed's
// selection, such as the extra devices that ring.
func MatchAll(entries []string, devs []Device) []int {
	ms, _ := compileEntries("", entries)
	ps := prepare(devs)
	seen := map[int]bool{}
	var out []int
	for i := range ms {
		for j := range ps {
			if !seen[j] && ms[i].match(&ps[j], false) {
				seen[j] = true
				out = append(out, j)
			}
		}
	}
	return out
}
