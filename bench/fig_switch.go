package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// The second virtual headset of the harness: figure 7 lists it after the
// Jabra, so it takes over while the Jabra is unplugged.
const (
	spareSink = "plantronics_bw3220"
	spareName = "Plantronics Blackwire 3220"
)

// figSwitch is figure 7: the mid-call device switch. The daemon lists two
// headsets in priority order (Jabra, then Plantronics) and is in a call
// with the Go peer of figure 4, which sends a continuous 1 kHz tone. The
// Jabra is unplugged (the daemon moves to the Plantronics) and plugged
// back (it moves back), SwitchCycles times per run. Per switch:
//
//	(a) the daemon's own figure: media.output_gap_ms of GET /v1/calls,
//	    from the last frame handed to the old device to the first frame
//	    handed to the new one;
//	(b) the audible gap: from the pactl call to the first tone samples at
//	    the new device's sink monitor (parec, timed as in figure 4).
//
// The PulseAudio start-up stall of a fresh stream on a new null sink
// (pacat → parec, no phone) is measured in the same run as a calibration
// row; its smallest value is taken out of (b) for the plug-back switches,
// whose device is a new sink, so that figure errs high. The unplug
// switches move to a sink that is running already: nothing is subtracted.
// baresip has no hot-plug: it opens its devices per call by name.
func (h *harness) figSwitch(ctx context.Context) []*Row {
	gap50 := &Row{ID: "7a", Figure: "mid-call device switch, daemon's output gap (output_gap_ms), p50", Unit: "ms"}
	gap95 := &Row{ID: "7b", Figure: "mid-call device switch, daemon's output gap (output_gap_ms), p95", Unit: "ms", Goal: "ours p95 ≤ 300 ms", goal: oursAtMost(300)}
	away50 := &Row{ID: "7c", Figure: "mid-call device switch, audible gap, unplug → spare headset (running sink), p50", Unit: "ms"}
	away95 := &Row{ID: "7d", Figure: "mid-call device switch, audible gap, unplug → spare headset (running sink), p95", Unit: "ms", Goal: "ours p95 ≤ 300 ms", goal: oursAtMost(300)}
	back50 := &Row{ID: "7e", Figure: "mid-call device switch, audible gap, plug back → new sink, minus PulseAudio start-up stall, p50", Unit: "ms"}
	back95 := &Row{ID: "7f", Figure: "mid-call device switch, audible gap, plug back → new sink, minus PulseAudio start-up stall, p95", Unit: "ms", Goal: "ours p95 ≤ 300 ms", goal: oursAtMost(300)}
	stall := &Row{ID: "7g", Figure: "calibration: PulseAudio start-up stall of a fresh stream on a new null sink (no phone), p50", Unit: "ms"}
	measured := []*Row{gap50, gap95, away50, away95, back50, back95}
	rawBack50, rawBack95, maxGap := Side{}, Side{}, Side{}
	var switches []string
	for run := 0; run < h.opts.Runs && ctx.Err() == nil; run++ {
		var cal []float64
		err := h.scope(fmt.Sprintf("switch-calibration-%d", run), func(tb *runTB) error {
			var err error
			cal, err = h.freshStreamStall(tb, run, h.opts.SwitchCalibration)
			return err
		})
		if err != nil || len(cal) == 0 {
			stall.Ours.fail(fmt.Errorf("%w: %v", ErrNotMeasurable, err))
		} else {
			v, _ := Percentile(cal, 50)
			stall.Ours.add(v)
		}
		var res switchResult
		err = h.scope(fmt.Sprintf("switch-%d", run), func(tb *runTB) error {
			defer h.jabra.Plug(h.root)
			var err error
			res, err = h.switchRun(ctx, tb, h.opts.SwitchCycles)
			return err
		})
		switches = append(switches, res.summary())
		if err != nil {
			for _, r := range measured {
				r.Ours.fail(err)
			}
			continue
		}
		pct := func(xs []float64, p float64) float64 { v, _ := Percentile(xs, p); return v }
		gap50.Ours.add(pct(res.gaps, 50))
		gap95.Ours.add(pct(res.gaps, 95))
		maxGap.add(pct(res.maxGaps, 100))
		away50.Ours.add(pct(res.away, 50))
		away95.Ours.add(pct(res.away, 95))
		rawBack50.add(pct(res.back, 50))
		rawBack95.add(pct(res.back, 95))
		if len(cal) == 0 {
			back50.Ours.fail(fmt.Errorf("%w: no PulseAudio calibration", ErrNotMeasurable))
			back95.Ours.fail(fmt.Errorf("%w: no PulseAudio calibration", ErrNotMeasurable))
			continue
		}
		// take out the run's smallest stall, so the figure errs high
		least := pct(cal, 0)
		back50.Ours.add(pct(res.back, 50) - least)
		back95.Ours.add(pct(res.back, 95) - least)
	}
	noHotplug := fmt.Errorf("baresip has no hot-plug: devices are opened per call by name")
	for _, r := range measured {
		r.Baresip.fail(noHotplug)
	}
	stall.Baresip.fail(fmt.Errorf("calibration row: no phone in the loop"))
	h.cal["7_raw_audible_gap_plug_back_p50"] = rawBack50
	h.cal["7_raw_audible_gap_plug_back_p95"] = rawBack95
	h.cal["7_output_max_gap_ms"] = maxGap
	gap95.Note = fmt.Sprintf("%d unplug+plug cycles (2 switches each) per run, Jabra ⇄ Plantronics mid-call, the Go peer sending a 1 kHz tone; "+
		"GET /v1/calls media.output_gap_ms read once the tone is heard on the new device, and its output checked; device_switches per run: %s",
		h.opts.SwitchCycles, strings.Join(switches, ", "))
	away95.Note = "from the pactl unload to the first tone samples at the spare headset's sink monitor (parec, recording all along); nothing subtracted"
	back95.Note = "from the pactl load to the first tone samples at the new sink's monitor (parec started right after the load), " +
		"minus the run's smallest PulseAudio start-up stall (row 7g); raw figures in the calibration lines"
	stall.Note = fmt.Sprintf("%d fresh null sinks per run: load-module, parec on its monitor, then pacat of the tone; pacat start → first tone samples", h.opts.SwitchCalibration)
	return append(measured, stall)
}

// switchResult is what one run of figure 7 saw, one entry per switch.
type switchResult struct {
	gaps, maxGaps []float64
	// away is the audible gap of each unplug (to the spare headset),
	// back that of each plug (back to the Jabra, a new sink), in ms.
	away, back []float64
	switches   uint64
	outputs    []string
}

func (r switchResult) summary() string {
	return fmt.Sprintf("%d (outputs %d distinct)", r.switches, distinct(r.outputs))
}

// switchRun starts the daemon, calls it from the Go peer with a continuous
// tone, and unplugs and plugs the Jabra cycles times.
func (h *harness) switchRun(ctx context.Context, tb *runTB, cycles int) (switchResult, error) {
	var res switchResult
	d := h.startDaemon(tb, daemonOpts{Headset: headsetName, MoreHeadsets: []string{spareName}, Session: "auto_answer = 1"})
	d.waitReady(tb)
	peer := callPeer(tb, d.sipAddr)
	tone := startTone(peer.sender())
	defer tone.close()

	// the spare's monitor is recorded all along; the Jabra's is recorded
	// afresh after each plug (its sink is a new one)
	_, r := h.paStream(tb, "parec", spareSink+".monitor")
	spare := newOnsetDetector()
	record(tb, r, spare)
	jabra := h.listen(tb, headsetSink+".monitor")
	if _, err := jabra.wait(15 * time.Second); err != nil {
		return res, fmt.Errorf("%w: the call's tone never reached the headset: %v", ErrFigureFailed, err)
	}
	first, err := d.media(tb)
	if err != nil {
		return res, err
	}
	res.outputs = append(res.outputs, first.Output)
	base := first.DeviceSwitches
	for i := 0; i < cycles && ctx.Err() == nil; i++ {
		for _, plug := range []bool{false, true} {
			// let the last switch's streams settle before the next one
			idle(ctx, 300*time.Millisecond)
			var det *onsetDetector
			want, wantSink := spareName, spareSink
			if !plug {
				spare.arm()
				det = spare
			}
			t0 := time.Now()
			if plug {
				h.jabra.Plug(tb)
				det = h.listen(tb, headsetSink+".monitor")
				want, wantSink = headsetName, headsetSink
			} else {
				h.jabra.Unplug(tb)
			}
			t1, err := det.wait(10 * time.Second)
			if err != nil {
				return res, fmt.Errorf("%w: no tone on %s after the switch: %v", ErrFigureFailed, want, err)
			}
			v := float64(t1.Sub(t0).Microseconds()) / 1000
			if plug {
				res.back = append(res.back, v)
			} else {
				res.away = append(res.away, v)
			}
			var mi *phone.MediaInfo
			if !testbed.WaitFor(5*time.Second, func() bool {
				mi, err = d.media(tb)
				return err == nil && mi.DeviceSwitches > base &&
					(strings.EqualFold(mi.Output, want) || strings.EqualFold(mi.Output, wantSink))
			}) {
				return res, fmt.Errorf("%w: the daemon did not report the switch to %q: %+v %v", ErrFigureFailed, want, mi, err)
			}
			base = mi.DeviceSwitches
			res.switches = mi.DeviceSwitches
			res.outputs = append(res.outputs, mi.Output)
			res.gaps = append(res.gaps, mi.OutputGapMillis)
			res.maxGaps = append(res.maxGaps, mi.OutputMaxGap)
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// listen records a sink monitor into a new, armed onset detector.
func (h *harness) listen(tb *runTB, source string) *onsetDetector {
	_, r := h.paStream(tb, "parec", source)
	det := newOnsetDetector()
	det.arm()
	record(tb, r, det)
	return det
}

// media returns the media figures of the daemon's one call.
func (d *daemon) media(tb *runTB) (*phone.MediaInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	calls, err := d.client.Calls(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: GET /v1/calls: %v", ErrFigureFailed, err)
	}
	for _, c := range calls {
		if c.Media != nil {
			return c.Media, nil
		}
	}
	return nil, fmt.Errorf("%w: GET /v1/calls: no call with media (%d calls)", ErrFigureFailed, len(calls))
}

// freshStreamStall measures PulseAudio's own start-up stall n times: a new
// null sink, parec on its monitor, then pacat playing the tone; from the
// pacat start to the first tone samples at the monitor, in ms.
func (h *harness) freshStreamStall(tb *runTB, run, n int) ([]float64, error) {
	var out []float64
	for i := 0; i < n; i++ {
		sink := fmt.Sprintf("bench_fresh_%d_%d", run, i)
		mod := h.pa.AddSink(tb, sink, fmt.Sprintf("Bench Fresh %d %d", run, i))
		det := h.listen(tb, sink+".monitor")
		t0 := time.Now()
		w, _ := h.paStream(tb, "pacat", sink)
		tone := startTone(pcmWriter(w))
		t1, err := det.wait(10 * time.Second)
		tone.close()
		h.pa.UnloadModule(tb, mod)
		if err != nil {
			return out, err
		}
		out = append(out, float64(t1.Sub(t0).Microseconds())/1000)
	}
	return out, nil
}

// toneSource sends the marker tone without a break, one 20 ms frame per
// tick, from its own goroutine until close.
type toneSource struct {
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

func startTone(out func(frame []int16) error) *toneSource {
	t := &toneSource{stop: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
			if out(toneFrame(k)) != nil {
				return
			}
		}
	}()
	return t
}

func (t *toneSource) close() {
	t.once.Do(func() { close(t.stop) })
	t.wg.Wait()
}

// distinct counts the different names in xs.
func distinct(xs []string) int {
	seen := map[string]bool{}
	for _, x := range xs {
		seen[x] = true
	}
	return len(seen)
}
