package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/control"
	"github.com/softphone/softphone/internal/testbed"
)

// scrape GETs /v1/metrics from the daemon with token ("" sends none).
func scrape(t *testing.T, d *daemon, token string) (int, string) {
	t.Helper()
	c, _, err := config.Load(d.cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+c.Control.Listen+"/v1/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// TestMetricsE2E: the daemon's /v1/metrics, scraped with the API token,
// shows a call answered from sipp while it is up (its MOS, jitter and
// loss) and counts it as answered once it ended; without the token it is
// refused.
func TestMetricsE2E(t *testing.T) {
	td := startTransferDaemon(t)
	c, _, err := config.Load(td.cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, err := control.ReadToken(c.Control.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := scrape(t, td.daemon, ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
	code, body := scrape(t, td.daemon, token)
	if code != http.StatusOK {
		t.Fatalf("scrape: %d\n%s", code, body)
	}
	for _, want := range []string{`softphone_registrations{state="standalone"} 1`, `softphone_calls_total{direction="incoming",outcome="answered"} 0`,
		`softphone_device_verdict{should_answer="true"} 1`, `softphone_voice_quality_alarm 0`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("idle metrics lack %q:\n%s", want, body)
		}
	}

	caller := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_wait_bye.xml", Target: td.sipAddr, Service: "agent",
		Extra: []string{"-rtp_echo"}, Timeout: 60 * time.Second})
	ci := td.callEvent(t, "", "active")
	mos := regexp.MustCompile(`(?m)^softphone_call_mos\{call="` + regexp.QuoteMeta(ci.ID) + `",direction="incoming"\} ([0-9.]+)$`)
	if !testbed.WaitFor(20*time.Second, func() bool {
		_, body = scrape(t, td.daemon, token)
		m := mos.FindStringSubmatch(body)
		return m != nil && m[1] != "0"
	}) {
		t.Fatalf("no MOS for the call in the metrics:\n%s", body)
	}
	for _, want := range []string{`softphone_calls{state="active"} 1`, `softphone_call_packet_loss_ratio{call="` + ci.ID + `",direction="incoming"} 0`,
		`softphone_call_jitter_seconds{call="` + ci.ID + `",direction="incoming"}`, `softphone_current_call_mos `} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics during the call lack %q:\n%s", want, body)
		}
	}
	if err := td.client.Hangup(context.Background(), ci.ID); err != nil {
		t.Fatal(err)
	}
	td.callEvent(t, ci.ID, "ended")
	if _, err := caller.Wait(20 * time.Second); err != nil {
		t.Fatalf("caller: %v", err)
	}
	_, body = scrape(t, td.daemon, token)
	if !strings.Contains(body, `softphone_calls_total{direction="incoming",outcome="answered"} 1`+"\n") || strings.Contains(body, "softphone_call_mos{") {
		t.Errorf("after the call: want one answered incoming call and no call MOS:\n%s", body)
	}
}
