package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// figIdle is figure 6: start-to-registered time against Kamailio (digest
// auth, RFC 3261 §22) and the idle resident memory and CPU once
// registered.
func (h *harness) figIdle(ctx context.Context) []*Row {
	reg := &Row{ID: "6a", Figure: "start → registered (Kamailio, digest auth)", Unit: "ms", Goal: "ours ≤ 100 ms", goal: oursAtMost(100)}
	rss := &Row{ID: "6b", Figure: "idle resident memory after registration", Unit: "MB", Goal: "ours ≤ 12 MB", goal: oursAtMost(12)}
	cpu := &Row{ID: "6c", Figure: "idle CPU, registered (ours watches devices)", Unit: "% core"}
	// the registrar lives for this figure only
	ftb := newRunTB(h.log.With("scope", "kamailio"))
	defer ftb.Close()
	var kam *testbed.Kamailio
	if err := guard(func() error {
		kam = testbed.StartKamailio(ftb, testbed.KamailioOptions{Auth: true})
		return nil
	}); err != nil {
		reg.Ours.fail(err)
		reg.Baresip.fail(err)
		return []*Row{reg, rss, cpu}
	}
	for run := 0; run < h.opts.Runs && ctx.Err() == nil; run++ {
		for _, im := range order(run) {
			var pid int
			name := fmt.Sprintf("idle-%s-%d", im, run)
			h.measure(name, sideOf(reg, im), func(tb *runTB) (float64, error) {
				var ms float64
				switch im {
				case ImplOurs:
					t0 := time.Now()
					d := h.startDaemon(tb, daemonOpts{Headset: headsetName, Session: "auto_answer = 1",
						Account: "user = alice\npassword = alicepw\nserver = " + kam.Addr() + "\nreg_timeout = 300"})
					at, err := registeredAt(tb, d)
					if err != nil {
						return 0, fmt.Errorf("%w\n%s", err, d.proc.Log())
					}
					ms = float64(at.Sub(t0).Microseconds()) / 1000
					pid = d.pid()
				case ImplBaresip:
					t0 := time.Now()
					b := h.baresipSUT(tb, testbed.BaresipOptions{User: "bob", Password: "bobpw", Registrar: kam.Addr(), AnswerMode: "auto"}, true)
					ms = float64(time.Since(t0).Microseconds()) / 1000
					p, err := baresipPid(b.Dir())
					if err != nil {
						return 0, err
					}
					pid = p
				}
				m, err := startCPU(pid)
				if err != nil {
					return 0, err
				}
				idle(ctx, h.opts.IdleWindow)
				pc, err := m.Percent()
				if err != nil {
					return 0, err
				}
				sideOf(cpu, im).add(pc)
				mb, err := rssMB(pid)
				if err != nil {
					return 0, err
				}
				sideOf(rss, im).add(mb)
				return ms, nil
			})
		}
	}
	reg.Note = "ours: process start → the daemon's registration event time; baresip: process start → REGISTER_OK on its control connection"
	return []*Row{reg, rss, cpu}
}

// sideOf picks the row's side for a phone.
func sideOf(r *Row, im Impl) *Side {
	if im == ImplOurs {
		return &r.Ours
	}
	return &r.Baresip
}

// idle waits out a measurement window (it is the quantity measured, not a
// synchronisation), or until ctx ends.
func idle(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// registeredAt returns when the daemon's connection 0 registered: the
// time of its "registration" event, or, when it registered before the
// event stream opened (the stream's first "status" event shows it
// registered already), the time of the daemon's log line for it
// (millisecond precision).
func registeredAt(tb *runTB, d *daemon) (time.Time, error) {
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	ev := d.subscribe(tb)
	for {
		select {
		case e := <-ev.ch:
			switch e.Type {
			case "registration":
				var r phone.Registration
				if json.Unmarshal(e.Data, &r) == nil && r.State == "registered" {
					return e.Time, nil
				}
			case "status":
				var st phone.Status
				if json.Unmarshal(e.Data, &st) != nil {
					continue
				}
				for _, r := range st.Registrations {
					if r.State == "registered" {
						return logTime(d.proc.Log(), `msg="registration registered"`)
					}
				}
			}
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("%w: connection 0 not registered within 20s", ErrFigureFailed)
		}
	}
}

// logTime returns the time= of the first slog text line containing substr.
func logTime(log, substr string) (time.Time, error) {
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, substr) || !strings.HasPrefix(l, "time=") {
			continue
		}
		v, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
		return time.Parse(time.RFC3339Nano, v)
	}
	return time.Time{}, fmt.Errorf("%w: no log line with %s", ErrFigureFailed, substr)
}
