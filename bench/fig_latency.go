package bench

import (
	"context"
	"fmt"
	"strconv"

	"github.com/softphone/softphone/internal/testbed"
)

// figLatency is figure 4: the one-way latency a phone adds, measured with
// a marker tone. Receive path: a Go RTP peer sends a 1 kHz burst; its
// onset is timed at the headset sink's monitor (parec). Send path: the
// burst is played into the headset (pacat), whose microphone is the
// sink's monitor remapped, and its onset is timed in the RTP arriving at
// the peer. PulseAudio's own share is measured by the same loops without a
// phone (pacat → parec); its smallest value is subtracted and the loop is
// reported as calibration.
func (h *harness) figLatency(ctx context.Context) []*Row {
	recv := &Row{ID: "4a", Figure: "added latency, receive path (RTP → device, jitter buffer incl.)", Unit: "ms", Goal: "ours ≤ 60 ms", goal: oursAtMost(60)}
	send := &Row{ID: "4b", Figure: "added latency, send path (device → RTP)", Unit: "ms", Goal: "ours ≤ 40 ms", goal: oursAtMost(40)}
	n := h.opts.LatencyBursts
	loopSink, loopMic := Side{}, Side{}
	_ = h.scope("latency-calibration", func(tb *runTB) error {
		a, err := h.paLoop(tb, headsetSink, headsetSink+".monitor", 2*n+1)
		loopSink.Runs = a
		loopSink.fail(err)
		b, err := h.paLoop(tb, headsetSink, headsetSink+"_mic", 2*n+1)
		loopMic.Runs = b
		loopMic.fail(err)
		return nil
	})
	loopSink.finish()
	loopMic.finish()
	h.cal["pa_loop_pacat_to_sink_monitor"] = loopSink
	h.cal["pa_loop_pacat_to_headset_mic"] = loopMic
	rawRecv := map[Impl]*Side{ImplOurs: {}, ImplBaresip: {}}
	rawSend := map[Impl]*Side{ImplOurs: {}, ImplBaresip: {}}
	for run := 0; run < h.opts.Runs && ctx.Err() == nil; run++ {
		for _, im := range order(run) {
			var rv, sv []float64
			var rerr, serr error
			err := h.scope(fmt.Sprintf("latency-%s-%d", im, run), func(tb *runTB) error {
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
				rv, sv, rerr, serr = h.latencyPaths(tb, target, n)
				return nil
			})
			if err != nil {
				rerr, serr = err, err
			}
			file := func(row *Row, raw *Side, v []float64, err error, loop Side) {
				side := sideOf(row, im)
				if err != nil || len(v) == 0 {
					side.fail(fmt.Errorf("%w (%v)", ErrNotMeasurable, err))
					return
				}
				med, _ := Summarize(v)
				raw.add(med.Median)
				if loop.Spread == nil {
					side.fail(fmt.Errorf("%w: no PulseAudio calibration", ErrNotMeasurable))
					return
				}
				// the PulseAudio loop varies from run to run (its buffers
				// settle differently after a stream's start-up stall): take
				// out its smallest share, so the figure errs high, never low
				side.add(med.Median - loop.Spread.Min)
			}
			file(recv, rawRecv[im], rv, rerr, loopSink)
			file(send, rawSend[im], sv, serr, loopMic)
		}
	}
	for im, s := range rawRecv {
		h.cal["4a_raw_"+im.String()] = *s
	}
	for im, s := range rawSend {
		h.cal["4b_raw_"+im.String()] = *s
	}
	recv.Note = fmt.Sprintf("%d bursts per run and direction; median onset delay minus the smallest PulseAudio loop without a phone (calibration below)", n)
	return []*Row{recv, send}
}
