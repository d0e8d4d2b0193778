package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// figWebRTC is figure 8: a WebRTC call beside a plain RTP call, measured
// in the same run on the same daemon. The daemon has two connections at
// one Kamailio: alice over WebSocket with WebRTC media (rtpengine bridges
// it to plain RTP) and carol over UDP with plain RTP (no media gateway);
// each calls, through Kamailio, a second daemon (bob, plain RTP over UDP,
// auto-answer) in turn. Per call: the dial request → the call active (the 200 OK),
// → audio both ways (the first packet received with ours already
// sending); and one call of each kind held for the CPU window.
func (h *harness) figWebRTC(ctx context.Context) []*Row {
	rows := []*Row{
		{ID: "8a", Figure: "WebRTC call (ws, ICE, DTLS-SRTP via rtpengine): dial → 200 OK, p50", Unit: "ms"},
		{ID: "8b", Figure: "plain RTP call (udp, same Kamailio, no gateway): dial → 200 OK, p50", Unit: "ms"},
		{ID: "8c", Figure: "WebRTC call: dial → audio both ways, p50", Unit: "ms"},
		{ID: "8d", Figure: "plain RTP call: dial → audio both ways, p50", Unit: "ms"},
		{ID: "8e", Figure: "CPU of one active WebRTC call (PCMU)", Unit: "% core"},
		{ID: "8f", Figure: "CPU of one active plain RTP call (PCMU)", Unit: "% core"},
	}
	for run := 0; run < h.opts.Runs && ctx.Err() == nil; run++ {
		var vals [6]float64
		err := h.scope(fmt.Sprintf("webrtc-%d", run), func(tb *runTB) error {
			var err error
			vals, err = h.webrtcRun(ctx, tb)
			return err
		})
		for i, r := range rows {
			if err != nil {
				r.Ours.fail(err)
				continue
			}
			r.Ours.add(vals[i])
		}
	}
	oursOnly := errors.New("ours only: WebRTC beside plain RTP on the same daemon")
	for _, r := range rows {
		r.Baresip.fail(oursOnly)
	}
	rows[0].Note = fmt.Sprintf("%d calls of each kind per run, alternating; times from the API's dial request to the call's active event, and to the first "+
		"received packet seen by polling the call every 2 ms (ours sends from the answer on); the WebRTC times include gathering ICE candidates "+
		"before the INVITE (complete SDP); both daemons on miniaudio's null backend, so that a sound server's stream start-up "+
		"(about 1.8 s for a PulseAudio null sink, in both daemons) is not in the media path's figure", h.opts.WebRTCCalls)
	rows[4].Note = fmt.Sprintf("%s window per call kind; /proc/<pid>/stat utime+stime of the calling daemon", h.opts.CPUWindow)
	return rows
}

// webrtcRun is one run of figure 8: the medians of the four set-up rows
// and the two CPU figures.
func (h *harness) webrtcRun(ctx context.Context, tb *runTB) ([6]float64, error) {
	var out [6]float64
	rtpe := testbed.StartRtpengine(tb)
	k := testbed.StartKamailio(tb, testbed.KamailioOptions{Auth: true, WS: true, RTPEngine: rtpe.NGAddr(), WebRTCUser: "alice"})
	users := k.Users()
	account := fmt.Sprintf("user = alice\npassword = %s\nserver = %s\nprotocol = ws\nreg_timeout = 300\n\n"+
		"[connectivity.1]\nuser = carol\npassword = %s\nserver = %s\nprotocol = udp\nreg_timeout = 300\n",
		users["alice"], k.WSAddr(), users["carol"], k.Addr())
	d := h.startDaemon(tb, daemonOpts{Headset: headsetName, Session: "rtp_timeout = 0", Account: account, NullAudio: true})
	d.waitReady(tb)
	k.WaitContacts(tb, "alice", 1, 15*time.Second)
	k.WaitContacts(tb, "carol", 1, 15*time.Second)
	// The far end is a second daemon, bob, plain RTP over UDP, answering
	// at once: it sends from its answer on, so the first packet back
	// times the media path, not when a phone's capture happens to start.
	far := h.startDaemon(tb, daemonOpts{Headset: headsetName, Session: "auto_answer = 1\nrtp_timeout = 0", NullAudio: true,
		Account: fmt.Sprintf("user = bob\npassword = %s\nserver = %s\nprotocol = udp\nreg_timeout = 300\n", users["bob"], k.Addr())})
	far.waitReady(tb)
	k.WaitContacts(tb, "bob", 1, 15*time.Second)
	ev := d.subscribe(tb)
	target := "sip:bob@" + k.Addr()
	var answer, audio [2][]float64 // [0] WebRTC (connection 0), [1] plain (connection 1)
	for i := 0; i < 2*h.opts.WebRTCCalls && ctx.Err() == nil; i++ {
		conn := i % 2
		a, b, err := webrtcCall(ctx, d, ev, target, conn, 0)
		if err != nil {
			return out, err
		}
		answer[conn] = append(answer[conn], a)
		audio[conn] = append(audio[conn], b)
	}
	for conn := range 2 {
		var err error
		if out[conn], err = Percentile(answer[conn], 50); err != nil {
			return out, err
		}
		if out[2+conn], err = Percentile(audio[conn], 50); err != nil {
			return out, err
		}
		if _, _, err := webrtcCall(ctx, d, ev, target, conn, h.opts.CPUWindow); err != nil {
			return out, err
		}
	}
	out[4], out[5] = d.lastCPU[0], d.lastCPU[1]
	return out, nil
}

// webrtcCall dials target on connection conn and returns the times to the
// answer and to audio both ways, in ms. With hold > 0 the call stays up
// that long and the daemon's CPU over it is kept in d.lastCPU[conn]. The
// call is hung up and its end waited for.
func webrtcCall(ctx context.Context, d *daemon, ev *events, target string, conn int, hold time.Duration) (answer, audio float64, err error) {
	t0 := time.Now()
	ci, err := d.client.Dial(ctx, target, conn)
	if err != nil {
		return 0, 0, err
	}
	isCall := func(state string) func(json.RawMessage) bool {
		return func(data json.RawMessage) bool {
			var c phone.CallInfo
			return json.Unmarshal(data, &c) == nil && c.ID == ci.ID && c.State == state
		}
	}
	if _, err := ev.wait("call", 15*time.Second, isCall("active")); err != nil {
		return 0, 0, err
	}
	answer = ms(time.Since(t0))
	deadline := time.Now().Add(10 * time.Second)
	for {
		calls, err := d.client.Calls(ctx)
		if err != nil {
			return 0, 0, err
		}
		if len(calls) == 1 && calls[0].Media != nil && calls[0].Media.PacketsReceived > 0 && calls[0].Media.PacketsSent > 0 {
			audio = ms(time.Since(t0))
			if want := []string{"webrtc", "rtp"}[conn]; calls[0].Media.Transport != want {
				return 0, 0, fmt.Errorf("%w: call on connection %d has transport %q, want %s", ErrFigureFailed, conn, calls[0].Media.Transport, want)
			}
			break
		}
		if time.Now().After(deadline) {
			var media []byte
			if len(calls) > 0 {
				media, _ = json.Marshal(calls[0].Media)
			}
			return 0, 0, fmt.Errorf("%w: no audio both ways within 10 s on connection %d: media %s", ErrFigureFailed, conn, media)
		}
		time.Sleep(2 * time.Millisecond) // the polling period of the measurement
	}
	if hold > 0 {
		m, err := startCPU(d.pid())
		if err != nil {
			return 0, 0, err
		}
		idle(ctx, hold)
		if d.lastCPU[conn], err = m.Percent(); err != nil {
			return 0, 0, err
		}
	}
	if err := d.client.Hangup(ctx, ci.ID); err != nil {
		return 0, 0, err
	}
	if _, err := ev.wait("call", 10*time.Second, isCall("ended")); err != nil {
		return 0, 0, err
	}
	return answer, audio, nil
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
