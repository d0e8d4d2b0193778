package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// cpuSettle is the time figure 3 lets a call run before its window.
const cpuSettle = 3 * time.Second

// figCPU is figure 3: the CPU of one active call through the virtual
// headset, PCMU and Opus. The caller is a baresip that sends a sine and
// plays nothing; the phone under test answers automatically and uses the
// headset for both directions.
func (h *harness) figCPU(ctx context.Context) []*Row {
	var rows []*Row
	for _, c := range []struct {
		id, memID, codec, goal string
		max                    float64
	}{
		{"3a", "3c", "PCMU", "ratio ≤ 1.0", 1.0}, {"3b", "3d", "opus", "ratio ≤ 1.0", 1.0},
	} {
		row := &Row{ID: c.id, Figure: "CPU of one active call, " + strings.ToUpper(c.codec) + ", both ends sending", Unit: "% core",
			Goal: c.goal, goal: ratioAtMost(c.max)}
		alt := &Row{ID: c.id + "'", Figure: "same, baresip sending a generated sine (PulseAudio for playback only)", Unit: "% core"}
		host := &Row{ID: c.id + "+", Figure: "same call, the phone and the sound server (PulseAudio) together", Unit: "% core",
			Goal: c.goal, goal: ratioAtMost(c.max)}
		mem := &Row{ID: c.memID, Figure: "resident memory in that call (" + strings.ToUpper(c.codec) + ")", Unit: "MB",
			Goal: "ours ≤ 16 MB", goal: oursAtMost(16)}
		sending, memParts := []string{}, []string{}
		for run := 0; run < h.opts.CPURuns && ctx.Err() == nil; run++ {
			for _, im := range order(run) {
				variants := []bool{false}
				if im == ImplBaresip && run == 0 {
					variants = []bool{false, true}
				}
				for _, generated := range variants {
					side := sideOf(row, im)
					if generated {
						side = &alt.Baresip
					}
					h.measure(fmt.Sprintf("cpu-%s-%s-%d", c.codec, im, run), side, func(tb *runTB) (float64, error) {
						uri, pid := "", 0
						var d *daemon
						switch im {
						case ImplOurs:
							d = h.startDaemon(tb, daemonOpts{Headset: headsetName, Session: "auto_answer = 1"})
							d.waitReady(tb)
							uri, pid = "sip:agent@"+d.sipAddr, d.pid()
						case ImplBaresip:
							b := h.baresipSUT(tb, testbed.BaresipOptions{AnswerMode: "auto", Codecs: []string{c.codec}}, !generated)
							uri = "sip:agent@127.0.0.1:" + strconv.Itoa(b.SIPPort())
							p, err := baresipPid(b.Dir())
							if err != nil {
								return 0, err
							}
							pid = p
						}
						caller := testbed.StartBaresip(tb, testbed.BaresipOptions{User: "caller", Codecs: []string{c.codec}})
						if err := caller.Dial(uri); err != nil {
							return 0, err
						}
						if _, err := caller.WaitEvent(testbed.EventCallEstablished, 15*time.Second); err != nil {
							return 0, err
						}
						// Both phones open their devices as they answer,
						// and baresip still settles its start-up (about
						// 1.5 s of CPU) then: the window starts once the
						// call runs steadily.
						idle(ctx, cpuSettle)
						m, err := startCPU(pid)
						if err != nil {
							return 0, err
						}
						srv, err := startCPU(h.pa.Pid())
						if err != nil {
							return 0, err
						}
						idle(ctx, h.opts.CPUWindow)
						pc, err := m.Percent()
						if err != nil {
							return 0, err
						}
						if t := m.Threads(); t != "" {
							fmt.Fprintf(os.Stderr, "%s %s %s\n%s\n%s\n", c.codec, im, map[bool]string{true: "generated"}[generated], t, srv.Threads())
						}
						spc, err := srv.Percent()
						if err != nil {
							return 0, err
						}
						if !generated {
							sideOf(host, im).add(pc + spc)
							rss, err := rssMB(pid)
							if err != nil {
								return 0, err
							}
							sideOf(mem, im).add(rss)
							parts, err := rssParts(pid)
							if err != nil {
								return 0, err
							}
							memParts = append(memParts, fmt.Sprintf("%s %s", im, parts))
						}
						if d != nil {
							calls, err := d.client.Calls(context.Background())
							if err != nil {
								return 0, err
							}
							if len(calls) != 1 || calls[0].Media == nil {
								return 0, fmt.Errorf("%w: want one call with media, have %+v", ErrFigureFailed, calls)
							}
							mi := calls[0].Media
							if !strings.EqualFold(mi.Codec, c.codec) || mi.PacketsReceived == 0 {
								return 0, fmt.Errorf("%w: call media %s, %d packets received", ErrFigureFailed, mi.Codec, mi.PacketsReceived)
							}
							sending = append(sending, fmt.Sprintf("packets_sent=%d received=%d", mi.PacketsSent, mi.PacketsReceived))
						}
						_ = caller.Hangup()
						if im == ImplOurs {
							alt.Ours.add(pc)
						}
						return pc, nil
					})
				}
			}
		}
		row.Note = fmt.Sprintf("%s windows from %s after the call is up; /proc/<pid>/stat utime+stime of the answering phone; ours: %s", h.opts.CPUWindow, cpuSettle, strings.Join(sending, ", "))
		if len(sending) > 0 && strings.HasPrefix(sending[0], "packets_sent=0 ") {
			row.Note += " — ours does not send yet (device audio path not wired): the ratio compares receive-only with full duplex"
		}
		alt.Note = "the same baresip with its capture replaced by a generator: what ALSA's pulse plugin capture costs it"
		host.Note = "the phone's and the PulseAudio server's utime+stime over the same window: baresip opens the devices at the codec's rate and the server converts, ours opens them at 48 kHz and converts itself"
		mem.Note = "VmRSS of the answering phone at the end of the CPU window; " + strings.Join(memParts, "; ")
		rows = append(rows, row, host, alt, mem)
	}
	return rows
}
