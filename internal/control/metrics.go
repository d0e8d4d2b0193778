package control

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// GET /v1/metrics: the phone's figures in the Prometheus text format, for
// a fleet's monitoring to scrape with the API token. Everything is read
// from the phone at each scrape: levels (registrations, calls, voice
// quality, the device verdict) and the phone's count of ended calls.
//
// The exposition is written here rather than through Prometheus' Go
// client: the client brings protobuf, procfs and a registry for what is
// a page of constant metrics read at each scrape, and those packages were
// about 6 MB of the binary, resident in every agent's daemon. The format
// is the text one (version 0.0.4), which every Prometheus scrapes;
// TestMetricsParse checks the output with Prometheus' own parser.

// regStates are the registration states always exported, at 0 when no
// connection is in them, so a dashboard sees the series before they move.
var regStates = []string{"unregistered", "registering", "registered", "failed", "standalone"}

// metricsContentType is the text exposition format's media type.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// family is one metric: its name, help, type and label names.
type family struct {
	name, help, typ string
	labels          []string
}

var (
	famInfo          = family{"softphone_info", "Always 1; the version is a label.", "gauge", []string{"version"}}
	famOutcomes      = family{"softphone_calls_total", "Calls ended since the daemon started, by outcome: answered, rejected (refused here), missed (an incoming call nobody answered), failed (an outgoing call not answered).", "counter", []string{"direction", "outcome"}}
	famRegistrations = family{"softphone_registrations", "SIP connections ([connectivity.N]) by registration state.", "gauge", []string{"state"}}
	famCalls         = family{"softphone_calls", "Current calls by state.", "gauge", []string{"state"}}
	famMOS           = family{"softphone_call_mos", "A current call's MOS estimate (ITU-T G.107 E-model, 1-4.5) of the audio received.", "gauge", []string{"call", "direction"}}
	famJitter        = family{"softphone_call_jitter_seconds", "A current call's interarrival jitter (RFC 3550 §6.4.1).", "gauge", []string{"call", "direction"}}
	famRTT           = family{"softphone_call_rtt_seconds", "A current call's round-trip time from RTCP (0 until known).", "gauge", []string{"call", "direction"}}
	famLoss          = family{"softphone_call_packet_loss_ratio", "A current call's packets lost in the network, as a fraction of those expected (0-1).", "gauge", []string{"call", "direction"}}
	famCurrentMOS    = family{"softphone_current_call_mos", "The MOS estimate of the current call (the oldest one answered); absent without one.", "gauge", nil}
	famAlarm         = family{"softphone_voice_quality_alarm", "1 while the current call's MOS is below vq_alarm_threshold.", "gauge", nil}
	famVerdict       = family{"softphone_device_verdict", "The device policy's verdict for a call now (should_answer true, false or unknown): 1 for the current one.", "gauge", []string{"should_answer"}}
	famHeadset       = family{"softphone_headset_available", "1 when a headset_name device is present (microphone and speaker).", "gauge", nil}
	famOutgoing      = family{"softphone_outgoing_allowed", "1 when the device policy allows placing calls.", "gauge", nil}
)

// sample is one value of a family, with its label values in the
// family's order.
type sample struct {
	labels []string
	v      float64
}

// exposition gathers samples by family and writes them, each family once
// with its HELP and TYPE lines, in the order families were first used.
type exposition struct {
	order []*family
	by    map[*family][]sample
}

func (e *exposition) add(f *family, v float64, labels ...string) {
	if e.by == nil {
		e.by = map[*family][]sample{}
	}
	if _, ok := e.by[f]; !ok {
		e.order = append(e.order, f)
	}
	e.by[f] = append(e.by[f], sample{labels: labels, v: v})
}

func (e *exposition) write(b *bytes.Buffer) {
	for _, f := range e.order {
		b.WriteString("# HELP " + f.name + " " + helpEscaper.Replace(f.help) + "\n")
		b.WriteString("# TYPE " + f.name + " " + f.typ + "\n")
		for _, s := range e.by[f] {
			b.WriteString(f.name)
			if len(f.labels) > 0 {
				b.WriteByte('{')
				for i, l := range f.labels {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(l + `="` + labelEscaper.Replace(s.labels[i]) + `"`)
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(formatValue(s.v))
			b.WriteByte('\n')
		}
	}
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// formatValue writes a sample's value as the text format spells it.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// collect reads the phone's levels for one scrape.
func collect(p Phone) *exposition {
	e := &exposition{}
	st := p.Status()
	e.add(&famInfo, 1, st.Version)
	for _, o := range p.CallOutcomes() {
		e.add(&famOutcomes, float64(o.Count), o.Direction, o.Outcome)
	}

	regs := map[string]int{}
	for _, r := range st.Registrations {
		regs[r.State]++
	}
	for _, s := range regStates {
		e.add(&famRegistrations, float64(regs[s]), s)
		delete(regs, s)
	}
	for _, s := range slices.Sorted(maps.Keys(regs)) {
		e.add(&famRegistrations, float64(regs[s]), s)
	}

	states := map[string]int{}
	for _, ci := range st.Calls {
		states[ci.State]++
		mi := ci.Media
		if mi == nil {
			continue
		}
		e.add(&famMOS, mi.MOS, ci.ID, ci.Direction)
		e.add(&famJitter, mi.JitterMillis/1000, ci.ID, ci.Direction)
		e.add(&famRTT, mi.RTTMillis/1000, ci.ID, ci.Direction)
		loss := 0.0
		if exp := float64(max(mi.PacketsLost, 0)) + float64(mi.PacketsReceived); exp > 0 {
			loss = float64(max(mi.PacketsLost, 0)) / exp
		}
		e.add(&famLoss, loss, ci.ID, ci.Direction)
	}
	for _, s := range slices.Sorted(maps.Keys(states)) {
		e.add(&famCalls, float64(states[s]), s)
	}

	q := p.Quality()
	if q.LocalMOS > 0 {
		e.add(&famCurrentMOS, q.LocalMOS)
	}
	e.add(&famAlarm, b2f(q.VQAlarmOn))

	var v struct {
		HeadsetAvailable bool   `json:"headset_available"`
		ShouldAnswer     string `json:"should_answer"`
		OutgoingAllowed  bool   `json:"outgoing_allowed"`
	}
	if json.Unmarshal(st.Verdict, &v) == nil && v.ShouldAnswer != "" {
		for _, s := range []string{"true", "false", "unknown"} {
			e.add(&famVerdict, b2f(v.ShouldAnswer == s), s)
		}
		e.add(&famHeadset, b2f(v.HeadsetAvailable))
		e.add(&famOutgoing, b2f(v.OutgoingAllowed))
	}
	return e
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// getMetrics serves GET /v1/metrics.
func (s *Server) getMetrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	collect(s.phone).write(&b)
	w.Header().Set("Content-Type", metricsContentType)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b.Bytes())
}
