package bench

import (
	"bufio"
	"context"
	"embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

//go:embed scenarios/*.xml
var scenarios embed.FS

// scenarioFile writes an embedded scenario into a folder of tb's and
// returns its path.
func scenarioFile(tb *runTB, name string) string {
	b, err := scenarios.ReadFile("scenarios/" + name)
	if err != nil {
		tb.Fatalf("bench: scenario %s: %v", name, err)
	}
	p := filepath.Join(testbed.Dir(tb, "scenario"), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatalf("bench: scenario %s: %v", name, err)
	}
	return p
}

// lateAnswer is the response time from which a rejection counts as late:
// T1, when the caller's first INVITE retransmission goes out (RFC 3261
// §17.1.1.2).
const lateAnswer = 500 * time.Millisecond

// figReject is figure 2: INVITE → 486 at rising call rates until the
// first failed or late answer, and the resident memory before the ramp,
// right after it and once the transaction timers have run out (Timer I,
// T4 = 5 s for UDP, RFC 3261 §17.2.1).
func (h *harness) figReject(ctx context.Context) []*Row {
	rate := &Row{ID: "2a", Figure: "rejection rate, none failed or late (486)", Unit: "calls/s", Goal: "ours ≥ 1000/s", goal: oursAtLeast(1000)}
	grow := &Row{ID: "2b", Figure: "resident memory growth after the ramp, timers run out", Unit: "MB"}
	peak := &Row{ID: "2c", Figure: "resident memory right after the ramp", Unit: "MB"}
	top := h.opts.RejectRates[len(h.opts.RejectRates)-1]
	for run := 0; run < h.opts.RejectRuns && ctx.Err() == nil; run++ {
		for _, im := range order(run) {
			h.measure(fmt.Sprintf("reject-%s-%d", im, run), sideOf(rate, im), func(tb *runTB) (float64, error) {
				target, pid := "", 0
				switch im {
				case ImplOurs:
					d := h.startDaemon(tb, daemonOpts{Headset: absentHeadset,
						Session: "auto_answer = 1\nreject_session_when_headset_na = 1\nsip_code_when_headset_na = " + strconv.Itoa(rejectCode)})
					d.waitReady(tb)
					target, pid = d.sipAddr, d.pid()
				case ImplBaresip:
					b := h.baresipSUT(tb, testbed.BaresipOptions{AnswerMode: "manual"}, true)
					target = "127.0.0.1:" + strconv.Itoa(b.SIPPort())
					// fill call_max_calls (4) with ringing calls: every
					// further INVITE then gets baresip's busy answer
					testbed.StartSipp(tb, testbed.SippOptions{Scenario: scenarioFile(tb, "hold_ringing.xml"),
						Target: target, Service: "agent", Calls: 4, Rate: 50, Pause: 10 * time.Minute, Timeout: 15 * time.Minute})
					for i := 0; i < 4; i++ {
						if _, err := b.WaitEvent(testbed.EventCallIncoming, 10*time.Second); err != nil {
							return 0, err
						}
					}
					p, err := baresipPid(b.Dir())
					if err != nil {
						return 0, err
					}
					pid = p
				}
				// warm-up: a few rejections before the first reading
				if _, err := h.rejectStep(tb, target, 10, 10); err != nil {
					return 0, fmt.Errorf("warm-up: %w", err)
				}
				before, err := rssMB(pid)
				if err != nil {
					return 0, err
				}
				best := 0
				for _, r := range h.opts.RejectRates {
					n := int(float64(r) * h.opts.RejectStep.Seconds())
					late, err := h.rejectStep(tb, target, r, n)
					if err != nil || late > 0 {
						h.log.Info("reject ramp ended", "phone", im, "rate", r, "late", late, "error", oneLine(fmt.Sprint(err)))
						break
					}
					best = r
				}
				after, err := rssMB(pid)
				if err != nil {
					return 0, err
				}
				idle(ctx, h.opts.RejectSettle)
				settled, err := rssMB(pid)
				if err != nil {
					return 0, err
				}
				sideOf(peak, im).add(after)
				sideOf(grow, im).add(settled - before)
				return float64(best), nil
			})
		}
	}
	rate.Note = fmt.Sprintf("sipp -r over %v, %s per step; a step fails on any failed call or an answer later than %s; %d/s is the top of the ramp; baresip's busy path: call_max_calls filled with ringing calls",
		h.opts.RejectRates, h.opts.RejectStep, lateAnswer, top)
	grow.Note = fmt.Sprintf("RSS %s after the ramp minus RSS before it", h.opts.RejectSettle)
	return []*Row{rate, grow, peak}
}

// rejectStep sends n calls at rate calls/s that must each get 486, and
// returns how many answers were late. An error means failed calls.
func (h *harness) rejectStep(tb *runTB, target string, rate, n int) (int, error) {
	dir := testbed.Dir(tb, fmt.Sprintf("reject-%d", rate))
	port := testbed.FreePort(tb, 1)
	mport := testbed.FreePort(tb, 2)
	timeout := time.Duration(n/rate)*time.Second + 6*time.Second
	args := []string{"-sf", scenarioFile(tb, "reject_rate.xml"), "-t", "u1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mi", "127.0.0.1", "-mp", strconv.Itoa(mport),
		"-s", "agent", "-r", strconv.Itoa(rate), "-m", strconv.Itoa(n), "-nostdin",
		"-trace_rtt", "-rtt_freq", "1", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
		"-timeout", strconv.Itoa(int(timeout.Seconds())) + "s", "-timeout_error", target}
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	if _, err := testbed.Run(ctx, dir, nil, "sipp", args...); err != nil {
		errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
		return 0, fmt.Errorf("%w: rate %d: %v\n%s", ErrFigureFailed, rate, oneLine(err.Error()), oneLine(string(errs)))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	if len(files) == 0 {
		return 0, fmt.Errorf("%w: rate %d: sipp wrote no rtt trace", ErrFigureFailed, rate)
	}
	f, err := os.Open(files[0])
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rtts, err := ParseRTT(f)
	if err != nil {
		return 0, err
	}
	if len(rtts) < n {
		return 0, fmt.Errorf("%w: rate %d: %d response times for %d calls", ErrFigureFailed, rate, len(rtts), n)
	}
	late := 0
	for _, v := range rtts {
		if v >= float64(lateAnswer.Milliseconds()) {
			late++
		}
	}
	return late, nil
}

// ParseRTT reads sipp's -trace_rtt file ("Date_ms;response_time_ms;rtd_no"
// lines after a header) and returns the response times in ms.
func ParseRTT(r io.Reader) ([]float64, error) {
	var out []float64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ";")
		if len(f) < 2 || strings.HasPrefix(f[0], "Date") || f[0] == "" {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("%w: rtt line %q", ErrFigureFailed, sc.Text())
		}
		out = append(out, v)
	}
	return out, sc.Err()
}
