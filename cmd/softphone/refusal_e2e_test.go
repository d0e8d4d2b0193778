package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/control"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// TestOwnTransferIsAnEvent: the agent blind-transfers a caller (our
// REFER, the caller's NOTIFY 200): a "transferred" event says so, apart
// from the call's end (which comes first: the call is hung up on the
// NOTIFY 200, before the transfer returns).
func TestOwnTransferIsAnEvent(t *testing.T) {
	td := startTransferDaemon(t)
	customer := testbed.StartSipp(t, testbed.SippOptions{Scenario: "uac_refer_recipient.xml", Target: td.sipAddr, Service: "agent",
		Vars: map[string]string{"frag": "200 OK", "after": "wait"}, Timeout: 60 * time.Second})
	c := td.callEvent(t, "", "active")
	if _, errOut, code := runCLI(t, td.env, "transfer", "-c", td.cfg, "sip:carol@127.0.0.1"); code != 0 {
		t.Fatalf("softphone transfer: exit %d: %s", code, errOut)
	}
	var te phone.TransferredEvent
	waitEvent(t, td.ev, "transferred", 15*time.Second, func(d json.RawMessage) bool {
		return json.Unmarshal(d, &te) == nil && te.Call == c.ID
	})
	if te.Kind != "blind" || te.Target != "sip:carol@127.0.0.1" {
		t.Errorf("transferred event %+v, want blind to sip:carol@127.0.0.1", te)
	}
	// The call ended with it (the sip layer hangs up on the NOTIFY 200).
	if calls, err := td.client.Calls(context.Background()); err != nil || len(calls) != 0 {
		t.Errorf("calls after the transfer: %+v %v", calls, err)
	}
	if _, err := customer.Wait(30 * time.Second); err != nil {
		t.Errorf("sipp: %v", err)
	}
}

// TestRefusedDialSaysWhy: with srtp = mandatory, a dial over plain UDP is
// refused before any INVITE, and the API and the CLI name the reason (the
// keys need TLS) and the way out, not the call's state.
func TestRefusedDialSaysWhy(t *testing.T) {
	base, _ := daemonConfig(t)
	base = strings.Replace(base, "[policy.endpoint]\n", "[policy.endpoint]\nsrtp = mandatory\n", 1)
	cfg := writeConfig(t, base+"\n[system.audio]\nbackend = null\n[policy.device]\nuse_headset = 0\n")
	d := startDaemon(t, nil, cfg)
	_, err := d.client.Dial(context.Background(), "sip:someone@127.0.0.1:5999", -1)
	var apiErr *control.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != control.CodeInvalidArgument {
		t.Fatalf("API dial: %v (%+v), want 400 invalid_argument", err, apiErr)
	}
	for _, want := range []string{"srtp = mandatory needs tls", "sips:"} {
		if !strings.Contains(apiErr.Message, want) {
			t.Errorf("API refusal %q does not say %q", apiErr.Message, want)
		}
	}
	if strings.Contains(apiErr.Message, "call's state") {
		t.Errorf("API refusal %q blames the call's state", apiErr.Message)
	}
	_, errOut, code := runCLI(t, d.env, "dial", "-c", cfg, "sip:someone@127.0.0.1:5999")
	if code == 0 || !strings.Contains(errOut, "srtp = mandatory needs tls") {
		t.Errorf("CLI dial: exit %d, stderr %q", code, errOut)
	}
}
