package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/testbed"
)

// curl runs curl against the daemon and returns the status code and body.
func curl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := append([]string{"-s", "-o", "-", "-w", "\n%{http_code}"}, args...)
	out, err := exec.CommandContext(ctx, "curl", full...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	s := strings.TrimRight(string(out), "\n")
	i := strings.LastIndex(s, "\n")
	var code int
	fmt.Sscanf(s[i+1:], "%d", &code)
	return code, s[:max(i, 0)]
}

// TestAgentDesktop drives the daemon the way an agent desktop does: the
// Connector-shaped routes without a token from loopback, CORS and Host
// checks, logout/login, audio settings, releasing calls, a reload by SIGHUP
// and by the CLI, the single-instance lock and the status page URL.
func TestAgentDesktop(t *testing.T) {
	testbed.Require(t, "kamailio", "pulseaudio", "pactl", "sipp", "curl")
	pa := testbed.StartPulse(t)
	pa.AddHeadset(t, "plantronics_bw3220", plantro)
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true})
	users := k.Users()
	base, sipPort := daemonConfig(t)
	sipAddr := fmt.Sprintf("127.0.0.1:%d", sipPort)
	body := func(user, extra string) string {
		return base + fmt.Sprintf(`
[control]
connector_without_token = 1
allowed_origins = https://desktop.example.com
[policy.device]
use_headset = 1
headset_name = Jabra
%s
[connectivity.0]
user = %s
password = %s
server = %s
reg_timeout = 60
`, extra, user, users[user], k.Addr())
	}
	// [control] appears twice otherwise: merge by writing the keys into the
	// first [control] section.
	merge := func(s string) string {
		s = strings.Replace(s, "\n[control]\nconnector_without_token = 1\nallowed_origins = https://desktop.example.com\n", "\n", 1)
		return strings.Replace(s, "[control]\n", "[control]\nconnector_without_token = 1\nallowed_origins = https://desktop.example.com\n", 1)
	}
	cfgPath := writeConfig(t, merge(body("alice", "")))
	if err := os.Chmod(cfgPath, 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, pa.Env(), cfgPath)
	ev := d.events(t)
	d.waitRegistration(t, ev, "registered")
	if _, err := d.proc.WaitLine("readable by others", 5*time.Second); err != nil {
		t.Errorf("no warning about a world-readable password file: %v", err)
	}
	cfg, _, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + cfg.Control.Listen

	// A second daemon for the same user refuses to start.
	_, errOut, code := runCLI(t, pa.Env(), "run", "-c", cfgPath)
	if code == 0 || !strings.Contains(errOut, "already running") {
		t.Errorf("second daemon: exit %d, stderr %q", code, errOut)
	}

	// GET /session without a token from loopback.
	code, out := curl(t, api+"/session")
	if code != 200 {
		t.Fatalf("GET /session: %d %s", code, out)
	}
	var sess struct {
		Devices struct {
			Speaker    struct{ Name string }
			Microphone struct {
				Name   string
				Muted  bool
				Volume int
			}
		}
		Connectivities struct {
			Connections []struct{ Server, User, State string }
		}
		Phone  struct{ Calls []json.RawMessage }
		Status string
	}
	if err := json.Unmarshal([]byte(out), &sess); err != nil {
		t.Fatalf("session JSON: %v\n%s", err, out)
	}
	if len(sess.Connectivities.Connections) != 1 || sess.Connectivities.Connections[0].User != "alice" || sess.Phone.Calls == nil {
		t.Errorf("session: %s", out)
	}
	if sess.Devices.Speaker.Name != plantro {
		t.Errorf("speaker %q, want the fallback %q", sess.Devices.Speaker.Name, plantro)
	}
	// /v1/ still needs the token; a foreign Origin and a foreign Host are refused.
	if code, _ := curl(t, api+"/v1/status"); code != 401 {
		t.Errorf("/v1/status without token: %d", code)
	}
	if code, _ := curl(t, "-H", "Origin: https://evil.example.com", api+"/session"); code != 403 {
		t.Errorf("foreign origin: %d", code)
	}
	if code, _ := curl(t, "-H", "Host: evil.example.com", api+"/session"); code != 403 {
		t.Errorf("foreign host: %d", code)
	}
	code, _ = curl(t, "-X", "OPTIONS", "-H", "Origin: https://desktop.example.com", "-H", "Access-Control-Request-Method: POST",
		"-H", "Access-Control-Request-Private-Network: true", "-D", "-", api+"/audio")
	if code != 204 && code != 200 {
		t.Errorf("preflight: %d", code)
	}

	// Audio settings. A body must say it is JSON: a form (what another
	// site's page can post without asking) is refused.
	if code, _ := curl(t, "-X", "POST", "-d", `{"microphone":{"muted":true}}`, api+"/audio"); code != 415 {
		t.Errorf("POST /audio as a form: %d, want 415", code)
	}
	code, out = curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"microphone":{"muted":true,"volume":80},"speaker":{"volume":60}}`, api+"/audio")
	if code != 200 || !strings.Contains(out, `"muted":true`) {
		t.Errorf("POST /audio: %d %s", code, out)
	}
	if code, _ := curl(t, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"speaker":{"volume":101}}`, api+"/audio"); code != 400 {
		t.Errorf("volume 101: %d", code)
	}

	// Logout and login.
	if code, out := curl(t, "-X", "DELETE", api+"/register"); code != 200 {
		t.Fatalf("DELETE /register: %d %s", code, out)
	}
	if c := k.WaitContacts(t, "alice", 0, 10*time.Second); len(c) != 0 {
		t.Errorf("alice still registered after DELETE /register: %q", c)
	}
	if code, out := curl(t, "-X", "POST", api+"/register"); code != 200 {
		t.Fatalf("POST /register: %d %s", code, out)
	}
	if c := k.WaitContacts(t, "alice", 1, 10*time.Second); len(c) != 1 {
		t.Errorf("alice not registered again: %q", c)
	}

	// DELETE /calls rejects a ringing call with 480.
	s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_expect_reject.xml", Target: sipAddr, Service: "alice",
		Vars: map[string]string{"expect": "480"}, Timeout: 30 * time.Second})
	waitEvent(t, ev, "call", 15*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), `"state":"ringing"`) })
	code, out = curl(t, "-X", "DELETE", api+"/calls")
	if code != 200 || !strings.Contains(out, `"released":1`) {
		t.Errorf("DELETE /calls: %d %s", code, out)
	}
	if res, err := s.Wait(30 * time.Second); err != nil || res.LogValue("code") != "480" {
		t.Errorf("released call: %v", err)
	}

	// Reload by SIGHUP: reject without a headset; no call is dropped.
	if err := os.WriteFile(cfgPath, []byte(merge(body("alice", "[policy.session]\nreject_session_when_headset_na = 1\nsip_code_when_headset_na = 486\n"))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.proc.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ev, "devices", 10*time.Second, func(data json.RawMessage) bool {
		var v verdict
		return json.Unmarshal(data, &v) == nil && v.ShouldAnswer == "false" && v.RejectCode == 486
	})
	res, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "invite_expect_reject.xml", Target: sipAddr, Service: "alice",
		Vars: map[string]string{"expect": "486"}, Timeout: 30 * time.Second})
	if err != nil || res.LogValue("code") != "486" {
		t.Errorf("after SIGHUP reload: %v", err)
	}

	// Reload by the CLI: the connection changes to bob and re-registers.
	if err := os.WriteFile(cfgPath, []byte(merge(body("bob", ""))), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, d.env, "reload", "-c", cfgPath)
	if code != 0 || !strings.Contains(out, "connectivity.0") {
		t.Errorf("reload: exit %d\n%s\n%s", code, out, errOut)
	}
	if c := k.WaitContacts(t, "bob", 1, 10*time.Second); len(c) != 1 {
		t.Errorf("bob not registered after reload: %q", c)
	}
	if c := k.WaitContacts(t, "alice", 0, 10*time.Second); len(c) != 0 {
		t.Errorf("alice still registered after reload: %q", c)
	}

	// The status page and its URL.
	out, _, code = runCLI(t, d.env, "page", "-c", cfgPath)
	if code != 0 || !strings.HasPrefix(out, "http://127.0.0.1:") || !strings.Contains(out, "/#token=") {
		t.Errorf("page: %d %q", code, out)
	}
	if code, html := curl(t, api+"/"); code != 200 || !strings.Contains(html, "<html") {
		t.Errorf("status page: %d", code)
	}
}
