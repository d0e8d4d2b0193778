package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// Figure 9: agents per host. Contact centres run agents on shared virtual
// desktops, each with a softphone of their own; the figure is how many
// phones this machine carries, each in one call through its own virtual
// headset, with the audio intact.
//
// Each agent has a desktop session's sound server of its own (a
// PulseAudio daemon, as each user of a shared desktop host has) with a
// virtual headset on it: a null sink, and a microphone remapped from its
// monitor, so what the phone plays comes back into its microphone and is
// sent back. (One server shared by all agents would stop at its 64
// connections, a limit no desktop session meets.) The caller, a baresip
// that sends a steady 400 Hz sine in PCMU and records what it receives,
// hears the agent's whole path, network to earpiece and microphone to
// network. The last AgentWindow of every recording, taken while all the
// level's calls run, is cut into 10 ms blocks; a block whose 400 Hz level
// is under half the recording's median is a dropout (an underrun, a
// packet lost or late, a device stall). A level is intact when no call
// has a dropout. The ramp stops at a phone's first level that is not.
//
// The callers and the sound servers run on the same machine and their
// CPU counts against both phones alike; in a contact centre the callers
// are across the network.
const (
	agentTone     = 400.0 // Hz: whole cycles in a 10 ms block at 8 kHz
	agentBlock    = 10 * time.Millisecond
	agentDropout  = 0.5 // of the median level
	agentSettle   = 4 * time.Second
	agentHangTail = 300 * time.Millisecond // cut off the recording's end
)

// agentLevel is one phone's run at one level.
type agentLevel struct {
	n        int
	dropouts int     // over all calls
	worst    int     // the most in one call
	hostCPU  float64 // % of the whole machine (all cores) over the window
	late     uint64  // ours: packets late, over all calls, in the window
	underMS  float64 // ours: output underrun, ms, over all calls, in the window
	// ours, over all calls, in the window: frames the jitter buffer
	// concealed, received frames the voice path dropped (no playback
	// device to take them), and received audio the output device trimmed
	// to stay within its latency bound
	concealed, dropped uint64
	trimMS             float64
	rss                float64 // the phones' median resident memory in the call, MB
	err                error
}

func (l agentLevel) intact() bool { return l.err == nil && l.dropouts == 0 }

func (l agentLevel) String() string {
	if l.err != nil {
		return fmt.Sprintf("%d: failed (%s)", l.n, oneLine(l.err.Error()))
	}
	s := fmt.Sprintf("%d: %d dropouts (worst call %d), host CPU %.0f%%, %.1f MB resident per phone", l.n, l.dropouts, l.worst, l.hostCPU, l.rss)
	if l.late > 0 || l.underMS > 0 || l.concealed > 0 || l.dropped > 0 || l.trimMS > 0 {
		s += fmt.Sprintf(", %d packets late, %d frames concealed, %d dropped, %.0f ms underrun, %.0f ms trimmed", l.late, l.concealed, l.dropped, l.underMS, l.trimMS)
	}
	return s
}

// figAgents is figure 9.
func (h *harness) figAgents(ctx context.Context) []*Row {
	row := &Row{ID: "9", Figure: "agents per host: phones each in one call through its own virtual headset, audio intact (no dropout)",
		Unit: "agents", Goal: "ratio ≥ 1.0", goal: ratioAtLeast(1.0)}
	notes := map[Impl][]string{}
	pool := &agentPool{tb: newRunTB(h.log.With("scope", "agents"))}
	defer pool.tb.Close()
	for run := 0; run < h.opts.AgentRuns && ctx.Err() == nil; run++ {
		best := map[Impl]int{}
		done := map[Impl]bool{}
		ended := map[Impl]error{} // why the level that ended a ramp gave no result
		steps := map[Impl][]string{}
		for i, n := range h.opts.AgentLevels {
			if ctx.Err() != nil {
				break
			}
			for _, im := range order(run + i) {
				if done[im] {
					continue
				}
				l := agentLevel{n: n}
				l.err = h.scope(fmt.Sprintf("agents-%s-%d-%d", im, run, n), func(tb *runTB) error {
					return h.agentsAt(ctx, tb, pool, im, &l)
				})
				steps[im] = append(steps[im], l.String())
				if l.intact() {
					best[im] = n
				} else {
					done[im], ended[im] = true, l.err
				}
			}
		}
		for _, im := range []Impl{ImplOurs, ImplBaresip} {
			notes[im] = append(notes[im], fmt.Sprintf("run %d: %s", run+1, strings.Join(steps[im], "; ")))
			side := sideOf(row, im)
			v, err := rampResult(len(steps[im]), best[im], ended[im])
			if err != nil {
				side.fail(err)
				continue
			}
			side.add(v)
		}
	}
	row.Note = fmt.Sprintf("levels %v, %s windows, PCMU, echo cancellation off on both; ours: %s; baresip: %s",
		h.opts.AgentLevels, h.opts.AgentWindow, strings.Join(notes[ImplOurs], " | "), strings.Join(notes[ImplBaresip], " | "))
	return []*Row{row}
}

// rampResult is what one ramp of figure 9 gives for a phone: the largest
// level carried intact, after levels levels were tried, the last of them
// ended by ended (nil when the ramp ended on dropouts or ran out of
// levels). Dropouts already at the smallest level are a result, 0, not a
// failure of the figure: the row's note says what the calls lost. A level
// that could not be measured at all (a phone that did not start or
// answer) fails the figure.
func rampResult(levels, best int, ended error) (float64, error) {
	switch {
	case levels == 0:
		return 0, fmt.Errorf("%w: no level run", ErrFigureFailed)
	case best == 0 && ended != nil:
		return 0, fmt.Errorf("%w: no level intact: %w", ErrFigureFailed, ended)
	}
	return float64(best), nil
}

// agentPool keeps the agents' sound servers, each with its headset, from
// one level to the next.
type agentPool struct {
	tb     *runTB
	agents []*agentDesk
}

// agentDesk is one agent's desktop session: its sound server and headset.
type agentDesk struct {
	pa         *testbed.Pulse
	sink, name string
}

// take returns n agents' desks, starting the sound servers not started
// yet.
func (p *agentPool) take(n int) ([]*agentDesk, error) {
	for len(p.agents) < n {
		k := len(p.agents) + 1
		err := guard(func() error {
			d := &agentDesk{pa: testbed.StartPulse(p.tb), sink: fmt.Sprintf("agent%02d", k), name: fmt.Sprintf("Agent %02d Headset", k)}
			d.pa.AddHeadset(p.tb, d.sink, d.name)
			d.pa.SetDefaultSink(p.tb, d.sink)
			d.pa.SetDefaultSource(p.tb, d.sink+"_mic")
			p.agents = append(p.agents, d)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return p.agents[:n], nil
}

// agentsAt runs l.n agents of one phone at once and fills in l. A
// failure (tb.Fatal inside, or the error returned) fails the level.
func (h *harness) agentsAt(ctx context.Context, tb *runTB, pool *agentPool, im Impl, l *agentLevel) error {
	n := l.n
	desks, err := pool.take(n)
	if err != nil {
		return err
	}
	uris := make([]string, n)
	pids := make([]int, n)
	daemons := make([]*daemon, n)
	for k, desk := range desks {
		switch im {
		case ImplOurs:
			d := h.startDaemon(tb, daemonOpts{Headset: desk.name, Session: "auto_answer = 1", Pulse: desk.pa})
			daemons[k] = d
			uris[k], pids[k] = "sip:agent@"+d.sipAddr, d.pid()
		case ImplBaresip:
			b := testbed.StartBaresip(tb, testbed.BaresipOptions{User: "agent", AnswerMode: "auto", AudioSource: "alsa,pulse",
				PulseEnv: append(desk.pa.Env(), "HOME="+desk.pa.Dir, "PULSE_SINK="+desk.sink, "PULSE_SOURCE="+desk.sink+"_mic")})
			uris[k] = "sip:agent@127.0.0.1:" + strconv.Itoa(b.SIPPort())
			pid, err := baresipPid(b.Dir())
			if err != nil {
				tb.Fatalf("agent %d: %v", k+1, err)
			}
			pids[k] = pid
		}
	}
	for _, d := range daemons {
		if d != nil {
			d.waitReady(tb)
		}
	}
	callers := make([]*testbed.Baresip, n)
	for k := range n {
		callers[k] = testbed.StartBaresip(tb, testbed.BaresipOptions{User: "caller", AudioSource: "ausine," + strconv.Itoa(int(agentTone)), Record: true})
		if err := callers[k].Dial(uris[k]); err != nil {
			tb.Fatalf("agent %d: dial: %v", k+1, err)
		}
	}
	for k, c := range callers {
		if _, err := c.WaitEvent(testbed.EventCallEstablished, 20*time.Second); err != nil {
			tb.Fatalf("agent %d: %v", k+1, err)
		}
	}
	idle(ctx, agentSettle)
	before := agentStats(tb, daemons)
	host, err := startHostCPU()
	if err != nil {
		return err
	}
	idle(ctx, h.opts.AgentWindow)
	if l.hostCPU, err = host.Percent(); err != nil {
		return err
	}
	rss := make([]float64, 0, n)
	for k, pid := range pids {
		mb, err := rssMB(pid)
		if err != nil {
			tb.Fatalf("agent %d: %v", k+1, err)
		}
		rss = append(rss, mb)
	}
	l.rss, _ = Percentile(rss, 50)
	after := agentStats(tb, daemons)
	for k := range daemons {
		if daemons[k] == nil {
			continue
		}
		l.late += after[k].PacketsLate - before[k].PacketsLate
		l.underMS += after[k].OutputUnderrunMillis - before[k].OutputUnderrunMillis
		l.concealed += after[k].FramesConcealed - before[k].FramesConcealed
		l.dropped += after[k].FramesDropped - before[k].FramesDropped
		l.trimMS += after[k].OutputTrimmedMillis - before[k].OutputTrimmedMillis
	}
	for k, c := range callers {
		_ = c.Hangup()
		if _, err := c.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
			tb.Fatalf("agent %d: hang up: %v", k+1, err)
		}
	}
	for k, c := range callers {
		var dec []string
		testbed.WaitFor(5*time.Second, func() bool { dec, _ = c.Recordings(); return len(dec) > 0 })
		if len(dec) == 0 {
			tb.Fatalf("agent %d: the caller recorded nothing", k+1)
		}
		rate, ch, samples, err := testbed.ReadWAV(dec[len(dec)-1])
		if err != nil || ch != 1 {
			tb.Fatalf("agent %d: recording of %d channels (PCMU is mono): %v", k+1, ch, err)
		}
		tail := int(int64(rate) * int64(agentHangTail) / int64(time.Second))
		win := int(int64(rate) * int64(h.opts.AgentWindow) / int64(time.Second))
		if len(samples) < tail+win {
			tb.Fatalf("agent %d: %d samples recorded at %d Hz, want at least %d", k+1, len(samples), rate, tail+win)
		}
		bad, level := testbed.Dropouts(samples[len(samples)-tail-win:len(samples)-tail], rate, agentTone, agentBlock, agentDropout)
		if level < 0.05 {
			media := ""
			if daemons[k] != nil {
				m := after[k]
				media = fmt.Sprintf(" (its call: input %q, output %q, %d packets received, %d frames decoded, %.0f ms underrun)", m.Input, m.Output, m.PacketsReceived, m.FramesDecoded, m.OutputUnderrunMillis)
			}
			tb.Fatalf("agent %d: the %g Hz tone came back at %.3f%s", k+1, agentTone, level, media)
		}
		l.dropouts += bad
		l.worst = max(l.worst, bad)
	}
	return nil
}

// agentStats reads the media figures of each daemon's call (zero for a
// missing daemon or call).
func agentStats(tb *runTB, daemons []*daemon) []phone.MediaInfo {
	out := make([]phone.MediaInfo, len(daemons))
	for k, d := range daemons {
		if d == nil {
			continue
		}
		calls, err := d.client.Calls(context.Background())
		if err != nil {
			tb.Fatalf("agent %d: calls: %v", k+1, err)
		}
		if len(calls) == 1 && calls[0].Media != nil {
			out[k] = *calls[0].Media
		}
	}
	return out
}
