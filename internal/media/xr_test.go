package media

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/softphone/softphone/internal/testbed"
)

// TestVoIPMetricsRoundTrip: a VoIP Metrics block survives pion's XR
// marshalling (RFC 3611 §4.7) within its field resolution.
func TestVoIPMetricsRoundTrip(t *testing.T) {
	in := VoIPMetrics{
		SSRC: 0x1a2b3c4d, LossRate: 0.1, DiscardRate: 0.02, GapDensity: 0.12, GapDuration: 95 * time.Second,
		RoundTripDelay: 120 * time.Millisecond, EndSystemDelay: 60 * time.Millisecond,
		RFactor: 71, MOSLQ: 3.9, MOSCQ: 3.6, Gmin: 16, RXConfig: xrPLCStandard | xrJBAdaptive,
		JBNominal: 40 * time.Millisecond, JBMaximum: 80 * time.Millisecond, JBAbsMax: 200 * time.Millisecond,
	}
	raw, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ExtendedReport{SenderSSRC: 5, Reports: []rtcp.ReportBlock{in.Block()}}})
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := rtcp.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	xr, ok := pkts[0].(*rtcp.ExtendedReport)
	if !ok || len(xr.Reports) != 1 {
		t.Fatalf("unmarshalled %v", pkts)
	}
	vm, ok := xr.Reports[0].(*rtcp.VoIPMetricsReportBlock)
	if !ok {
		t.Fatalf("block %T", xr.Reports[0])
	}
	if vm.SignalLevel != 127 || vm.NoiseLevel != 127 || vm.RERL != 127 || vm.ExtRFactor != 127 {
		t.Errorf("unmeasured fields %+v, want 127 (unavailable)", vm)
	}
	out := MetricsFromBlock(vm)
	near := func(a, b, tol float64) bool { return a-b <= tol && b-a <= tol }
	if out.SSRC != in.SSRC || !near(out.LossRate, in.LossRate, 1.0/256) || !near(out.DiscardRate, in.DiscardRate, 1.0/256) ||
		!near(out.GapDensity, in.GapDensity, 1.0/256) || out.GapDuration != 65535*time.Millisecond ||
		out.RoundTripDelay != in.RoundTripDelay || out.EndSystemDelay != in.EndSystemDelay || out.RFactor != in.RFactor ||
		out.MOSLQ != in.MOSLQ || out.MOSCQ != in.MOSCQ || out.Gmin != 16 || out.RXConfig != in.RXConfig ||
		out.JBNominal != in.JBNominal || out.JBMaximum != in.JBMaximum || out.JBAbsMax != in.JBAbsMax {
		t.Errorf("round trip\n in %+v\nout %+v (gap duration saturates at 65535 ms)", in, out)
	}
	if got := MetricsFromBlock(&rtcp.VoIPMetricsReportBlock{RFactor: 127, MOSLQ: 127, MOSCQ: 5}); got.RFactor != -1 || got.MOSLQ != 0 || got.MOSCQ != 0 {
		t.Errorf("unavailable values read as %+v", got)
	}
}

// TestXRBetweenSessions: each session sends its VoIP metrics of the other's
// stream in its RTCP, and each reads the other's block about its own.
func TestXRBetweenSessions(t *testing.T) {
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: g711("PCMU", addrOf(bRTP), SendRecv), RTCPTicker: newManualTicker().factory()})
	b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: g711("PCMU", addrOf(aRTP), SendRecv), RTCPTicker: newManualTicker().factory()})
	for range 5 {
		if err := a.WriteFrame(make([]int16, 160)); err != nil {
			t.Fatal(err)
		}
		if err := b.WriteFrame(make([]int16, 160)); err != nil {
			t.Fatal(err)
		}
	}
	if !testbed.WaitFor(hardTimeout, func() bool { return a.Stats().PacketsReceived == 5 && b.Stats().PacketsReceived == 5 }) {
		t.Fatal("rtp not received")
	}
	if got := b.Stats().PeerMetrics(); got.Valid() {
		t.Errorf("peer metrics before any RTCP: %+v", got)
	}
	if err := a.SendReport(); err != nil {
		t.Fatal(err)
	}
	if !testbed.WaitFor(hardTimeout, func() bool { return b.Stats().RemoteMetrics.Valid() }) {
		t.Fatal("b read no XR block")
	}
	sa, sb := a.Stats(), b.Stats()
	rm := sb.RemoteMetrics
	if rm.SSRC != sb.SSRC || sa.RemoteSSRC != sb.SSRC {
		t.Errorf("xr about ssrc %x, want b's %x", rm.SSRC, sb.SSRC)
	}
	if rm.LossRate != 0 || rm.Gmin != 16 || rm.MOSCQ < 4.2 || rm.MOSCQ > 4.5 || rm.RFactor < 85 {
		t.Errorf("b's stream as a saw it: %+v, want no loss and a MOS about 4.4", rm)
	}
	if sb.PeerMetrics() != rm {
		t.Errorf("PeerMetrics %+v, want the XR block", sb.PeerMetrics())
	}
}

// TestVQReportGrammar: the session report follows RFC 6035 §4.2: the
// lines in order, each Name:value with NAME=value parameters.
func TestVQReportGrammar(t *testing.T) {
	start := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	m := VoIPMetrics{SSRC: 0xdeadbeef, LossRate: 0.05, DiscardRate: 0.01, GapDensity: 0.06, GapDuration: 30 * time.Second,
		RoundTripDelay: 80 * time.Millisecond, EndSystemDelay: 60 * time.Millisecond, RFactor: 80, MOSLQ: 4.1, MOSCQ: 4.0, Gmin: 16,
		JBNominal: 40 * time.Millisecond, JBMaximum: 60 * time.Millisecond, JBAbsMax: 200 * time.Millisecond}
	r := VQReport{
		CallID: "abc123@host", LocalID: "<sip:agent7@pbx.example.com>", RemoteID: "<sip:caller@example.net>", OrigID: "<sip:caller@example.net>",
		LocalGroup: "softphone/1.0", LocalAddr: netip.MustParseAddrPort("10.0.0.5:10000"), RemoteAddr: netip.MustParseAddrPort("10.0.0.9:40000"),
		LocalSSRC: 0x1234, RemoteSSRC: 0xdeadbeef, Start: start, Stop: start.Add(30 * time.Second),
		Codec: Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}, PTime: 20, Local: m,
		Remote:   VoIPMetrics{SSRC: 0x1234, Gmin: 16, LossRate: 0.02, RFactor: -1},
		DialogID: "abc123@host;to-tag=t1;from-tag=f1",
	}
	body := string(r.Marshal())
	if !strings.HasSuffix(body, "\r\n") || strings.Contains(strings.ReplaceAll(body, "\r\n", ""), "\n") {
		t.Fatalf("lines must end in CRLF:\n%q", body)
	}
	ts := `START=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ STOP=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
	metrics := []string{
		`Timestamps:` + ts,
		`SessionDesc:PT=\d+ PD=\S+ SR=\d+ FD=\d+ FPP=\d+ PPS=\d+ PLC=[0-3] SSUP=(on|off)`,
		`JitterBuffer:JBA=[0-3] JBR=\d+ JBN=\d+ JBM=\d+ JBX=\d+`,
		`PacketLoss:NLR=\d+\.\d JDR=\d+\.\d`,
		`BurstGapLoss:BLD=\d+\.\d BD=\d+ GLD=\d+\.\d GD=\d+ GMIN=\d+`,
		`Delay:RTD=\d+ ESD=\d+`,
	}
	want := []string{
		`VQSessionReport: CallTerm`, `CallID:abc123@host`, `LocalID:<sip:agent7@pbx\.example\.com>`, `RemoteID:<sip:caller@example\.net>`,
		`OrigID:<sip:caller@example\.net>`, `LocalGroup:softphone/1\.0`,
		`LocalAddr:IP=10\.0\.0\.5 PORT=10000 SSRC=00001234`, `RemoteAddr:IP=10\.0\.0\.9 PORT=40000 SSRC=deadbeef`,
		`LocalMetrics:`,
	}
	want = append(want, metrics...)
	want = append(want, `QualityEst:RCQ=80 MOSLQ=4\.1 MOSCQ=4\.0`, `RemoteMetrics:`)
	want = append(want, metrics...)
	want = append(want, `DialogID:abc123@host;to-tag=t1;from-tag=f1`)
	lines := strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), body)
	}
	for i, w := range want {
		if !regexp.MustCompile(`^` + w + `$`).MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i+1, lines[i], w)
		}
	}
	for _, l := range []string{"PacketLoss:NLR=5.0 JDR=1.0", "Delay:RTD=80 ESD=60", "JitterBuffer:JBA=3 JBR=0 JBN=40 JBM=60 JBX=200",
		"BurstGapLoss:BLD=0.0 BD=0 GLD=6.0 GD=30000 GMIN=16", "SessionDesc:PT=0 PD=PCMU SR=8000 FD=20 FPP=1 PPS=50 PLC=3 SSUP=off",
		"Timestamps:START=2026-12-03T08:00:00Z STOP=2026-12-03T08:00:30Z"} {
		if !strings.Contains(body, l+"\r\n") {
			t.Errorf("body lacks %q", l)
		}
	}
	// The peer's figures without XR have no quality estimate line.
	if strings.Count(body, "QualityEst:") != 1 {
		t.Errorf("QualityEst lines: %d, want 1 (remote has no estimate)", strings.Count(body, "QualityEst:"))
	}
	r.Remote = VoIPMetrics{}
	if strings.Contains(string(r.Marshal()), "RemoteMetrics:") {
		t.Error("RemoteMetrics written without any peer figures")
	}
}

func TestQualityCause(t *testing.T) {
	tests := []struct {
		name string
		st   Stats
		want string
	}{
		{"loss", Stats{Codec: "PCMU", RTT: 40 * time.Millisecond, LocalMetrics: VoIPMetrics{LossRate: 0.2, EndSystemDelay: 60 * time.Millisecond}}, "loss"},
		{"late packets", Stats{Codec: "PCMU", RTT: 40 * time.Millisecond, LocalMetrics: VoIPMetrics{LossRate: 0.01, DiscardRate: 0.15, EndSystemDelay: 120 * time.Millisecond}}, "jitter"},
		{"deep buffer", Stats{Codec: "PCMU", RTT: 40 * time.Millisecond, LocalMetrics: VoIPMetrics{EndSystemDelay: 220 * time.Millisecond}}, "jitter"},
		{"long round trip", Stats{Codec: "PCMU", RTT: 900 * time.Millisecond, LocalMetrics: VoIPMetrics{LossRate: 0.005, EndSystemDelay: 60 * time.Millisecond}}, "delay"},
	}
	for _, tt := range tests {
		if got := QualityCause(tt.st); got != tt.want {
			t.Errorf("%s: cause %q, want %q", tt.name, got, tt.want)
		}
	}
}
