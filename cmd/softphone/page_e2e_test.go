package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// TestStatusPageAnswersARealCall opens the status page of a running daemon
// (its address from `softphone page`) in headless Chromium: a sipp call
// rings, the page shows it beside the daemon's live verdict, a mouse click
// on Answer answers it (sipp gets its 200), and Hang up on the page sends
// the BYE sipp waits for.
func TestStatusPageAnswersARealCall(t *testing.T) {
	testbed.Require(t, "chromium", "pulseaudio", "pactl", "sipp")
	cd := startCallDaemon(t, "auto_answer=0\nrtp_timeout=0\n", true)
	out, errOut, code := cd.cli(t, "page")
	url := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.Contains(url, "#") {
		t.Fatalf("page: exit %d, %q %s", code, out, errOut)
	}
	st, err := cd.client.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var v verdict
	if err := json.Unmarshal(st.Verdict, &v); err != nil || v.ShouldAnswer != "unknown" || v.Reason == "" {
		t.Fatalf("daemon verdict %s (%v), want should_answer unknown with a reason", st.Verdict, err)
	}

	b := testbed.StartChromium(t)
	pg := b.Open(t, url)
	// Each wait fails the test with the page's text when it times out.
	pg.WaitText(t, `#link`, "Live")
	pg.WaitText(t, `#verdict-reason`, v.Reason)
	pg.WaitText(t, `#playback li[aria-current="true"]`, jabra)

	s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_wait_bye.xml", Target: cd.sipAddr, Service: "agent", Timeout: 60 * time.Second})
	ci := cd.callEvent(t, "ringing")
	sel := func(action string) string {
		return fmt.Sprintf(`#calls button[data-action=%q][data-call=%q]`, action, ci.ID)
	}
	answer := pg.WaitFor(t, sel("answer"))
	pg.WaitText(t, fmt.Sprintf(`#calls li[data-call=%q] .state`, ci.ID), "incoming, ringing")
	pg.Click(t, answer)
	cd.callEvent(t, "active")

	// The page follows the event: Hold replaces Answer; Hang up ends it.
	pg.WaitFor(t, sel("hold"))
	pg.Click(t, pg.WaitFor(t, sel("hangup")))
	if res, err := s.Wait(30 * time.Second); err != nil {
		t.Fatalf("sipp did not get its answer and BYE: %v\n%s", err, res.Messages)
	}
	if e := cd.callEvent(t, "ended"); !strings.Contains(e.Reason, "hangup") {
		t.Errorf("end reason %q, want a local hangup", e.Reason)
	}
	pg.WaitFor(t, `#calls:empty`)
	for _, e := range b.Exceptions() {
		t.Errorf("page script error: %s", e)
	}
}
