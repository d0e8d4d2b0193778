package control

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// GET /v1/metrics: the phone's figures in the Prometheus text format, for
// a fleet's monitoring to scrape with the API token. Everything is read
// from the phone at each scrape: levels (registrations, calls, voice
// quality, the device verdict) and the phone's count of ended calls.

// regStates are the registration states always exported, at 0 when no
// connection is in them, so a dashboard sees the series before they move.
var regStates = []string{"unregistered", "registering", "registered", "failed", "standalone"}

// metrics is the Prometheus registry of one Server.
type metrics struct {
	reg *prometheus.Registry
}

func newMetrics(p Phone) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(phoneCollector{p: p})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// phoneCollector reads the phone's levels at each scrape.
type phoneCollector struct{ p Phone }

var (
	descRegistrations = prometheus.NewDesc("softphone_registrations",
		"SIP connections ([connectivity.N]) by registration state.", []string{"state"}, nil)
	descCalls = prometheus.NewDesc("softphone_calls",
		"Current calls by state.", []string{"state"}, nil)
	descMOS = prometheus.NewDesc("softphone_call_mos",
		"A current call's MOS estimate (ITU-T G.107 E-model, 1-4.5) of the audio received.", []string{"call", "direction"}, nil)
	descJitter = prometheus.NewDesc("softphone_call_jitter_seconds",
		"A current call's interarrival jitter (RFC 3550 §6.4.1).", []string{"call", "direction"}, nil)
	descLoss = prometheus.NewDesc("softphone_call_packet_loss_ratio",
		"A current call's packets lost in the network, as a fraction of those expected (0-1).", []string{"call", "direction"}, nil)
	descRTT = prometheus.NewDesc("softphone_call_rtt_seconds",
		"A current call's round-trip time from RTCP (0 until known).", []string{"call", "direction"}, nil)
	descCurrentMOS = prometheus.NewDesc("softphone_current_call_mos",
		"The MOS estimate of the current call (the oldest one answered); absent without one.", nil, nil)
	descAlarm = prometheus.NewDesc("softphone_voice_quality_alarm",
		"1 while the current call's MOS is below vq_alarm_threshold.", nil, nil)
	descVerdict = prometheus.NewDesc("softphone_device_verdict",
		"The device policy's verdict for a call now (should_answer true, false or unknown): 1 for the current one.", []string{"should_answer"}, nil)
	descHeadset = prometheus.NewDesc("softphone_headset_available",
		"1 when a headset_name device is present (microphone and speaker).", nil, nil)
	descOutgoing = prometheus.NewDesc("softphone_outgoing_allowed",
		"1 when the device policy allows placing calls.", nil, nil)
	descOutcomes = prometheus.NewDesc("softphone_calls_total",
		"Calls ended since the daemon started, by outcome: answered, rejected (refused here), missed (an incoming call nobody answered), failed (an outgoing call not answered).", []string{"direction", "outcome"}, nil)
	descInfo = prometheus.NewDesc("softphone_info",
		"Always 1; the version is a label.", []string{"version"}, nil)
)

func (c phoneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRegistrations, descCalls, descMOS, descJitter, descLoss, descRTT,
		descCurrentMOS, descAlarm, descVerdict, descHeadset, descOutgoing, descOutcomes, descInfo} {
		ch <- d
	}
}

func (c phoneCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descInfo, 1, st.Version)
	for _, o := range c.p.CallOutcomes() {
		ch <- prometheus.MustNewConstMetric(descOutcomes, prometheus.CounterValue, float64(o.Count), o.Direction, o.Outcome)
	}

	regs := map[string]int{}
	for _, r := range st.Registrations {
		regs[r.State]++
	}
	for _, s := range regStates {
		gauge(descRegistrations, float64(regs[s]), s)
		delete(regs, s)
	}
	for s, n := range regs {
		gauge(descRegistrations, float64(n), s)
	}

	states := map[string]int{}
	for _, ci := range st.Calls {
		states[ci.State]++
		mi := ci.Media
		if mi == nil {
			continue
		}
		gauge(descMOS, mi.MOS, ci.ID, ci.Direction)
		gauge(descJitter, mi.JitterMillis/1000, ci.ID, ci.Direction)
		gauge(descRTT, mi.RTTMillis/1000, ci.ID, ci.Direction)
		loss := 0.0
		if exp := float64(max(mi.PacketsLost, 0)) + float64(mi.PacketsReceived); exp > 0 {
			loss = float64(max(mi.PacketsLost, 0)) / exp
		}
		gauge(descLoss, loss, ci.ID, ci.Direction)
	}
	for s, n := range states {
		gauge(descCalls, float64(n), s)
	}

	q := c.p.Quality()
	if q.LocalMOS > 0 {
		gauge(descCurrentMOS, q.LocalMOS)
	}
	gauge(descAlarm, b2f(q.VQAlarmOn))

	var v struct {
		HeadsetAvailable bool   `json:"headset_available"`
		ShouldAnswer     string `json:"should_answer"`
		OutgoingAllowed  bool   `json:"outgoing_allowed"`
	}
	if json.Unmarshal(st.Verdict, &v) == nil && v.ShouldAnswer != "" {
		for _, s := range []string{"true", "false", "unknown"} {
			gauge(descVerdict, b2f(v.ShouldAnswer == s), s)
		}
		gauge(descHeadset, b2f(v.HeadsetAvailable))
		gauge(descOutgoing, b2f(v.OutgoingAllowed))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// getMetrics serves GET /v1/metrics.
func (s *Server) getMetrics(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler().ServeHTTP(w, r)
}
