package phone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/softphone/softphone/internal/policy"
	"github.com/softphone/softphone/internal/sip"
)

func TestTransferStateNames(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    TransferState
		wantErr bool
	}{
		{"trying", TransferTrying, false},
		{"ringing", TransferRinging, false},
		{" Succeeded ", TransferSucceeded, false},
		{"failed", TransferFailed, false},
		{"unknown", TransferUnknown, true},
		{"", TransferUnknown, true},
		{"done", TransferUnknown, true},
	} {
		got, err := ParseTransferState(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseTransferState(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if !tc.wantErr && got.String() != tc.want.String() {
			t.Errorf("%v.String() round trip", got)
		}
	}
	if s := TransferState(99).String(); s != "unknown" {
		t.Errorf("out of range state named %q", s)
	}
	if !TransferSucceeded.final() || !TransferFailed.final() || TransferRinging.final() || TransferTrying.final() {
		t.Error("final() wrong")
	}
}

func TestTransferErrCode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rejectCode int
		err        error
		want       int
	}{
		{"outgoing blocked, configured code", 486, fmt.Errorf("%w: no headset", ErrOutgoingBlocked), 486},
		{"outgoing blocked, no code", 0, ErrOutgoingBlocked, 480},
		{"bad target", 0, fmt.Errorf("%w: %w", ErrInvalidArgument, sip.ErrInvalidTarget), 400},
		{"sip invalid target", 0, sip.ErrInvalidTarget, 400},
		{"shutting down", 0, sip.ErrClosed, 503},
		{"cancelled", 0, context.Canceled, 503},
		{"anything else", 0, errors.New("no media port"), 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Phone{dec: policy.Decision{RejectCode: tc.rejectCode}}
			if got := p.transferErrCode(tc.err); got != tc.want {
				t.Fatalf("transferErrCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

// The transfer is additive in the JSON front ends read: a call without one
// has no "transfer" key, a call with one names its state.
func TestCallInfoTransferJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		info CallInfo
		want string // the "transfer" value, "" for absent
	}{
		{"none", CallInfo{ID: "a"}, ""},
		{"failed", CallInfo{ID: "a", Transfer: (&transfer{target: "sip:b@h", state: TransferFailed, code: 486, reason: "Busy Here", newCall: "n"}).info()},
			`{"target":"sip:b@h","state":"failed","code":486,"reason":"Busy Here","new_call":"n"}`},
		{"trying", CallInfo{ID: "a", Transfer: (&transfer{target: "sip:b@h", state: TransferTrying}).info()},
			`{"target":"sip:b@h","state":"trying"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.info)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			got := string(m["transfer"])
			if got != tc.want {
				t.Fatalf("transfer = %s, want %s", got, tc.want)
			}
		})
	}
}
