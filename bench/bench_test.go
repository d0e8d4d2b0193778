package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/softphone/softphone/internal/testbed"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		name    string
		xs      []float64
		p       float64
		want    float64
		wantErr error
	}{
		{"empty", nil, 50, 0, ErrNoSamples},
		{"bad p", []float64{1}, 101, 0, ErrBadOptions},
		{"one", []float64{7}, 99, 7, nil},
		{"median of 4 (nearest rank)", []float64{4, 1, 3, 2}, 50, 2, nil},
		{"p99 of 100", seq(100), 99, 99, nil},
		{"p0 is the minimum", []float64{3, 2, 1}, 0, 1, nil},
		{"p100 is the maximum", []float64{3, 2, 1}, 100, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Percentile(tt.xs, tt.p)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[n-1-i] = float64(i + 1)
	}
	return out
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		xs      []float64
		want    Spread
		wantErr error
	}{
		{"empty", nil, Spread{}, ErrNoSamples},
		{"odd", []float64{5, 1, 3}, Spread{1, 3, 5, 3}, nil},
		{"even: mean of the middle two", []float64{4, 1, 2, 10}, Spread{1, 3, 10, 4}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Summarize(tt.xs)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	if _, ok := Ratio(1, 0); ok {
		t.Error("ratio over zero has a value")
	}
	if q, ok := Ratio(1, 4); !ok || q != 0.25 {
		t.Errorf("1/4 = %v %v", q, ok)
	}
}

// TestRampResult: figure 9's ramp gives the largest level carried intact,
// 0 when the smallest level already had dropouts, and no number only when
// a level could not be measured or none ran.
func TestRampResult(t *testing.T) {
	broken := errors.New("daemon did not answer")
	for _, c := range []struct {
		levels, best int
		ended        error
		want         float64
		fails        bool
	}{
		{levels: 3, best: 8, want: 8},
		{levels: 2, best: 4, ended: broken, want: 4},
		{levels: 1, best: 0, want: 0},
		{levels: 1, best: 0, ended: broken, fails: true},
		{levels: 0, fails: true},
	} {
		v, err := rampResult(c.levels, c.best, c.ended)
		if c.fails {
			if !errors.Is(err, ErrFigureFailed) {
				t.Errorf("rampResult(%d, %d, %v) = %v, %v; want ErrFigureFailed", c.levels, c.best, c.ended, v, err)
			}
			if c.ended != nil && !errors.Is(err, c.ended) {
				t.Errorf("rampResult(%d, %d, %v): %v does not carry why", c.levels, c.best, c.ended, err)
			}
			continue
		}
		if err != nil || v != c.want {
			t.Errorf("rampResult(%d, %d, %v) = %v, %v; want %v", c.levels, c.best, c.ended, v, err, c.want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	tail := " S 1 2 3 4 5 6 7 8 9 10 %s %s 13 14 15 16 17 18 19 20"
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr error
	}{
		{"plain", "42 (softphone)" + strings.Replace(strings.Replace(tail, "%s", "250", 1), "%s", "50", 1), 300, nil},
		{"name with spaces and parens", "42 (a (b) c)" + strings.Replace(strings.Replace(tail, "%s", "1", 1), "%s", "2", 1), 3, nil},
		{"no name", "42 softphone S 1", 0, ErrBadProcStat},
		{"short", "42 (x) S 1 2 3", 0, ErrBadProcStat},
		{"not a number", "42 (x)" + strings.Replace(strings.Replace(tail, "%s", "u", 1), "%s", "2", 1), 0, ErrBadProcStat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatCPU(tt.stat)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("got %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int
		wantErr error
	}{
		{"present", "Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t   20480 kB\n", 20480, nil},
		{"missing (kernel thread)", "Name:\tkthreadd\n", 0, ErrBadProcStat},
		{"bad unit", "VmRSS:\t 12 MB\n", 0, ErrBadProcStat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatusRSS(tt.status)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("got %d, %v; want %d, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOwnProcess(t *testing.T) {
	if _, err := cpuTicks(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	mb, err := rssMB(os.Getpid())
	if err != nil || mb <= 0 {
		t.Fatalf("rss %v MB, %v", mb, err)
	}
}

func TestCPUPercent(t *testing.T) {
	tests := []struct {
		ticks uint64
		wall  time.Duration
		want  float64
	}{
		{100, time.Second, 100},
		{5, 10 * time.Second, 0.5},
		{7, 0, 0},
	}
	for _, tt := range tests {
		if got := CPUPercent(tt.ticks, tt.wall); got != tt.want {
			t.Errorf("CPUPercent(%d, %s) = %v, want %v", tt.ticks, tt.wall, got, tt.want)
		}
	}
}

const sampleTrace = `----------------------------------------------- 2026-11-25 18:48:59.217395
UDP message sent (511 bytes):

INVITE sip:agent@127.0.0.1:5090 SIP/2.0
Call-ID: 1-87@127.0.0.1
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 18:48:59.217628
UDP message received [309] bytes :

SIP/2.0 100 Trying
Call-ID: 1-87@127.0.0.1
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 18:48:59.219895
UDP message received [309] bytes :

SIP/2.0 200 OK
Call-ID: 1-87@127.0.0.1
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 18:48:59.300000
UDP message sent (511 bytes):

INVITE sip:agent@127.0.0.1:5090 SIP/2.0
i: 2-87@127.0.0.1
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 18:48:59.301000
UDP message received [309] bytes :

SIP/2.0 200 OK
i: 2-87@127.0.0.1
CSeq: 2 BYE

----------------------------------------------- 2026-11-25 18:48:59.310000
UDP message sent (511 bytes):

INVITE sip:agent@127.0.0.1:5090 SIP/2.0
Call-ID: 3-87@127.0.0.1
CSeq: 1 INVITE

----------------------------------------------- 2026-11-25 18:48:59.320500
UDP message received [309] bytes :

SIP/2.0 200 OK
Call-ID: 3-87@127.0.0.1
CSeq: 1 INVITE
`

func TestSetupTimes(t *testing.T) {
	tests := []struct {
		name    string
		trace   string
		want    []float64
		wantErr error
	}{
		{"two answered, a 200 to BYE is not an answer", sampleTrace, []float64{2.5, 10.5}, nil},
		{"empty", "", nil, nil},
		{"bad time", "----- yesterday\n", nil, ErrFigureFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetupTimes(tt.trace)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("call %d: %v ms, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseRTT(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr error
	}{
		{"header and rows", "Date_ms;response_time_ms;rtd_no\n1764096539217;0;rtd1\n1764096539218;3;rtd1\n", 2, nil},
		{"bad value", "Date_ms;response_time_ms;rtd_no\n1;x;rtd1\n", 0, ErrFigureFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRTT(strings.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) || len(got) != tt.want {
				t.Errorf("got %v, %v; want %d values, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestULaw(t *testing.T) {
	tests := []struct {
		in   int16
		code byte
	}{
		{0, 0xff},
		{-1, 0x7f},
		{32767, 0x80},
		{-32768, 0x00},
	}
	for _, tt := range tests {
		if got := ULawEncode(tt.in); got != tt.code {
			t.Errorf("encode %d = %#x, want %#x", tt.in, got, tt.code)
		}
	}
	// every code decodes to a value that encodes back to it (0x7f and
	// 0xff both mean zero)
	for c := 0; c < 256; c++ {
		v := ULawDecode(byte(c))
		if back := ULawEncode(v); back != byte(c) && !(v == 0 && back == 0xff) {
			t.Errorf("code %#x → %d → %#x", c, v, back)
		}
	}
}

func TestOnsetDetector(t *testing.T) {
	d := newOnsetDetector()
	end := time.Unix(100, 0)
	block := make([]int16, 160)
	block[80] = 20000
	d.feed(block, end) // not armed: ignored
	d.arm()
	d.feed(make([]int16, 160), end)
	d.feed(block, end)
	got, err := d.wait(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := end.Add(-10 * time.Millisecond); !got.Equal(want) {
		t.Errorf("onset %v, want %v (80 samples before the block's end)", got, want)
	}
	if _, err := d.wait(10 * time.Millisecond); !errors.Is(err, ErrNotMeasurable) {
		t.Errorf("a second wait without a tone: %v", err)
	}
}

func TestImplAndOrder(t *testing.T) {
	for im, want := range map[Impl]string{ImplUnknown: "unknown", ImplOurs: "ours", ImplBaresip: "baresip", Impl(9): "unknown"} {
		if im.String() != want {
			t.Errorf("%d: %q, want %q", int(im), im.String(), want)
		}
	}
	if order(0) != [2]Impl{ImplOurs, ImplBaresip} || order(1) != [2]Impl{ImplBaresip, ImplOurs} {
		t.Errorf("runs do not alternate: %v %v", order(0), order(1))
	}
}

func TestOptionsValidate(t *testing.T) {
	bin := os.Args[0]
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr error
	}{
		{"full", func(o *Options) {}, nil},
		{"no binary", func(o *Options) { o.Softphone = "" }, ErrBadOptions},
		{"missing binary", func(o *Options) { o.Softphone = "/nonexistent/softphone" }, ErrBadOptions},
		{"zero runs", func(o *Options) { o.Runs = 0 }, ErrBadOptions},
		{"empty ramp", func(o *Options) { o.RejectRates = nil }, ErrBadOptions},
		{"no switch cycles", func(o *Options) { o.SwitchCycles = 0 }, ErrBadOptions},
		{"no switch calibration", func(o *Options) { o.SwitchCalibration = 0 }, ErrBadOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Full()
			o.Softphone = bin
			tt.edit(&o)
			if err := o.validate(); !errors.Is(err, tt.wantErr) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestMoreHeadsets(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"Plantronics Blackwire 3220"}, "headset_name = Plantronics Blackwire 3220\n"},
		{[]string{"A", "B"}, "headset_name = A\nheadset_name = B\n"},
	}
	for _, tt := range tests {
		if got := moreHeadsets(tt.in); got != tt.want {
			t.Errorf("moreHeadsets(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRowFinishAndTable(t *testing.T) {
	r := &Row{ID: "9", Figure: "x", Unit: "ms", Goal: "ours ≤ 5", goal: oursAtMost(5)}
	r.Ours.add(4)
	r.Ours.add(6)
	r.Ours.add(5)
	r.Baresip.add(10)
	r.finish()
	if r.Ratio == nil || *r.Ratio != 0.5 || r.Met != "yes" {
		t.Fatalf("ratio %v met %q", r.Ratio, r.Met)
	}
	na := &Row{ID: "8", Figure: "y", Unit: "ms", goal: oursAtMost(1)}
	na.Ours.fail(ErrNotMeasurable)
	na.finish()
	if na.Met != "n/a" || na.Ratio != nil {
		t.Fatalf("row without numbers: met %q ratio %v", na.Met, na.Ratio)
	}
	rep := &Report{Rows: []Row{*r, *na}}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| 9 | x | ms | 4.00–5.00–6.00 | 10.0 | 0.50 | ours ≤ 5 | yes |", "| 8 | y | ms | n/a |", "8 ours: bench: not measurable yet"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}

func TestRunTBFatalIsRecovered(t *testing.T) {
	tb := newRunTB(slog.New(slog.DiscardHandler))
	ran := false
	tb.Cleanup(func() { ran = true })
	err := guard(func() error { tb.Fatalf("boom %d", 1); return nil })
	if !errors.Is(err, ErrFigureFailed) || !strings.Contains(err.Error(), "boom 1") {
		t.Errorf("guard: %v", err)
	}
	tb.Close()
	if !ran {
		t.Error("cleanup did not run")
	}
}

// TestHarnessTiny runs the whole harness once on tiny settings against the
// real peers and checks that the table and the JSON hold every row.
func TestHarnessTiny(t *testing.T) {
	testbed.Require(t, "pulseaudio", "pactl", "pacat", "parec", "sipp", "baresip", "kamailio", "rtpengine")
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	opts := Tiny()
	opts.Softphone = testbed.SoftphoneBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, opts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1a", "1b", "1c", "1d", "2a", "2b", "2c", "3a", "3a+", "3a'", "3c", "3b", "3b+", "3b'", "3d", "4a", "4b", "5a", "5b", "5c", "6a", "6b", "6c",
		"7a", "7b", "7c", "7d", "7e", "7f", "7g", "8a", "8b", "8c", "8d", "8e", "8f", "9"}
	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("json: %v", err)
	}
	if len(back.Rows) != len(want) {
		t.Fatalf("%d rows in the JSON, want %d:\n%s", len(back.Rows), len(want), table.String())
	}
	for i, id := range want {
		r := back.Rows[i]
		if r.ID != id {
			t.Errorf("row %d is %q, want %q", i, r.ID, id)
		}
		if !strings.Contains(table.String(), "| "+id+" | ") {
			t.Errorf("table has no row %s", id)
		}
		for _, s := range []Side{r.Ours, r.Baresip} {
			if s.Spread == nil && s.NA == "" {
				t.Errorf("row %s: a side with neither a number nor a reason", id)
			}
		}
	}
	// figures both phones can be measured on right now must have numbers
	row := func(id string) Row {
		for _, r := range back.Rows {
			if r.ID == id {
				return r
			}
		}
		t.Fatalf("no row %s", id)
		return Row{}
	}
	for _, id := range []string{"1a", "2a", "3c", "3d", "6a", "6b", "9"} {
		r := row(id)
		if r.Ours.Spread == nil || r.Baresip.Spread == nil {
			t.Errorf("row %s lacks a number: ours %q, baresip %q", r.ID, r.Ours.NA, r.Baresip.NA)
		}
	}
	if r := row("5a"); r.Baresip.NA == "" || !strings.Contains(r.Baresip.NA, "no hot-plug") {
		t.Errorf("5a does not say baresip has no hot-plug: %+v", r.Baresip)
	}
	// figure 1 at queue pace: ours measured, baresip says why not
	if r := row("1c"); r.Ours.Spread == nil || !strings.Contains(r.Baresip.NA, "ours only") {
		t.Errorf("1c: ours %q, baresip %+v", r.Ours.NA, r.Baresip)
	}
	// figure 7: the daemon's own gap and the calibration stall are
	// measured on ours; baresip says why it has none
	for _, id := range []string{"7a", "7b", "7g"} {
		if r := row(id); r.Ours.Spread == nil {
			t.Errorf("row %s lacks our number: %q", r.ID, r.Ours.NA)
		}
	}
	if r := row("7a"); !strings.Contains(r.Baresip.NA, "no hot-plug") {
		t.Errorf("7a does not say baresip has no hot-plug: %+v", r.Baresip)
	}
	// figure 8: WebRTC beside plain RTP, every row measured on ours
	for _, id := range []string{"8a", "8b", "8c", "8d", "8e", "8f"} {
		if r := row(id); r.Ours.Spread == nil || !strings.Contains(r.Baresip.NA, "ours only") {
			t.Errorf("row %s: ours %q, baresip %+v", r.ID, r.Ours.NA, r.Baresip)
		}
	}
	if back.Machine.Cores < 1 || back.Machine.CPU == "" {
		t.Errorf("machine not described: %+v", back.Machine)
	}
	t.Log("\n" + table.String())
}

func TestParseHostStat(t *testing.T) {
	busy, total, err := ParseHostStat("cpu  100 2 30 800 40 5 6 7 9 0\ncpu0 50 1 15 400 20 2 3 3 4 0\n")
	if err != nil || busy != 100+2+30+5+6 || total != 100+2+30+800+40+5+6+7 {
		t.Errorf("busy %d total %d err %v; want 143, 990, nil", busy, total, err)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 x 4 5\n"} {
		if _, _, err := ParseHostStat(bad); !errors.Is(err, ErrBadProcStat) {
			t.Errorf("%q: err %v, want ErrBadProcStat", bad, err)
		}
	}
}

// TestDropouts: figure 9's judge of intact audio finds a 10 ms hole and a
// 20 ms half-level dip in a tone, and nothing in a clean one.
func TestDropouts(t *testing.T) {
	const rate = 8000
	clean := testbed.Tone(400, rate, 2*rate, 0.5)
	if bad, level := testbed.Dropouts(clean, rate, 400, 10*time.Millisecond, 0.5); bad != 0 || level < 0.45 || level > 0.55 {
		t.Errorf("clean tone: %d dropouts, level %.3f; want 0 and 0.5", bad, level)
	}
	hurt := slices.Clone(clean)
	clear(hurt[4000:4080]) // 10 ms of silence, on a block
	for i := 8000; i < 8160; i++ {
		hurt[i] /= 4 // 20 ms 12 dB down: two blocks
	}
	if bad, _ := testbed.Dropouts(hurt, rate, 400, 10*time.Millisecond, 0.5); bad != 3 {
		t.Errorf("tone with a hole and a dip: %d dropouts, want 3", bad)
	}
	if bad, level := testbed.Dropouts(clean[:40], rate, 400, 10*time.Millisecond, 0.5); bad != 0 || level != 0 {
		t.Errorf("shorter than a block: %d, %.3f; want 0, 0", bad, level)
	}
}

func TestLogTime(t *testing.T) {
	log := "time=2026-11-25T21:15:45.841Z level=INFO msg=\"registration registering\" connection=0\n" +
		"time=2026-11-25T21:15:45.842Z level=INFO msg=\"registration registered\" connection=0\n"
	for _, tc := range []struct {
		name, substr string
		want         string
		wantErr      bool
	}{
		{name: "found", substr: `msg="registration registered"`, want: "2026-11-25T21:15:45.842Z"},
		{name: "first of several", substr: "level=INFO", want: "2026-11-25T21:15:45.841Z"},
		{name: "missing", substr: `msg="registration failed"`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := logTime(log, tc.substr)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && got.Format(time.RFC3339Nano) != tc.want {
				t.Fatalf("got %s, want %s", got.Format(time.RFC3339Nano), tc.want)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tx\nVmRSS:\t   20480 kB\nRssAnon:\t    4096 kB\nRssFile:\t   16384 kB\nThreads:\t9\n"
	for key, want := range map[string]int{"VmRSS": 20480, "RssAnon": 4096, "RssFile": 16384} {
		if got, err := ParseStatusKB(status, key); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", key, got, err, want)
		}
	}
	if _, err := ParseStatusKB(status, "RssShmem"); !errors.Is(err, ErrBadProcStat) {
		t.Errorf("a missing key: %v, want ErrBadProcStat", err)
	}
}

func TestParseStatusCount(t *testing.T) {
	status := "Name:\tx\nvoluntary_ctxt_switches:\t1520\nnonvoluntary_ctxt_switches:\t 7\n"
	for key, want := range map[string]uint64{"voluntary_ctxt_switches": 1520, "nonvoluntary_ctxt_switches": 7} {
		if got, err := ParseStatusCount(status, key); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", key, got, err, want)
		}
	}
	if _, err := ParseStatusCount(status, "Threads"); !errors.Is(err, ErrBadProcStat) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := ParseStatusCount("Threads:\tmany\n", "Threads"); err == nil {
		t.Error("a count that is no number parsed")
	}
}

// TestThreadAccount: the account of this process's threads names its
// busiest thread and adds their shares up.
func TestThreadAccount(t *testing.T) {
	pid := os.Getpid()
	before := sampleThreads(pid)
	if len(before) == 0 {
		t.Fatal("no threads read")
	}
	start := time.Now()
	x := 0
	for time.Since(start) < 20*time.Millisecond { // some CPU to account for
		x++
	}
	got := threadAccount(pid, before, time.Since(start))
	if x == 0 || !strings.HasPrefix(got, "pid "+strconv.Itoa(pid)+": ") || !strings.Contains(got, "% core") || strings.Count(got, "\n") < 1 {
		t.Errorf("account:\n%s", got)
	}
}
