package phone

import (
	"fmt"
	"io"
	"strings"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/policy"
)

// PolicySettings converts the configuration into the policy's settings.
func PolicySettings(c *config.Config) policy.Settings {
	return policy.Settings{
		UseHeadset:                 c.Device.UseHeadset,
		HeadsetName:                c.Device.HeadsetName,
		AudioInDevice:              c.Device.AudioInDevice,
		AudioOutDevice:             c.Device.AudioOutDevice,
		AutoAnswer:                 c.Session.AutoAnswer,
		RejectSessionWhenHeadsetNA: c.Session.RejectSessionWhenHeadsetNA,
		SIPCodeWhenHeadsetNA:       c.Session.SIPCodeWhenHeadsetNA,
	}
}

// PolicySnapshot converts the audio package's device list into the
// policy's.
func PolicySnapshot(s audio.Snapshot) policy.Snapshot {
	conv := func(in []audio.Device) []policy.Device {
		out := make([]policy.Device, 0, len(in))
		for _, d := range in {
			out = append(out, policy.Device{Name: d.Name, ID: d.ID, Default: d.Default, Monitor: d.Monitor})
		}
		return out
	}
	return policy.Snapshot{Capture: conv(s.Capture), Playback: conv(s.Playback)}
}

// WriteDevices prints a device snapshot and the verdict for people: one
// device a line, the selected ones marked, then the verdict and its reason.
func WriteDevices(w io.Writer, s audio.Snapshot, d policy.Decision) {
	fmt.Fprintf(w, "backend: %s", s.Backend)
	if s.Null {
		fmt.Fprint(w, " (no real audio devices: the null device is used)")
	}
	fmt.Fprintln(w)
	list := func(title string, devs []audio.Device, sel *policy.Selection) {
		fmt.Fprintf(w, "%s:\n", title)
		if len(devs) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, dev := range devs {
			mark := "  "
			if sel != nil && sel.Device.ID == dev.ID && sel.Device.Name == dev.Name {
				mark = "* "
			}
			var tags []string
			if dev.Default {
				tags = append(tags, "default")
			}
			if dev.Monitor {
				tags = append(tags, "monitor")
			}
			t := ""
			if len(tags) > 0 {
				t = " [" + strings.Join(tags, ", ") + "]"
			}
			fmt.Fprintf(w, "%s%-40s id=%s%s\n", mark, dev.Name, dev.ID, t)
		}
	}
	list("capture (microphones)", s.Capture, d.Input)
	list("playback (speakers)", s.Playback, d.Output)
	sel := func(s *policy.Selection) string {
		if s == nil {
			return "none"
		}
		if s.Fallback {
			return s.Device.Name + " (fallback)"
		}
		return s.Device.Name
	}
	fmt.Fprintf(w, "input:  %s\noutput: %s\n", sel(d.Input), sel(d.Output))
	fmt.Fprintf(w, "headset available: %s, auto-answer blocked: %s, should_answer: %s, outgoing calls: %s\n",
		yesNo(d.HeadsetAvailable), yesNo(d.AutoAnswerBlocked), d.ShouldAnswer, allowed(d.OutgoingAllowed))
	fmt.Fprintf(w, "verdict: %s\n", d.Reason)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func allowed(b bool) string {
	if b {
		return "allowed"
	}
	return "blocked"
}
