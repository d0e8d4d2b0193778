package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// Impairment used by the tests below: the issue's "5 % loss and 40 ms
// jitter".
const (
	impairLossPercent = 5
	impairJitter      = 40 * time.Millisecond
)

// TestImpairedCallAudio: through the real daemon and a real baresip, a
// 440 Hz tone sent by baresip stays recognisable at our headset when the
// RTP towards us loses 5 % of its packets and is delayed by a random
// 0-40 ms per packet (so packets arrive out of order), for PCMU and for
// Opus (with in-band FEC, which the daemon offers by default).
//
// This kernel has no netem (ENV.md §8), so the impairment is built from
// nftables and a UDP relay in the test (testbed.Steer, testbed.StartRelay):
//
//	baresip RTP port B ──► 127.0.0.1:D (the daemon's RTP port)
//	    nftables output hook, priority raw: sport B dport D → dport R
//	    nftables input hook: numgen random mod 100 < 5 → drop
//	relay on R: hold each packet 0-40 ms ──► D, from the relay's own port
//	daemon ──► B directly (it latched onto B before the steering began)
//
// The call is set up unimpaired first. By then the daemon has latched
// its sending onto baresip's source address (symmetric RTP, RFC 4961 §4)
// and keeps sending there, so only the baresip → daemon direction runs
// through the relay; the daemon accepts the relay's packets because it
// receives from any source once latched. The rewrite is a stateless
// payload change before conntrack, because a NAT redirect would not apply
// to the flow's conntrack entry that already exists. D is the even port of
// the RTP/RTCP pair the daemon bound in its configured RTP range (read from
// /proc), B is the call's media remote; the rules match only that pair, so
// other tests are untouched, and the table is deleted at cleanup.
//
// Asserted: the call stays up; the tone at our output keeps a level of at
// least 0.15 of full scale (sent at 0.5; the unimpaired level, measured on
// the same call before the steering, is logged beside it) and is a 440 Hz
// tone (five times above its neighbours 330 and 550 Hz); the daemon's
// own figures show packets lost and interarrival jitter above 10 ms (RFC
// 3550 §6.4.1), so the impairment really reached its receive path; and
// nftables and the relay counted steered, dropped and reordered packets.
func TestImpairedCallAudio(t *testing.T) {
	testbed.Require(t, "nft", "pulseaudio", "pactl", "parec", "paplay", "baresip")
	for _, codec := range []string{"PCMU", "opus"} {
		t.Run(codec, func(t *testing.T) {
			leaks := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // runs after every other cleanup
			mb := startMediaBed(t, "", "")
			rate := 8000
			if codec == "opus" {
				rate = 48000
			}
			tone := filepath.Join(t.TempDir(), "tone440.wav")
			if err := testbed.WriteToneWAV(tone, rate, 440, 60, 0.5); err != nil {
				t.Fatal(err)
			}
			b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "peer", AnswerMode: "auto",
				AudioSource: tone, Codecs: []string{codec}})
			// Our microphone hears a 1 kHz tone (not what we measure).
			mb.pa.Play(t, feedSink, testbed.Tone(1000, 48000, 48000*30, 0.5), 48000)
			if _, errOut, code := runCLI(t, mb.env, "dial", "-c", mb.cfg, b.URI()); code != 0 {
				t.Fatalf("dial: %s", errOut)
			}
			ci := mb.activeCall(t)
			if !strings.EqualFold(ci.Media.Codec, codec) {
				t.Fatalf("media %+v, want %s", ci.Media, codec)
			}
			ours := daemonRTPPort(t, mb)
			theirs, err := netip.ParseAddrPort(ci.Media.Remote)
			if err != nil {
				t.Fatalf("media remote %q: %v", ci.Media.Remote, err)
			}
			// baresip binds an even port (RFC 3550 §11), rounding an odd
			// range start down.
			if first, last := b.RTPPorts(); int(theirs.Port()) < first-first%2 || int(theirs.Port()) > last {
				t.Fatalf("the daemon sends to %s, not to baresip's RTP range %d-%d", theirs, first, last)
			}

			// The unimpaired tone first, as the reference: once it comes
			// out of our headset (a PulseAudio null sink stalls for about
			// 2 s after a stream starts), the level of 1 s of it.
			var ref float64
			testbed.WaitFor(15*time.Second, func() bool {
				ref = toneAt(t, mb, 2*time.Second, 16000)
				return ref >= 0.15
			})
			if ref < 0.15 {
				t.Fatalf("440 Hz at our output before the impairment: level %.3f\nsink inputs:\n%s\ndaemon:\n%s\nbaresip:\n%s",
					ref, mb.pa.Pactl(t, "list", "sink-inputs"), withoutSIPTrace(mb.proc.Log()), b.Log())
			}

			relay := testbed.StartRelay(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ours)),
				testbed.Impairment{Jitter: impairJitter, Seed: 0x5eed})
			steer := testbed.Steer(t, testbed.SteerOptions{From: int(theirs.Port()), To: ours,
				Via: int(relay.Addr().Port()), LossPercent: impairLossPercent})
			before := callMedia(t, mb)

			// Record our headset for 4.5 s while reading the daemon's
			// figures; the jitter estimate is smoothed (gain 1/16), so
			// its largest value over the recording is kept.
			rec := mb.pa.Record(t, mb.out.SinkName+".monitor", 16000)
			var maxJitter float64
			tick := time.NewTicker(250 * time.Millisecond)
			for end := time.Now().Add(4500 * time.Millisecond); time.Now().Before(end); {
				<-tick.C // pacing of the recording, not synchronisation
				if m := callMedia(t, mb); m.JitterMillis > maxJitter {
					maxJitter = m.JitterMillis
				}
			}
			tick.Stop()
			got := rec.Stop(t)
			after := callMedia(t, mb)
			rs := relay.Stats()
			ns, err := steer.Stats()
			if err != nil {
				t.Fatal(err)
			}

			// The last 2 s of the recording: well past the null sink's
			// start-up stall and long enough to average the losses.
			const window = 2 * 16000
			if len(got) < window {
				t.Fatalf("recorded %d samples, want at least %d", len(got), window)
			}
			got = got[len(got)-window:]
			level := testbed.ToneLevel(got, 440, 16000)
			lo, hi := testbed.ToneLevel(got, 330, 16000), testbed.ToneLevel(got, 550, 16000)
			lost := after.PacketsLost - before.PacketsLost
			// Weakest 100 ms of the window, for the log.
			weakest := 1.0
			for i := 0; i+1600 <= len(got); i += 1600 {
				weakest = min(weakest, testbed.ToneLevel(got[i:i+1600], 440, 16000))
			}
			t.Logf("%s: tone 440 Hz %.3f unimpaired, %.3f impaired (weakest 100 ms %.3f; 330 Hz %.3f, 550 Hz %.3f); daemon: lost %d of %d, jitter max %.1f ms, at end %.1f ms, MOS %.2f; "+
				"nft: steered %d, dropped %d; relay: received %d, forwarded %d, reordered %d",
				codec, ref, level, weakest, lo, hi, lost, after.PacketsReceived-before.PacketsReceived+uint64(max(lost, 0)),
				maxJitter, after.JitterMillis, after.MOS, ns.Steered, ns.Dropped, rs.Received, rs.Forwarded, rs.Reordered)

			// The impairment really happened, on this call's RTP.
			if ns.Steered < 100 {
				t.Errorf("nftables steered %d packets to the relay, want the call's RTP (>= 100)", ns.Steered)
			}
			if ns.Dropped == 0 || ns.Dropped*100 > ns.Steered*3*impairLossPercent {
				t.Errorf("nftables dropped %d of %d packets, want about %d %%", ns.Dropped, ns.Steered, impairLossPercent)
			}
			if rs.Received == 0 || rs.Received+ns.Dropped > ns.Steered {
				t.Errorf("the relay received %d packets of %d steered and %d dropped", rs.Received, ns.Steered, ns.Dropped)
			}
			if rs.Reordered == 0 {
				t.Errorf("the relay reordered no packet of %d forwarded", rs.Forwarded)
			}
			if lost <= 0 {
				t.Errorf("the daemon counted %d packets lost during the impairment (before %+v, after %+v)", lost, before, after)
			}
			if maxJitter <= 10 {
				t.Errorf("the daemon's interarrival jitter peaked at %.1f ms, want > 10 ms", maxJitter)
			}
			// The tone is recognisable: strong, and at its own frequency.
			if level < 0.15 {
				t.Errorf("440 Hz at our output under impairment: level %.3f (unimpaired %.3f), want >= 0.15", level, ref)
			}
			if level < 5*lo || level < 5*hi {
				t.Errorf("440 Hz (%.3f) does not stand out from 330 Hz (%.3f) and 550 Hz (%.3f)", level, lo, hi)
			}

			// The call stayed up through it all.
			calls, err := mb.client.Calls(context.Background())
			if err != nil || len(calls) != 1 || calls[0].State != "active" {
				t.Fatalf("the call did not survive the impairment: %+v %v", calls, err)
			}
			if ev, err := b.WaitEvent(testbed.EventCallClosed, 10*time.Millisecond); err == nil {
				t.Fatalf("baresip saw the call close during the impairment: %s", ev.Raw)
			}
			if err := mb.client.Hangup(context.Background(), ""); err != nil {
				t.Fatal(err)
			}
			if _, err := b.WaitEvent(testbed.EventCallClosed, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestImpairSteering checks the impairment tools alone, without a call:
// datagrams from one port to another are steered through the relay,
// about 5 % are dropped by nftables, the rest arrive from the relay's
// address, some out of order, and nothing else is lost.
func TestImpairSteering(t *testing.T) {
	testbed.Require(t, "nft")
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	lo := net.IPv4(127, 0, 0, 1)
	dst, err := net.ListenUDP("udp", &net.UDPAddr{IP: lo})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	src, err := net.ListenUDP("udp", &net.UDPAddr{IP: lo})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	relay := testbed.StartRelay(t, dst.LocalAddr().(*net.UDPAddr).AddrPort(), testbed.Impairment{Jitter: impairJitter, Seed: 7})
	steer := testbed.Steer(t, testbed.SteerOptions{From: src.LocalAddr().(*net.UDPAddr).Port,
		To: dst.LocalAddr().(*net.UDPAddr).Port, Via: int(relay.Addr().Port()), LossPercent: impairLossPercent})

	// The receiver reads until dst is closed.
	var (
		mu    sync.Mutex
		order []int
		froms = map[netip.AddrPort]int{}
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			n, from, err := dst.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			var seq int
			if _, err := fmt.Sscanf(string(buf[:n]), "pkt %d", &seq); err != nil {
				continue
			}
			mu.Lock()
			order = append(order, seq)
			froms[from]++
			mu.Unlock()
		}
	}()
	defer wg.Wait()
	defer dst.Close() // before wg.Wait: ends the receiver

	const sent = 500
	tick := time.NewTicker(2 * time.Millisecond) // pacing: packets 2 ms apart
	for i := range sent {
		<-tick.C
		if _, err := src.WriteToUDP([]byte(fmt.Sprintf("pkt %d", i)), dst.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	// Everything not dropped comes out of the relay.
	var ns testbed.SteerStats
	done := testbed.WaitFor(10*time.Second, func() bool {
		ns, err = steer.Stats()
		if err != nil {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		return ns.Steered == sent && uint64(len(order)) == sent-ns.Dropped
	})
	mu.Lock()
	defer mu.Unlock()
	rs := relay.Stats()
	t.Logf("sent %d: nft steered %d, dropped %d; relay received %d, forwarded %d, reordered %d; arrived %d",
		sent, ns.Steered, ns.Dropped, rs.Received, rs.Forwarded, rs.Reordered, len(order))
	if !done {
		t.Fatalf("after 10 s: steered %d of %d, dropped %d, arrived %d (%v)", ns.Steered, sent, ns.Dropped, len(order), err)
	}
	if ns.Dropped == 0 || ns.Dropped > 3*sent*impairLossPercent/100 {
		t.Errorf("nftables dropped %d of %d, want about %d %%", ns.Dropped, sent, impairLossPercent)
	}
	if rs.Received != sent-ns.Dropped || rs.Forwarded != rs.Received {
		t.Errorf("relay received %d and forwarded %d, want %d", rs.Received, rs.Forwarded, sent-ns.Dropped)
	}
	if len(froms) != 1 || froms[relay.SendAddr()] != len(order) {
		t.Errorf("datagrams came from %v, want all from the relay %s", froms, relay.SendAddr())
	}
	inversions := 0
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			inversions++
		}
	}
	if inversions == 0 || rs.Reordered == 0 {
		t.Errorf("no reordering: %d inversions seen, relay counted %d", inversions, rs.Reordered)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(order)))) != len(order) {
		t.Error("a datagram arrived twice")
	}
}

// toneAt records our headset for d and returns the 440 Hz level of its
// last second.
func toneAt(t *testing.T, mb *mediaBed, d time.Duration, rate int) float64 {
	t.Helper()
	rec := mb.pa.Record(t, mb.out.SinkName+".monitor", rate)
	time.Sleep(d) // recording length, not synchronisation
	got := rec.Stop(t)
	if len(got) > rate {
		got = got[len(got)-rate:]
	}
	return testbed.ToneLevel(got, 440, rate)
}

// withoutSIPTrace drops sipgo's debug lines from a daemon log.
func withoutSIPTrace(log string) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "layer=sipgo") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// callMedia returns the only call's media figures.
func callMedia(t *testing.T, mb *mediaBed) phone.MediaInfo {
	t.Helper()
	calls, err := mb.client.Calls(context.Background())
	if err != nil || len(calls) != 1 || calls[0].Media == nil {
		t.Fatalf("calls: %+v %v", calls, err)
	}
	return *calls[0].Media
}

// daemonRTPPort returns the RTP port of the daemon's only call: the even
// port of the RTP/RTCP pair it has bound inside its configured range.
func daemonRTPPort(t *testing.T, mb *mediaBed) int {
	t.Helper()
	c, _, err := config.Load(mb.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := testbed.UDPPorts(mb.proc.Cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	var rtp []int
	for _, p := range ports {
		if p%2 == 0 && p >= c.Endpoint.RTPPortMin && p < c.Endpoint.RTPPortMax && slices.Contains(ports, p+1) {
			rtp = append(rtp, p)
		}
	}
	if len(rtp) != 1 {
		t.Fatalf("daemon UDP ports %v: want one RTP/RTCP pair in %d-%d, found %v",
			ports, c.Endpoint.RTPPortMin, c.Endpoint.RTPPortMax, rtp)
	}
	return rtp[0]
}

// TestQualityAlarm: heavy loss on our receive path raises the voice-quality
// alarm below [policy.session] vq_alarm_threshold — an event on the stream
// naming loss as the cause, a log line, and vq_alarm_on in the Connector
// session — once for the dip, and the call stays up.
func TestQualityAlarm(t *testing.T) {
	testbed.Require(t, "nft", "pulseaudio", "pactl", "parec", "paplay", "baresip", "curl")
	mb := startMediaBed(t, "", "vq_alarm_threshold = 3.6\n")
	b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "peer", AnswerMode: "auto", AudioSource: "ausine,440"})
	if _, errOut, code := runCLI(t, mb.env, "dial", "-c", mb.cfg, b.URI()); code != 0 {
		t.Fatalf("dial: %s", errOut)
	}
	ci := mb.activeCall(t)
	theirs, err := netip.ParseAddrPort(ci.Media.Remote)
	if err != nil {
		t.Fatal(err)
	}
	ours := daemonRTPPort(t, mb)
	relay := testbed.StartRelay(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ours)),
		testbed.Impairment{Jitter: impairJitter, Seed: 0xa1a})
	testbed.Steer(t, testbed.SteerOptions{From: int(theirs.Port()), To: ours, Via: int(relay.Addr().Port()), LossPercent: 30})
	data := waitEvent(t, mb.ev, "quality", 30*time.Second, func(d json.RawMessage) bool {
		return strings.Contains(string(d), `"vq_alarm_on":true`)
	})
	var q struct {
		MOS       float64 `json:"mos"`
		Cause     string  `json:"cause"`
		Threshold float64 `json:"threshold"`
	}
	if err := json.Unmarshal(data, &q); err != nil || q.MOS >= 3.6 || q.Threshold != 3.6 || q.Cause != "loss" {
		t.Errorf("alarm event %s: want a MOS below the 3.6 threshold, caused by loss", data)
	}
	st, err := mb.client.Session(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The alarm stays on until the MOS is 0.3 above the threshold.
	if !st.Phone.VQAlarmOn || st.Phone.LocalMOS <= 0 || st.Phone.LocalMOS >= 3.9 {
		t.Errorf("connector session phone: %+v", st.Phone)
	}
	calls, err := mb.client.Calls(context.Background())
	if err != nil || len(calls) != 1 || calls[0].State != "active" {
		t.Fatalf("the call did not survive: %+v %v", calls, err)
	}
	// Three more seconds of the dip (the phone checks once a second): still
	// one alarm, in one log line naming the cause.
	seen := calls[0].Media.PacketsReceived
	if !testbed.WaitFor(30*time.Second, func() bool {
		c, err := mb.client.Calls(context.Background())
		return err == nil && len(c) == 1 && c[0].Media != nil && c[0].Media.PacketsReceived > seen+100
	}) {
		t.Fatal("the call's media stopped")
	}
	if n := strings.Count(mb.proc.Log(), `msg="voice quality alarm"`); n != 1 || !strings.Contains(mb.proc.Log(), "on=true cause=loss") {
		t.Errorf("%d voice quality alarm log lines, want one with on=true cause=loss:\n%s", n, mb.proc.Log())
	}
}
