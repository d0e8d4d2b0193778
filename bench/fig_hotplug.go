package bench

import (
	"context"
	"fmt"
	"time"
)

// figHotplug is figure 5: headset unplug/plug (pactl unload/load-module)
// until the daemon's event stream shows the new verdict, and the CPU the
// device watching costs while nothing happens. baresip has no hot-plug.
func (h *harness) figHotplug(ctx context.Context) []*Row {
	p50 := &Row{ID: "5a", Figure: "plug/unplug → new verdict on /v1/events, p50", Unit: "ms"}
	p95 := &Row{ID: "5b", Figure: "plug/unplug → new verdict on /v1/events, p95", Unit: "ms", Goal: "ours p95 ≤ 300 ms", goal: oursAtMost(300)}
	cpu := &Row{ID: "5c", Figure: "watching CPU, idle, default 250 ms poll", Unit: "% core", Goal: "ours < 0.5 %", goal: oursAtMost(0.5)}
	noHotplug := fmt.Errorf("baresip has no hot-plug: devices are opened per call by name")
	for run := 0; run < h.opts.Runs && ctx.Err() == nil; run++ {
		var q95, watch float64
		h.measure(fmt.Sprintf("hotplug-%d", run), &p50.Ours, func(tb *runTB) (float64, error) {
			defer h.jabra.Plug(h.root)
			d := h.startDaemon(tb, daemonOpts{Headset: headsetName, Session: "auto_answer = 1"})
			d.waitReady(tb)
			ev := d.subscribe(tb)
			if _, err := ev.wait("status", 10*time.Second, nil); err != nil {
				return 0, err
			}
			m, err := startCPU(d.pid())
			if err != nil {
				return 0, err
			}
			idle(ctx, h.opts.IdleWindow)
			if watch, err = m.Percent(); err != nil {
				return 0, err
			}
			var times []float64
			for i := 0; i < h.opts.HotplugCycles; i++ {
				for _, plug := range []bool{false, true} {
					t0 := time.Now()
					if plug {
						h.jabra.Plug(tb)
					} else {
						h.jabra.Unplug(tb)
					}
					if _, err := ev.wait("devices", 10*time.Second, headsetAvailable(plug)); err != nil {
						return 0, err
					}
					times = append(times, float64(time.Since(t0).Microseconds())/1000)
				}
			}
			v, _ := Percentile(times, 50)
			q95, _ = Percentile(times, 95)
			return v, nil
		})
		if len(p50.Ours.Runs) > len(p95.Ours.Runs) {
			p95.Ours.add(q95)
			cpu.Ours.add(watch)
		}
	}
	p50.Baresip.fail(noHotplug)
	p95.Baresip.fail(noHotplug)
	cpu.Baresip.fail(noHotplug)
	p95.Note = fmt.Sprintf("%d unplug+plug cycles per run; from the first pactl call to the devices event arriving at the client", h.opts.HotplugCycles)
	return []*Row{p50, p95, cpu}
}
