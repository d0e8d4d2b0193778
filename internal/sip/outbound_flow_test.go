package sip

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestNoteOutbound: a 2xx to REGISTER turns outbound on only with
// Require: outbound (RFC 5626 §6), and its Flow-Timer shortens the
// keep-alive interval to 80-100 % of it, never lengthens it (§4.4.1).
func TestNoteOutbound(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hdrs      map[string]string
		keepAlive time.Duration
		wantOB    bool
		min, max  time.Duration
	}{
		{"plain", nil, 0, false, defaultKeepAlive, defaultKeepAlive},
		{"supported only", map[string]string{"Supported": "outbound, path"}, 0, false, defaultKeepAlive, defaultKeepAlive},
		{"require", map[string]string{"Require": "outbound"}, 0, true, defaultKeepAlive, defaultKeepAlive},
		{"require in a list", map[string]string{"Require": "path , OUTBOUND"}, 0, true, defaultKeepAlive, defaultKeepAlive},
		{"flow timer shorter", map[string]string{"Require": "outbound", "Flow-Timer": "20"}, 0, true, 16 * time.Second, 20 * time.Second},
		{"flow timer longer", map[string]string{"Require": "outbound", "Flow-Timer": "120"}, 0, true, defaultKeepAlive, defaultKeepAlive},
		{"account shorter", map[string]string{"Require": "outbound", "Flow-Timer": "20"}, 5 * time.Second, true, 5 * time.Second, 5 * time.Second},
		{"bad flow timer", map[string]string{"Require": "outbound", "Flow-Timer": "soon"}, 0, true, defaultKeepAlive, defaultKeepAlive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := New(Options{}, newRecHandler(nil))
			if err != nil {
				t.Fatal(err)
			}
			r := newRegistration(u, Account{ID: 1, User: "alice", Server: "127.0.0.1", Protocol: "tls", KeepAlive: tc.keepAlive})
			res := sip.NewResponse(200, "OK")
			for k, v := range tc.hdrs {
				res.AppendHeader(sip.NewHeader(k, v))
			}
			r.noteOutbound(res)
			if r.outbound != tc.wantOB {
				t.Errorf("outbound %v, want %v", r.outbound, tc.wantOB)
			}
			for range 20 {
				if ka := r.keepAliveInterval(); ka < tc.min || ka > tc.max {
					t.Fatalf("keep-alive %s, want %s..%s", ka, tc.min, tc.max)
				}
			}
		})
	}
}

// TestInstanceURN: the instance id is a stable UUID URN (RFC 5626 §4.1)
// unless set.
func TestInstanceURN(t *testing.T) {
	u, err := New(Options{}, newRecHandler(nil))
	if err != nil {
		t.Fatal(err)
	}
	a, b := u.instanceURN(), u.instanceURN()
	if a != b || !strings.HasPrefix(a, "urn:uuid:") || len(a) != len("urn:uuid:")+36 {
		t.Fatalf("instance %q then %q, want one stable urn:uuid", a, b)
	}
	u2, _ := New(Options{InstanceID: "urn:uuid:1"}, newRecHandler(nil))
	if got := u2.instanceURN(); got != "urn:uuid:1" {
		t.Fatalf("instance %q, want the configured one", got)
	}
}
