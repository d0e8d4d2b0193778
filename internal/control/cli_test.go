package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
)

func TestCLI(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 2, 3, 0, time.UTC)
	tests := []struct {
		name       string
		cmd        string
		args       []string
		phoneErr   error
		noCalls    bool
		wantCode   int
		wantOut    []string // substrings of stdout
		wantErrOut []string // substrings of stderr
		wantAction string   // "" = the phone was asked nothing
	}{
		{name: "status", cmd: "status", wantOut: []string{
			"version      1.2.3", "uptime       1h2m3s", "connections  2",
			"#0  agent1@pbx.example.com", "registered", "expires in 57m57s",
			"#1  agent1@backup.example.com", "failed      403 Forbidden",
			"devices      input: Jabra Mic, output: Jabra Out (fallback)",
			"verdict      headset=yes should_answer=true outgoing=allowed reject_code=480",
			"reason       headset Jabra present", "calls        1", "c1  incoming  ringing", `"Alice" <sip:alice@example.com>`, "3m3s"}},
		{name: "status json", cmd: "status", args: []string{"--json"}, wantOut: []string{`"version": "1.2.3"`, `"registrations": [`}},
		{name: "status no calls", cmd: "status", noCalls: true, wantOut: []string{"calls        none"}},
		{name: "status with argument", cmd: "status", args: []string{"x"}, wantCode: 2, wantErrOut: []string{"wrong number of arguments", "usage: softphone status [flags]"}},
		{name: "status unknown flag", cmd: "status", args: []string{"--bogus"}, wantCode: 2, wantErrOut: []string{"flag provided but not defined: -bogus", "usage:"}},
		{name: "status help", cmd: "status", args: []string{"-h"}, wantOut: []string{"usage: softphone status [flags]", "-json"}},
		{name: "status help long", cmd: "status", args: []string{"--help"}, wantOut: []string{"usage: softphone status"}},
		{name: "calls", cmd: "calls", wantOut: []string{"ID  DIR       STATE    REMOTE", "c1  incoming  ringing"}},
		{name: "calls json", cmd: "calls", args: []string{"--json"}, wantOut: []string{`"id": "c1"`}},
		{name: "calls none", cmd: "calls", noCalls: true, wantOut: []string{"no calls"}},
		{name: "calls none json", cmd: "calls", args: []string{"-json"}, noCalls: true, wantOut: []string{"[]"}},
		{name: "dial", cmd: "dial", args: []string{"sip:bob@example.com"}, wantOut: []string{"c2\tcalling\tsip:bob@example.com"}, wantAction: "dial sip:bob@example.com -1"},
		{name: "dial connection", cmd: "dial", args: []string{"--connection", "1", "sip:bob@example.com"}, wantAction: "dial sip:bob@example.com 1", wantOut: []string{"c2"}},
		{name: "dial json", cmd: "dial", args: []string{"-json", "sip:bob@example.com"}, wantAction: "dial sip:bob@example.com -1", wantOut: []string{`"direction": "outgoing"`}},
		{name: "dial blocked", cmd: "dial", args: []string{"sip:bob@example.com"}, phoneErr: phone.ErrOutgoingBlocked, wantCode: 1, wantErrOut: []string{"softphone dial: phone: outgoing calls are blocked"}, wantAction: "dial sip:bob@example.com -1"},
		{name: "dial no uri", cmd: "dial", wantCode: 2, wantErrOut: []string{"usage: softphone dial [flags] URI"}},
		{name: "dial flag after uri", cmd: "dial", args: []string{"sip:b@x", "--connection", "1"}, wantAction: "dial sip:b@x 1", wantOut: []string{"c2"}},
		{name: "dial argument after --", cmd: "dial", args: []string{"--connection", "1", "--", "-odd"}, wantAction: "dial -odd 1", wantOut: []string{"c2"}},
		{name: "dial bad connection", cmd: "dial", args: []string{"--connection", "x", "sip:b@x"}, wantCode: 2, wantErrOut: []string{"invalid value"}},
		{name: "answer", cmd: "answer", wantAction: "answer"},
		{name: "answer id", cmd: "answer", args: []string{"c1"}, wantAction: "answer c1"},
		{name: "answer unknown", cmd: "answer", args: []string{"c9"}, phoneErr: phone.ErrNoSuchCall, wantCode: 1, wantErrOut: []string{"no such call"}, wantAction: "answer c9"},
		{name: "answer ambiguous", cmd: "answer", phoneErr: phone.ErrAmbiguousCall, wantCode: 1, wantErrOut: []string{"several calls"}, wantAction: "answer"},
		{name: "answer two ids", cmd: "answer", args: []string{"c1", "c2"}, wantCode: 2, wantErrOut: []string{"wrong number of arguments"}},
		{name: "reject", cmd: "reject", wantAction: "reject  486"},
		{name: "reject code", cmd: "reject", args: []string{"--code", "603", "c1"}, wantAction: "reject c1 603"},
		{name: "reject bad code", cmd: "reject", args: []string{"--code", "99"}, wantCode: 1, wantErrOut: []string{"not in 400-699"}},
		{name: "reject flag after id", cmd: "reject", args: []string{"c1", "--code", "603"}, wantAction: "reject c1 603"},
		{name: "reject flag after id, two ids", cmd: "reject", args: []string{"c1", "--code", "603", "c2"}, wantCode: 2, wantErrOut: []string{"wrong number of arguments"}},
		{name: "dtmf call after digits", cmd: "dtmf", args: []string{"5", "--call", "c1"}, wantAction: "dtmf c1 5"},
		{name: "transfer call after uri", cmd: "transfer", args: []string{"sip:carol@example.com", "--call", "c1"}, wantAction: "transfer c1 sip:carol@example.com"},
		{name: "hangup", cmd: "hangup", args: []string{"c1"}, wantAction: "hangup c1"},
		{name: "hold", cmd: "hold", wantAction: "hold"},
		{name: "hold ringing", cmd: "hold", phoneErr: phone.ErrInvalidState, wantCode: 1, wantErrOut: []string{"not allowed in the call's state"}, wantAction: "hold"},
		{name: "resume", cmd: "resume", args: []string{"c1"}, wantAction: "resume c1"},
		{name: "dtmf", cmd: "dtmf", args: []string{"12#"}, wantAction: "dtmf  12#"},
		{name: "dtmf call", cmd: "dtmf", args: []string{"--call", "c1", "5"}, wantAction: "dtmf c1 5"},
		{name: "dtmf no digits", cmd: "dtmf", wantCode: 2, wantErrOut: []string{"usage: softphone dtmf [flags] DIGITS"}},
		{name: "transfer", cmd: "transfer", args: []string{"--call", "c1", "sip:carol@example.com"}, wantAction: "transfer c1 sip:carol@example.com"},
		{name: "transfer only call", cmd: "transfer", args: []string{"sip:carol@example.com"}, wantAction: "transfer  sip:carol@example.com"},
		{name: "transfer failure", cmd: "transfer", args: []string{"sip:c@x"}, phoneErr: errors.New("sip: refer rejected: 403"), wantCode: 1, wantErrOut: []string{"sip: refer rejected: 403"}, wantAction: "transfer  sip:c@x"},
		{name: "attended transfer", cmd: "transfer", args: []string{"--call", "c1", "--to-call", "c2"}, wantAction: "attended-transfer c1 c2"},
		{name: "attended transfer, the other call", cmd: "transfer", args: []string{"--to-call", "c2"}, wantAction: "attended-transfer  c2"},
		{name: "transfer both ways", cmd: "transfer", args: []string{"--to-call", "c2", "sip:c@x"}, wantCode: 2, wantErrOut: []string{"not both"}},
		{name: "transfer nothing", cmd: "transfer", wantCode: 2, wantErrOut: []string{"--to-call CALL2 (attended) is needed"}},
		{name: "events extra argument", cmd: "events", args: []string{"x"}, wantCode: 2},
		{name: "unknown command", cmd: "park", wantCode: 2, wantErrOut: []string{`unknown command "park"`, "dial [--connection N]"}},
		{name: "help", cmd: "help", wantOut: []string{"transfer [--call CALL] [--to-call CALL2] [URI]", "events"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePhone()
			f.setErr(tc.phoneErr)
			if tc.noCalls {
				f.calls = nil
			}
			_, c := startServer(t, f, Options{})
			var out, errOut bytes.Buffer
			cl := &cli{c: c, out: &out, err: &errOut, now: func() time.Time { return now }}
			code := cl.run(context.Background(), tc.cmd, tc.args)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, &out, &errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, &out)
				}
			}
			for _, w := range tc.wantErrOut {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, &errOut)
				}
			}
			if tc.wantCode == 0 && errOut.Len() != 0 {
				t.Errorf("stderr on success: %s", &errOut)
			}
			if tc.wantCode != 0 && len(tc.wantOut) == 0 && out.Len() != 0 {
				t.Errorf("stdout on failure: %s", &out)
			}
			got := f.recorded()
			switch {
			case tc.wantAction == "" && len(got) != 0:
				t.Errorf("phone asked %q, want nothing", got)
			case tc.wantAction != "" && (len(got) != 1 || got[0] != tc.wantAction):
				t.Errorf("phone asked %q, want [%q]", got, tc.wantAction)
			}
		})
	}
}

func TestCLIStatusJSONRoundTrips(t *testing.T) {
	f := newFakePhone()
	_, c := startServer(t, f, Options{})
	var out, errOut bytes.Buffer
	if code := RunCLI(context.Background(), "status", []string{"--json"}, c, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, &errOut)
	}
	var st phone.Status
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Version != "1.2.3" || len(st.Calls) != 1 || string(st.Verdict) == "" {
		t.Errorf("status %+v", st)
	}
}

func TestCLIWrongToken(t *testing.T) {
	f := newFakePhone()
	s, _ := startServer(t, f, Options{})
	var out, errOut bytes.Buffer
	code := RunCLI(context.Background(), "hangup", nil, NewClient(s.Addr(), "wrong"), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "bearer token") {
		t.Errorf("exit %d, stderr %q", code, &errOut)
	}
	if len(f.recorded()) != 0 {
		t.Errorf("phone asked %q", f.recorded())
	}
}

func TestCLIDaemonNotRunning(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var out, errOut bytes.Buffer
	code := RunCLI(context.Background(), "status", nil, NewClient(addr, testToken), &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "is the daemon running") {
		t.Errorf("exit %d, stderr %q", code, &errOut)
	}
}

// lineWriter collects output and signals each write.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	n, err := w.buf.Write(p)
	w.mu.Unlock()
	w.wrote <- struct{}{}
	return n, err
}

func (w *lineWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Split(strings.TrimSpace(w.buf.String()), "\n")
}

func TestCLIEvents(t *testing.T) {
	f := newFakePhone()
	_, c := startServer(t, f, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWriter{wrote: make(chan struct{}, 16)}
	var errOut bytes.Buffer
	exit := make(chan int, 1)
	go func() { exit <- RunCLI(ctx, "events", nil, c, out, &errOut) }()
	sub := waitSub(t, f)
	for i := 1; i <= 3; i++ {
		if !sub.send(callEvent(uint64(i), "c1", []string{"", "ringing", "active", "ended"}[i])) {
			t.Fatal("event refused")
		}
		select {
		case <-out.wrote: // each event is written as it arrives
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d not printed", i)
		}
	}
	cancel() // the interrupt
	if code := <-exit; code != 0 {
		t.Errorf("exit %d after interrupt: %s", code, &errOut)
	}
	lines := out.lines()
	if len(lines) != 3 {
		t.Fatalf("%d lines: %q", len(lines), lines)
	}
	for i, l := range lines {
		var ev phone.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		var ci phone.CallInfo
		if err := json.Unmarshal(ev.Data, &ci); err != nil || ev.Seq != uint64(i+1) || ev.Type != "call" || ci.State != []string{"ringing", "active", "ended"}[i] {
			t.Errorf("line %d: %q", i, l)
		}
	}
}

func TestCLIEventsDaemonStops(t *testing.T) {
	f := newFakePhone()
	s, c := startServer(t, f, Options{})
	var out, errOut bytes.Buffer
	exit := make(chan int, 1)
	go func() { exit <- RunCLI(context.Background(), "events", nil, c, &out, &errOut) }()
	waitSub(t, f)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := <-exit; code != 1 || !strings.Contains(errOut.String(), "ended by the daemon") {
		t.Errorf("exit %d, stderr %q", code, &errOut)
	}
}

func TestIsCommand(t *testing.T) {
	for name, want := range map[string]bool{"status": true, "events": true, "transfer": true, "devices": false, "run": false, "": false} {
		if got := IsCommand(name); got != want {
			t.Errorf("IsCommand(%q) = %v", name, got)
		}
	}
}
