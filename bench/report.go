package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Side is one implementation's figures for a row: the value of each run,
// their spread, or why there is no number.
type Side struct {
	Runs   []float64 `json:"runs"`
	Spread *Spread   `json:"spread,omitempty"`
	// NA says why there is no number ("no hot-plug", "not measurable yet:
	// …", or the error that ended the measurement).
	NA string `json:"na,omitempty"`
}

// add appends one run's value.
func (s *Side) add(v float64) { s.Runs = append(s.Runs, v) }

// fail records why a run gave no number; the first reason is kept.
func (s *Side) fail(err error) {
	if s.NA == "" && err != nil {
		s.NA = err.Error()
	}
}

// finish computes the spread once all runs are in.
func (s *Side) finish() {
	if sp, err := Summarize(s.Runs); err == nil {
		s.Spread = &sp
	}
}

func (s Side) median() (float64, bool) {
	if s.Spread == nil {
		return 0, false
	}
	return s.Spread.Median, true
}

// Row is one line of the table.
type Row struct {
	ID      string   `json:"id"`
	Figure  string   `json:"figure"`
	Unit    string   `json:"unit"`
	Ours    Side     `json:"ours"`
	Baresip Side     `json:"baresip"`
	Ratio   *float64 `json:"ratio,omitempty"` // median ours / median baresip
	Goal    string   `json:"goal,omitempty"`
	// Met is "yes", "no" or "n/a" for the goal.
	Met  string `json:"met"`
	Note string `json:"note,omitempty"`
	// goal decides Met from the finished row; nil means "n/a".
	goal func(r *Row) (bool, bool)
}

func (r *Row) finish() {
	r.Ours.finish()
	r.Baresip.finish()
	o, ok1 := r.Ours.median()
	b, ok2 := r.Baresip.median()
	if ok1 && ok2 {
		if q, ok := Ratio(o, b); ok {
			r.Ratio = &q
		}
	}
	r.Met = "n/a"
	if r.goal != nil {
		if met, known := r.goal(r); known {
			r.Met = map[bool]string{true: "yes", false: "no"}[met]
		}
	}
}

// oursAtMost is a goal on our median: at most limit.
func oursAtMost(limit float64) func(*Row) (bool, bool) {
	return func(r *Row) (bool, bool) {
		m, ok := r.Ours.median()
		return ok && m <= limit, ok
	}
}

// oursAtLeast is a goal on our median: at least limit.
func oursAtLeast(limit float64) func(*Row) (bool, bool) {
	return func(r *Row) (bool, bool) {
		m, ok := r.Ours.median()
		return ok && m >= limit, ok
	}
}

// ratioAtMost is a goal on the ratio of the medians.
func ratioAtMost(limit float64) func(*Row) (bool, bool) {
	return func(r *Row) (bool, bool) {
		return r.Ratio != nil && *r.Ratio <= limit, r.Ratio != nil
	}
}

func ratioAtLeast(limit float64) func(*Row) (bool, bool) {
	return func(r *Row) (bool, bool) {
		return r.Ratio != nil && *r.Ratio >= limit, r.Ratio != nil
	}
}

// Machine describes where the run happened.
type Machine struct {
	Cores    int    `json:"cores"`
	CPU      string `json:"cpu"`
	Kernel   string `json:"kernel"`
	GoVer    string `json:"go"`
	Baresip  string `json:"baresip"`
	Sipp     string `json:"sipp"`
	Pulse    string `json:"pulseaudio"`
	Kamailio string `json:"kamailio"`
}

// Report is the whole run: the table's rows with every run's raw value.
type Report struct {
	Date    time.Time `json:"date"`
	Command string    `json:"command"`
	Machine Machine   `json:"machine"`
	Options Options   `json:"options"`
	Rows    []Row     `json:"rows"`
	// Calibration holds figures measured without either phone (the
	// PulseAudio loop of figure 4), in ms.
	Calibration map[string]Side `json:"calibration,omitempty"`
	Duration    string          `json:"duration"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// fmtSide renders "min–median–max", or the reason there is none.
func fmtSide(s Side) string {
	if s.Spread == nil {
		if s.NA == "" {
			return "-"
		}
		return "n/a"
	}
	sp := s.Spread
	if sp.N == 1 {
		return fmtNum(sp.Median)
	}
	return fmtNum(sp.Min) + "–" + fmtNum(sp.Median) + "–" + fmtNum(sp.Max)
}

func fmtNum(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// WriteTable prints the table as Markdown (readable in a terminal and
// pasted as is into BENCHMARKS.md), then the reasons behind each n/a.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "softphone vs baresip — %s — %d cores, %s\n\n", r.Date.Format("2006-01-02 15:04 MST"), r.Machine.Cores, r.Machine.CPU)
	b.WriteString("| # | figure | unit | ours (min–med–max) | baresip (min–med–max) | ratio | goal | met |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		ratio := "-"
		if row.Ratio != nil {
			ratio = fmt.Sprintf("%.2f", *row.Ratio)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", row.ID, row.Figure, row.Unit,
			fmtSide(row.Ours), fmtSide(row.Baresip), ratio, row.Goal, row.Met)
	}
	var notes []string
	for _, row := range r.Rows {
		if row.Ours.NA != "" && row.Ours.Spread == nil {
			notes = append(notes, fmt.Sprintf("%s ours: %s", row.ID, oneLine(row.Ours.NA)))
		}
		if row.Baresip.NA != "" && row.Baresip.Spread == nil {
			notes = append(notes, fmt.Sprintf("%s baresip: %s", row.ID, oneLine(row.Baresip.NA)))
		}
		if row.Note != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", row.ID, row.Note))
		}
	}
	for k, s := range r.Calibration {
		s.finish()
		notes = append(notes, fmt.Sprintf("calibration %s: %s ms", k, fmtSide(s)))
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// oneLine keeps the first line of a message, cut at 300 bytes.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// probeMachine fills in the machine description from /proc and the peers'
// version output.
func probeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVer: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Baresip = pkgVersion("baresip-core")
	m.Sipp = pkgVersion("sip-tester")
	m.Pulse = pkgVersion("pulseaudio")
	m.Kamailio = pkgVersion("kamailio")
	return m
}
