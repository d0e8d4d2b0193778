package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// figSetup is figure 1: INVITE → 200 OK with auto-answer, one call at a
// time from a sipp UAC, both phones answering through the same virtual
// headset. The times come from sipp's message trace (µs resolution).
func (h *harness) figSetup(ctx context.Context) []*Row {
	p50 := &Row{ID: "1a", Figure: "call set-up INVITE → 200 OK, p50", Unit: "ms"}
	p99 := &Row{ID: "1b", Figure: "call set-up INVITE → 200 OK, p99", Unit: "ms", Goal: "ours p99 < 5 ms", goal: oursAtMost(5)}
	for run := 0; run < h.opts.Runs && ctx.Err() == nil; run++ {
		for _, im := range order(run) {
			var q99 float64
			h.measure(fmt.Sprintf("setup-%s-%d", im, run), sideOf(p50, im), func(tb *runTB) (float64, error) {
				target := ""
				switch im {
				case ImplOurs:
					d := h.startDaemon(tb, daemonOpts{Headset: headsetName, Session: "auto_answer = 1"})
					d.waitReady(tb)
					target = d.sipAddr
				case ImplBaresip:
					b := h.baresipSUT(tb, testbed.BaresipOptions{AnswerMode: "auto"}, true)
					target = "127.0.0.1:" + strconv.Itoa(b.SIPPort())
				}
				n := h.opts.SetupCalls
				if im == ImplBaresip {
					n = h.opts.SetupCallsBaresip
				}
				res, err := testbed.RunSipp(tb, testbed.SippOptions{
					Scenario: "invite_expect_200.xml", Target: target, Service: "agent",
					Calls: n, Rate: h.opts.SetupRate, Extra: []string{"-l", "1"},
					Timeout: time.Duration(n)*time.Second + 30*time.Second,
				})
				if err != nil {
					return 0, err
				}
				times, err := SetupTimes(res.Messages)
				if err != nil {
					return 0, err
				}
				if len(times) < n {
					return 0, fmt.Errorf("%w: %d of %d calls answered", ErrFigureFailed, len(times), n)
				}
				v50, _ := Percentile(times, 50)
				q99, _ = Percentile(times, 99)
				return v50, nil
			})
			if len(sideOf(p50, im).Runs) > len(sideOf(p99, im).Runs) {
				sideOf(p99, im).add(q99)
			} else {
				sideOf(p99, im).fail(fmt.Errorf("see 1a"))
			}
		}
	}
	q50, q99 := h.queueSetup(ctx)
	p99.Note = fmt.Sprintf("ours %d, baresip %d calls per run at up to %d calls/s, one at a time; PCMU; times from sipp's message trace (baresip's answer waits for its PulseAudio capture stream to start)",
		h.opts.SetupCalls, h.opts.SetupCallsBaresip, h.opts.SetupRate)
	return []*Row{p50, p99, q50, q99}
}

// queueSetup is figure 1's queue-pace variant (rows 1c, 1d): calls one
// after the other, each INVITE sent the instant the previous call's BYE
// got its 200 (testbed.RunQueue), as a contact centre's queue hands an
// agent the next call. The previous call's teardown (its device streams
// closing) must not delay the next answer. Ours only: the pace is the
// queue's, not a rate.
func (h *harness) queueSetup(ctx context.Context) (*Row, *Row) {
	p50 := &Row{ID: "1c", Figure: "call set-up at queue pace (back-to-back), p50", Unit: "ms"}
	p99 := &Row{ID: "1d", Figure: "call set-up at queue pace (back-to-back), p99", Unit: "ms", Goal: "ours p99 ≤ 5 ms", goal: oursAtMost(5)}
	n := 5 * h.opts.SetupCalls
	for run := 0; run < h.opts.Runs && ctx.Err() == nil; run++ {
		var v99 float64
		h.measure(fmt.Sprintf("setup-queue-%d", run), &p50.Ours, func(tb *runTB) (float64, error) {
			d := h.startDaemon(tb, daemonOpts{Headset: headsetName, Session: "auto_answer = 1"})
			d.waitReady(tb)
			res, err := testbed.RunQueue(ctx, testbed.QueueOptions{Target: d.sipAddr, User: "agent", Calls: n})
			if err != nil {
				return 0, fmt.Errorf("%w: %w", ErrFigureFailed, err)
			}
			times := make([]float64, 0, len(res.Setup))
			for _, t := range res.Setup {
				times = append(times, float64(t.Microseconds())/1000)
			}
			v50, _ := Percentile(times, 50)
			v99, _ = Percentile(times, 99)
			return v50, nil
		})
		if len(p50.Ours.Runs) > len(p99.Ours.Runs) {
			p99.Ours.add(v99)
		} else {
			p99.Ours.fail(fmt.Errorf("see 1c"))
		}
	}
	oursOnly := errors.New("ours only: the queue pace is a contact centre's, and baresip's answer waits for its capture stream (1b)")
	p50.Baresip.fail(oursOnly)
	p99.Baresip.fail(oursOnly)
	p99.Note = fmt.Sprintf("ours only: %d calls per run back to back from a UDP caller of testbed's (INVITE on the previous BYE's 200), auto-answer on the virtual headset; PCMU; times INVITE sent → 200 received", n)
	return p50, p99
}

// sippStamp is the layout of the time sipp prints above each traced
// message ("----- 2026-11-25 18:48:59.217395").
const sippStamp = "2006-01-02 15:04:05.000000"

// SetupTimes reads a sipp message trace and returns, per call (Call-ID),
// the time from the INVITE sent to the first 200 OK to it received, in
// ms. Calls without a 200 are left out.
func SetupTimes(trace string) ([]float64, error) {
	type call struct{ invite, ok time.Time }
	calls := map[string]*call{}
	var order []string
	var stamp time.Time
	var sent bool
	var first, callID, cseq string
	flush := func() {
		if first == "" || callID == "" {
			return
		}
		c := calls[callID]
		if c == nil {
			c = &call{}
			calls[callID] = c
			order = append(order, callID)
		}
		switch {
		case sent && strings.HasPrefix(first, "INVITE ") && c.invite.IsZero():
			c.invite = stamp
		case !sent && strings.HasPrefix(first, "SIP/2.0 200") && strings.HasSuffix(cseq, " INVITE") && c.ok.IsZero():
			c.ok = stamp
		}
	}
	sc := bufio.NewScanner(strings.NewReader(trace))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(l, "-----") {
			flush()
			first, callID, cseq = "", "", ""
			ts := strings.TrimSpace(strings.TrimLeft(l, "-"))
			t, err := time.Parse(sippStamp, ts)
			if err != nil {
				return nil, fmt.Errorf("%w: sipp trace time %q: %v", ErrFigureFailed, ts, err)
			}
			stamp = t
			continue
		}
		switch {
		case strings.Contains(l, "message sent"):
			sent = true
		case strings.Contains(l, "message received"):
			sent = false
		case first == "" && strings.TrimSpace(l) != "":
			first = strings.TrimSpace(l)
		case callID == "" && (strings.HasPrefix(strings.ToLower(l), "call-id:") || strings.HasPrefix(l, "i:")):
			_, v, _ := strings.Cut(l, ":")
			callID = strings.TrimSpace(v)
		case cseq == "" && strings.HasPrefix(strings.ToLower(l), "cseq:"):
			_, v, _ := strings.Cut(l, ":")
			cseq = strings.TrimSpace(v)
		}
	}
	flush()
	var out []float64
	for _, id := range order {
		c := calls[id]
		if c.invite.IsZero() || c.ok.IsZero() {
			continue
		}
		out = append(out, float64(c.ok.Sub(c.invite).Microseconds())/1000)
	}
	return out, sc.Err()
}
