package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/control"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// verdict is the `softphone devices --json` object as tests read it.
type verdict struct {
	Capture  []vdev `json:"capture"`
	Playback []vdev `json:"playback"`
	Input    *vsel  `json:"input"`
	Output   *vsel  `json:"output"`

	HeadsetAvailable  bool   `json:"headset_available"`
	AutoAnswerBlocked bool   `json:"auto_answer_blocked"`
	ShouldAnswer      string `json:"should_answer"`
	RejectCode        int    `json:"reject_code"`
	OutgoingAllowed   bool   `json:"outgoing_allowed"`
	Reason            string `json:"reason"`
}

type vdev struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Default bool   `json:"default"`
	Monitor bool   `json:"monitor"`
}

type vsel struct {
	Name     string `json:"name"`
	ID       string `json:"id"`
	Fallback bool   `json:"fallback"`
}

func (v verdict) inName() string {
	if v.Input == nil {
		return ""
	}
	return v.Input.Name
}

func (v verdict) outName() string {
	if v.Output == nil {
		return ""
	}
	return v.Output.Name
}

// writeConfig writes an ini file into a temp dir and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "softphone.ini")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCLI runs the softphone binary to completion and returns stdout,
// stderr and the exit code.
func runCLI(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testbed.SoftphoneBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("softphone %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	if r := testbed.RaceReport(errb.String()); r != "" {
		t.Errorf("softphone %v reported a data race:\n%s", args, r)
	}
	return out.String(), errb.String(), code
}

// devicesJSON runs `softphone devices --json` and parses its stdout, which
// must hold the JSON only.
func devicesJSON(t *testing.T, env []string, cfg string) (verdict, string) {
	t.Helper()
	out, errOut, code := runCLI(t, env, "devices", "--json", "-c", cfg)
	if code != 0 {
		t.Fatalf("devices --json exit %d\nstdout:%s\nstderr:%s", code, out, errOut)
	}
	var v verdict
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("devices --json stdout is not the verdict JSON: %v\n%s", err, out)
	}
	return v, errOut
}

// daemon is a running `softphone run` with its API client.
type daemon struct {
	proc   *testbed.Process
	client *control.Client
	cfg    string
	env    []string
}

// daemonConfig returns the [policy.endpoint] and [control] sections a test
// daemon needs: loopback, ports chosen now, a token file in a temp dir.
func daemonConfig(t *testing.T) (string, int) {
	t.Helper()
	sipPort := testbed.FreePort(t, 1)
	ctl := testbed.FreePort(t, 1)
	rtp := testbed.FreePort(t, 1)
	token := filepath.Join(t.TempDir(), "token")
	return fmt.Sprintf(`[policy.endpoint]
sip_address = 127.0.0.1
sip_port = %d
rtp_port_min = %d
rtp_port_max = %d

[control]
listen = 127.0.0.1:%d
token_file = %s

[system.log]
level = debug
`, sipPort, rtp-rtp%2+2, rtp-rtp%2+200, ctl, token), sipPort
}

// startDaemon runs `softphone run -c cfg` and waits until its API answers.
func startDaemon(t *testing.T, env []string, cfg string) *daemon {
	t.Helper()
	dir := testbed.Dir(t, "daemon")
	p := testbed.Start(t, dir, env, testbed.SoftphoneBinary(t), "run", "-c", cfg)
	if _, err := p.WaitLine("control API listening", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine("sip listening", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := control.ReadToken(c.Control.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{proc: p, client: control.NewClient("http://"+c.Control.Listen, tok), cfg: cfg, env: env}
	return d
}

// events subscribes to the daemon's event stream; the returned channel is
// fed until the test ends.
func (d *daemon) events(t *testing.T) <-chan phone.Event {
	t.Helper()
	ch := make(chan phone.Event, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.client.Events(ctx, func(ev phone.Event) {
			select {
			case ch <- ev:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	// The stream opens with the current state: once it is here, no later
	// event can be missed.
	select {
	case ev := <-ch:
		if ev.Type != "status" {
			t.Fatalf("first event is %q, want status", ev.Type)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream did not open within 10 s")
	}
	return ch
}

// waitEvent waits for an event of type typ whose data satisfies match.
func waitEvent(t *testing.T, ch <-chan phone.Event, typ string, timeout time.Duration, match func(json.RawMessage) bool) json.RawMessage {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-ch:
			if ev.Type == typ && match(ev.Data) {
				return ev.Data
			}
		case <-deadline:
			t.Fatalf("no %s event matching within %s", typ, timeout)
			return nil
		}
	}
}
