package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// pactlStreams returns the properties of each stream `pactl list what`
// (sink-inputs or source-outputs) shows, one map per stream.
func pactlStreams(t *testing.T, pa *testbed.Pulse, what string) []map[string]string {
	t.Helper()
	var out []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(pa.Pactl(t, "list", what), "\n") {
		if line != "" && line[0] != '\t' && line[0] != ' ' {
			cur = map[string]string{}
			out = append(out, cur)
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), " = ")
		if ok && cur != nil {
			cur[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

// TestCallStreamsCarryPhoneRole: during a call, the daemon's playback and
// capture streams show media.role "phone" and the application's name and
// icon in the sound server's stream list, on PulseAudio and on PipeWire,
// so the desktop's role policies (headset profile, ducking) apply.
func TestCallStreamsCarryPhoneRole(t *testing.T) {
	testbed.EachSoundServer(t, testCallStreamsCarryPhoneRole)
}

func testCallStreamsCarryPhoneRole(t *testing.T, srv testbed.SoundServer) {
	mb := startMediaBedOn(t, srv, "", "auto_answer = 1\n")
	mb.logOnFailure(t)
	s := mb.answeredCall(t)
	pid := strconv.Itoa(mb.proc.Cmd.Process.Pid)
	for _, what := range []string{"sink-inputs", "source-outputs"} {
		var ours []map[string]string
		var all []map[string]string
		if !testbed.WaitFor(5*time.Second, func() bool {
			ours = ours[:0]
			all = pactlStreams(t, mb.pa, what)
			for _, st := range all {
				if st["application.process.id"] == pid {
					ours = append(ours, st)
				}
			}
			return len(ours) > 0
		}) {
			t.Fatalf("%s: none of the daemon's (pid %s): %v", what, pid, all)
		}
		for _, st := range ours {
			if st["media.role"] != "phone" {
				t.Errorf("%s: media.role = %q, want phone: %v", what, st["media.role"], st)
			}
			if st["application.name"] != "Softphone" || st["application.icon_name"] != "call-start" {
				t.Errorf("%s: application.name %q, icon %q, want Softphone, call-start", what,
					st["application.name"], st["application.icon_name"])
			}
		}
	}
	mb.hangUp(t, s)
}
