package main

import (
	"context"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// TestOutgoingSessionTimer: with the default session_expires the daemon's
// INVITE asks for 1800 s with Min-SE 90; a sipp callee that needs 1900 s
// answers 422, and the retried INVITE asks for 1900 s, which the callee
// accepts.
func TestOutgoingSessionTimer(t *testing.T) {
	td := startTransferDaemon(t)
	callee := testbed.StartSipp(t, testbed.SippOptions{Scenario: "uas_session_422.xml", Timeout: 60 * time.Second})
	ci, err := td.client.Dial(context.Background(), "sip:callee@"+callee.Addr(), -1)
	if err != nil {
		t.Fatal(err)
	}
	td.callEvent(t, ci.ID, "active")
	if err := td.client.Hangup(context.Background(), ci.ID); err != nil {
		t.Fatal(err)
	}
	res, err := callee.Wait(15 * time.Second)
	if err != nil {
		t.Fatalf("callee: %v\n%s", err, td.proc.Log())
	}
	for k, want := range map[string]string{"se1": "1800", "minse1": "90", "se2": "1900", "minse2": "1900"} {
		if got := res.LogValue(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}
