package control

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/softphone/softphone/internal/phone"
)

// TestMetrics: GET /v1/metrics needs the token and serves the phone's
// figures in the Prometheus text format.
func TestMetrics(t *testing.T) {
	f := newFakePhone()
	f.calls = []phone.CallInfo{{ID: "c7", Direction: "incoming", State: "active",
		Media: &phone.MediaInfo{MOS: 3.1, JitterMillis: 12, RTTMillis: 40, PacketsReceived: 900, PacketsLost: 100}}}
	f.quality = phone.Quality{LocalMOS: 3.1, VQAlarmOn: true}
	f.outcomes = []phone.CallOutcome{{Direction: "incoming", Outcome: "answered", Count: 4}, {Direction: "outgoing", Outcome: "failed", Count: 1}}
	s, _ := startServer(t, f, Options{})
	url := "http://" + s.Addr() + "/v1/metrics"

	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", res.StatusCode)
	}

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("%d %q\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	for _, want := range []string{
		`softphone_registrations{state="registered"} 1`,
		`softphone_registrations{state="failed"} 1`,
		`softphone_registrations{state="registering"} 0`,
		`softphone_calls{state="active"} 1`,
		`softphone_calls_total{direction="incoming",outcome="answered"} 4`,
		`softphone_calls_total{direction="outgoing",outcome="failed"} 1`,
		`softphone_call_mos{call="c7",direction="incoming"} 3.1`,
		`softphone_call_jitter_seconds{call="c7",direction="incoming"} 0.012`,
		`softphone_call_rtt_seconds{call="c7",direction="incoming"} 0.04`,
		`softphone_call_packet_loss_ratio{call="c7",direction="incoming"} 0.1`,
		`softphone_current_call_mos 3.1`,
		`softphone_voice_quality_alarm 1`,
		`softphone_device_verdict{should_answer="true"} 1`,
		`softphone_device_verdict{should_answer="false"} 0`,
		`softphone_headset_available 1`,
		`softphone_outgoing_allowed 1`,
		`softphone_info{version="1.2.3"} 1`,
		"# TYPE softphone_calls_total counter",
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// TestMetricsParse: Prometheus' own parser reads the exposition, each
// family once with its type, and label values that need escaping come
// back as they were.
func TestMetricsParse(t *testing.T) {
	f := newFakePhone()
	odd := "c\"8\\x\ny"
	f.calls = []phone.CallInfo{
		{ID: "c7", Direction: "incoming", State: "active", Media: &phone.MediaInfo{MOS: 4.2}},
		{ID: odd, Direction: "outgoing", State: "held", Media: &phone.MediaInfo{MOS: 2.5, PacketsReceived: 10}},
	}
	f.outcomes = []phone.CallOutcome{{Direction: "incoming", Outcome: "missed", Count: 1e6}}
	var b bytes.Buffer
	collect(f).write(&b)

	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	types := map[string]dto.MetricType{
		"softphone_calls_total":   dto.MetricType_COUNTER,
		"softphone_call_mos":      dto.MetricType_GAUGE,
		"softphone_calls":         dto.MetricType_GAUGE,
		"softphone_info":          dto.MetricType_GAUGE,
		"softphone_registrations": dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		fam, ok := fams[name]
		if !ok {
			t.Errorf("no family %s:\n%s", name, b.String())
			continue
		}
		if fam.GetType() != typ {
			t.Errorf("%s: type %v, want %v", name, fam.GetType(), typ)
		}
	}
	if got := fams["softphone_calls_total"].GetMetric()[0].GetCounter().GetValue(); got != 1e6 {
		t.Errorf("softphone_calls_total = %v, want 1e6", got)
	}
	mos := map[string]float64{}
	for _, m := range fams["softphone_call_mos"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "call" {
				mos[l.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	if mos["c7"] != 4.2 || mos[odd] != 2.5 || len(mos) != 2 {
		t.Errorf("softphone_call_mos by call = %v", mos)
	}
	if n := strings.Count(b.String(), "# TYPE softphone_calls "); n != 1 {
		t.Errorf("softphone_calls has %d TYPE lines, want 1", n)
	}
}
