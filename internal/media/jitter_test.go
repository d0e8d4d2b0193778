package media

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// jbTestCoder returns a PCMU coder with its loss concealment.
func jbTestCoder(t testing.TB) frameCoder {
	t.Helper()
	c, err := newCoder(Codec{Name: "PCMU", PayloadType: ptPCMU, ClockRate: 8000, SampleRate: 8000, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// markerPayload is a 20 ms PCMU payload whose samples all decode near
// (idx+1)·1000, so a popped frame tells which packet it came from.
func markerPayload(idx int) []byte {
	p := make([]byte, 160)
	for i := range p {
		p[i] = EncodeMulaw(int16((idx + 1) * 1000))
	}
	return p
}

// frameIndex names a popped frame: the packet index it decodes to, "s"
// for silence, "c" for concealment.
func frameIndex(f []int16, kind playout) string {
	switch kind {
	case playoutSilence:
		return "s"
	case playoutConcealed:
		return "c"
	}
	v := int(f[len(f)/2])
	return strconv.Itoa((v+500)/1000 - 1)
}

type arrival struct {
	idx int // packet index: seq and ts follow it
	ms  int // arrival time
}

// TestJitterBuffer plays packet arrivals against pops every 20 ms from 0 ms
// (the initial target delay is 20 ms) and checks what each pop returned.
func TestJitterBuffer(t *testing.T) {
	inOrder := func(n int) []arrival {
		var a []arrival
		for i := range n {
			a = append(a, arrival{i, i * 20})
		}
		return a
	}
	tests := []struct {
		name      string
		arrivals  []arrival
		pops      int
		want      []string
		late, dup uint64
	}{
		{"in order", inOrder(6), 9,
			[]string{"s", "0", "1", "2", "3", "4", "5", "c", "c"}, 0, 0},
		{"reordered in time", []arrival{{0, 0}, {2, 35}, {1, 36}, {3, 60}, {4, 80}, {5, 100}}, 7,
			[]string{"s", "0", "1", "2", "3", "4", "5"}, 0, 0},
		{"lost packet concealed", []arrival{{0, 0}, {1, 20}, {3, 60}, {4, 80}, {5, 100}}, 7,
			[]string{"s", "0", "1", "c", "3", "4", "5"}, 0, 0},
		{"duplicate dropped", []arrival{{0, 0}, {1, 20}, {1, 21}, {2, 40}, {3, 60}}, 5,
			[]string{"s", "0", "1", "2", "3"}, 0, 1},
		// Packet 2 is due at 60 ms and comes at 85: concealed, and the
		// target grows by a frame, which the buffer takes by playing one
		// frame more (concealed) before packet 4.
		{"late packet dropped, delay grows", []arrival{{0, 0}, {1, 20}, {3, 60}, {4, 80}, {2, 85}, {5, 100}}, 8,
			[]string{"s", "0", "1", "c", "3", "c", "4", "5"}, 1, 0},
		{"nothing arrives", nil, 4, []string{"s", "s", "s", "s"}, 0, 0},
		{"pause, then playout starts anew", []arrival{{0, 0}, {1, 20}, {2, 40}, {18, 360}, {19, 380}, {20, 400}}, 22,
			[]string{"s", "0", "1", "2", "c", "c", "c", "c", "c", "c", "c", "c", "c",
				"s", "s", "s", "s", "s", "s", "18", "19", "20"}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := jbTestCoder(t)
			jb := newJitterBuffer(8000, 8000, 1, 20*time.Millisecond)
			t0 := time.Unix(1000, 0)
			next := 0
			var got []string
			for p := range tt.pops {
				now := t0.Add(time.Duration(p*20) * time.Millisecond)
				for next < len(tt.arrivals) && tt.arrivals[next].ms <= p*20 {
					a := tt.arrivals[next]
					jb.push(42, uint16(1000+a.idx), uint32(5000+160*a.idx), markerPayload(a.idx),
						t0.Add(time.Duration(a.ms)*time.Millisecond))
					next++
				}
				f, kind := jb.pop(now, c, nil)
				if len(f) != 160 {
					t.Fatalf("pop %d: %d samples, want 160", p, len(f))
				}
				got = append(got, frameIndex(f, kind))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("played %v\nwant   %v", got, tt.want)
			}
			st := jb.snapshot()
			if st.late != tt.late || st.duplicate != tt.dup {
				t.Errorf("late %d duplicate %d, want %d %d", st.late, st.duplicate, tt.late, tt.dup)
			}
			if tt.late > 0 && st.target <= jitterStartDelay {
				t.Errorf("target %v did not grow after a late packet", st.target)
			}
		})
	}
}

// simulate sends frames of a 1 kHz tone through a jitter buffer: packet i
// leaves at i·20 ms and arrives after a random extra delay in [0, jitter),
// unless lost with probability loss; frames are popped every 20 ms at a
// phase of 7 ms. It returns what was played after the first second and
// the buffer's counters after the last frame was due.
func simulate(t testing.TB, frames int, jitter time.Duration, loss float64, seed uint64) ([]int16, jitterStats) {
	c := jbTestCoder(t)
	enc := jbTestCoder(t)
	jb := newJitterBuffer(8000, 8000, 1, 20*time.Millisecond)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	signal := tone(frames*160, 8000, 1000, 0.5)
	type ev struct {
		at  time.Duration
		idx int
	}
	var evs []ev
	for i := range frames {
		if rng.Float64() < loss {
			continue
		}
		var extra time.Duration
		if jitter > 0 {
			extra = time.Duration(rng.Int64N(int64(jitter)))
		}
		evs = append(evs, ev{time.Duration(i)*20*time.Millisecond + extra, i})
	}
	slices.SortFunc(evs, func(a, b ev) int { return int(a.at - b.at) })
	t0 := time.Unix(5000, 0)
	var out []int16
	var st jitterStats
	next := 0
	for p := range frames {
		at := time.Duration(p)*20*time.Millisecond + 7*time.Millisecond
		for next < len(evs) && evs[next].at <= at {
			e := evs[next]
			payload := enc.Encode(nil, signal[e.idx*160:(e.idx+1)*160])
			jb.push(7, uint16(e.idx), uint32(e.idx*160), payload, t0.Add(e.at))
			next++
		}
		f, _ := jb.pop(t0.Add(at), c, nil)
		if p >= 50 {
			out = append(out, f...)
		}
	}
	st = jb.snapshot()
	return out, st
}

// TestJitterBufferJitterAndLoss: 40 ms of jitter with 5 % loss keeps the
// tone recognisable, and the delay adapts within its bound.
func TestJitterBufferJitterAndLoss(t *testing.T) {
	out, st := simulate(t, 500, 40*time.Millisecond, 0.05, 1)
	level := ToneLevel(out, 8000, 1000)
	other := ToneLevel(out, 8000, 1500)
	t.Logf("1 kHz level %.3f (sent 0.5), 1.5 kHz %.3f, jitter %v, target %v, late %d, concealed %d of %d",
		level, other, st.jitter, st.target, st.late, st.concealed, st.decoded+st.concealed)
	if level < 0.35 {
		t.Errorf("1 kHz level %.3f, want > 0.35 (sent 0.5)", level)
	}
	if other > 0.05 {
		t.Errorf("1.5 kHz level %.3f, want < 0.05", other)
	}
	if st.jitter < 5*time.Millisecond || st.jitter > 25*time.Millisecond {
		t.Errorf("jitter %v, want about 13 ms for uniform 0-40 ms delays", st.jitter)
	}
	if st.target < 40*time.Millisecond || st.target > jitterMaxDelay {
		t.Errorf("target delay %v, want 40 ms to %v", st.target, jitterMaxDelay)
	}
	if lossy := float64(st.concealed) / float64(st.decoded+st.concealed); lossy > 0.12 {
		t.Errorf("%.1f %% of frames concealed, want < 12 %% (5 %% lost)", 100*lossy)
	}
}

// TestJitterBufferCleanStream: with 2 ms of jitter the playout delay stays
// at one to two frames.
func TestJitterBufferCleanStream(t *testing.T) {
	out, st := simulate(t, 500, 2*time.Millisecond, 0, 2)
	t.Logf("target %v, last held %v, max held %v, concealed %d", st.target, st.lastHeld, st.maxHeld, st.concealed)
	if st.target > 40*time.Millisecond {
		t.Errorf("target delay %v, want <= 40 ms", st.target)
	}
	if st.maxHeld > 60*time.Millisecond {
		t.Errorf("a packet waited %v, want <= 60 ms", st.maxHeld)
	}
	if st.concealed != 0 || st.late != 0 {
		t.Errorf("concealed %d late %d on a clean stream", st.concealed, st.late)
	}
	if lvl := ToneLevel(out, 8000, 1000); lvl < 0.45 {
		t.Errorf("1 kHz level %.3f, want about 0.5", lvl)
	}
}

// TestJitterBufferNewSource: a new SSRC restarts the buffer (RFC 3550 §8.2).
func TestJitterBufferNewSource(t *testing.T) {
	c := jbTestCoder(t)
	jb := newJitterBuffer(8000, 8000, 1, 20*time.Millisecond)
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	jb.push(1, 10, 100, markerPayload(0), ms(0))
	jb.push(1, 11, 260, markerPayload(1), ms(20))
	if _, kind := jb.pop(ms(60), c, nil); kind != playoutDecoded {
		t.Fatalf("first source not playing: %v", kind)
	}
	jb.push(2, 50000, 900000, markerPayload(5), ms(70))
	if len(jb.entries) != 1 || jb.playing {
		t.Fatalf("after new ssrc: %d entries, playing %v; want 1, false", len(jb.entries), jb.playing)
	}
	f, kind := jb.pop(ms(110), c, nil)
	if got := frameIndex(f, kind); got != "5" {
		t.Errorf("played %s, want the new source's packet 5", got)
	}
}

func BenchmarkJitterBufferPushPop(b *testing.B) {
	c := jbTestCoder(b)
	jb := newJitterBuffer(8000, 8000, 1, 20*time.Millisecond)
	payload := markerPayload(3)
	t0 := time.Unix(1000, 0)
	dst := make([]int16, 0, 160)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		at := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		jb.push(1, uint16(i), uint32(i*160), payload, at)
		dst, _ = jb.pop(at.Add(time.Millisecond), c, dst[:0])
		i++
	}
}

// TestJitterBufferPacketSizes: a peer sending 10, 30 or 60 ms packets
// while we play 20 ms frames is played at the right rate, without
// concealment, and the tone comes through.
func TestJitterBufferPacketSizes(t *testing.T) {
	for _, pktMs := range []int{10, 20, 30, 60} {
		t.Run(strconv.Itoa(pktMs)+"ms", func(t *testing.T) {
			c, enc := jbTestCoder(t), jbTestCoder(t)
			jb := newJitterBuffer(8000, 8000, 1, 20*time.Millisecond)
			const seconds = 3
			per := pktMs * 8
			signal := tone(seconds*8000, 8000, 1000, 0.5)
			t0 := time.Unix(100, 0)
			var out []int16
			sent := 0
			for p := range seconds * 50 {
				at := time.Duration(p)*20*time.Millisecond + 5*time.Millisecond
				for sent*pktMs*int(time.Millisecond) <= int(at) && (sent+1)*per <= len(signal) {
					jb.push(1, uint16(sent), uint32(sent*per), enc.Encode(nil, signal[sent*per:(sent+1)*per]),
						t0.Add(time.Duration(sent*pktMs)*time.Millisecond+time.Millisecond))
					sent++
				}
				f, _ := jb.pop(t0.Add(at), c, nil)
				if len(f) != 160 {
					t.Fatalf("pop %d: %d samples", p, len(f))
				}
				if p >= 25 && p < seconds*50-10 {
					out = append(out, f...)
				}
			}
			st := jb.snapshot()
			if st.concealed != 0 || st.late != 0 || st.dropped != 0 {
				t.Errorf("concealed %d late %d dropped %d, want none", st.concealed, st.late, st.dropped)
			}
			if lvl := ToneLevel(out, 8000, 1000); lvl < 0.45 {
				t.Errorf("1 kHz level %.3f, want about 0.5", lvl)
			}
			if st.maxHeld > time.Duration(pktMs+60)*time.Millisecond {
				t.Errorf("a packet waited %v", st.maxHeld)
			}
		})
	}
}

// TestJitterBufferCatchUp: after pops stop for a while (the playback
// device blocks the receive loop, as a PulseAudio null sink does for about
// 2 s after a stream's first period), after a burst, or when the peer's
// packets come later than their timestamps say, the buffer is back to
// playing received packets within a few frames and stays there, with the
// delay it built up trimmed. Packets leave every 20 ms and arrive 1 ms
// later; frames are popped every 20 ms at a phase of 5 ms.
func TestJitterBufferCatchUp(t *testing.T) {
	tests := []struct {
		name string
		// popsBefore frames are popped, then none for popGap.
		popsBefore int
		popGap     time.Duration
		// The first burst packets arrive together, with packet burst-1.
		burst int
		// Packets due in [pauseAt, pauseAt+pause) are held up and arrive
		// together at its end (a stalled reader or peer).
		pauseAt, pause time.Duration
		// Packets sent from shiftAt on arrive shift later, their
		// timestamps unmoved: the path's delay rose, or the peer paused.
		shiftAt, shift time.Duration
		// settle is how many frames after the first pop past the gap may
		// be other than decoded; every frame after them must be decoded,
		// but for stretch frames concealed while the delay grows to a
		// target the jitter raised.
		settle, stretch int
		// wantDropped says whether buffered packets had to be discarded.
		wantDropped bool
	}{
		{name: "no gap", popsBefore: 100, settle: 2},
		{name: "gap of 100 ms", popsBefore: 4, popGap: 100 * time.Millisecond, settle: 1, wantDropped: true},
		{name: "gap of 300 ms", popsBefore: 4, popGap: 300 * time.Millisecond, settle: 1, wantDropped: true},
		// The buffer fills up (28 packets): every push drops its oldest
		// packet, as fast as a packet-per-frame walk towards it goes.
		{name: "gap of 640 ms, buffer full", popsBefore: 4, popGap: 640 * time.Millisecond, settle: 1, wantDropped: true},
		{name: "gap of 700 ms after the first frame", popsBefore: 1, popGap: 700 * time.Millisecond, settle: 1, wantDropped: true},
		{name: "gap of 2 s", popsBefore: 4, popGap: 2 * time.Second, settle: 1, wantDropped: true},
		{name: "gap of 2 s before playout started", popsBefore: 1, popGap: 2*time.Second - 15*time.Millisecond, settle: 1, wantDropped: true},
		{name: "burst of 25 at the start", popsBefore: 100, burst: 25, settle: 2, wantDropped: true},
		{name: "packets held up for 600 ms", popsBefore: 1000, pauseAt: 500 * time.Millisecond, pause: 600 * time.Millisecond, settle: 2, wantDropped: true},
		{name: "delay rises by 600 ms", popsBefore: 1000, shiftAt: 500 * time.Millisecond, shift: 600 * time.Millisecond, settle: 2, stretch: 8},
	}
	const frames = 200
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := jbTestCoder(t)
			jb := newJitterBuffer(8000, 8000, 1, 20*time.Millisecond)
			t0 := time.Unix(1000, 0)
			arrive := func(i int) time.Duration {
				at := time.Duration(max(i, tt.burst-1))*20*time.Millisecond + time.Millisecond
				if at >= tt.pauseAt && at < tt.pauseAt+tt.pause {
					at = tt.pauseAt + tt.pause
				}
				if tt.shift > 0 && at >= tt.shiftAt {
					at += tt.shift
				}
				return at
			}
			packets := int((frames*20*time.Millisecond+tt.popGap+tt.shift)/(20*time.Millisecond)) + 5
			next := 0
			var got []string
			resumed := -1 // index in got of the first pop after the gap
			for p := range frames {
				at := time.Duration(p)*20*time.Millisecond + 5*time.Millisecond
				if p >= tt.popsBefore {
					at += tt.popGap
					if resumed < 0 {
						resumed = p
					}
				}
				for next < packets && arrive(next) <= at {
					jb.push(9, uint16(next), uint32(160*next), markerPayload(next%20), t0.Add(arrive(next)))
					next++
				}
				f, kind := jb.pop(t0.Add(at), c, nil)
				got = append(got, frameIndex(f, kind))
			}
			st := jb.snapshot()
			from := resumed + tt.settle
			if tt.popsBefore >= frames {
				from = tt.settle
			}
			if tt.pause > 0 || tt.shift > 0 {
				// The packets held up play from their arrival on.
				from = int((tt.pauseAt+tt.pause+tt.shiftAt+tt.shift)/(20*time.Millisecond)) + tt.settle
			}
			var stretched []int
			for i := from; i < len(got); i++ {
				if got[i] == "s" || (got[i] == "c" && len(stretched) == tt.stretch) {
					t.Fatalf("frame %d is %q; want decoded frames from frame %d on (%d concealed allowed)\nplayed %v\nstats %+v",
						i, got[i], from, tt.stretch, got, st)
				}
				if got[i] == "c" {
					stretched = append(stretched, i)
				}
			}
			// Decoded frames come in packet order, one packet per frame:
			// no packet is skipped once playout settled.
			prev := -1
			for i := from; i < len(got); i++ {
				b, err := strconv.Atoi(got[i])
				if err != nil {
					continue
				}
				if prev >= 0 && b != (prev+1)%20 {
					t.Fatalf("frame %d played packet %d after %d\nplayed %v", i, b, prev, got)
				}
				prev = b
			}
			if st.late != 0 {
				t.Errorf("%d packets late, want none: all arrived in order", st.late)
			}
			if (st.dropped > 0) != tt.wantDropped {
				t.Errorf("dropped %d, want dropped: %v", st.dropped, tt.wantDropped)
			}
			// The delay built up is gone: the last packet waited no more
			// than the target and two frames.
			if limit := st.target + 40*time.Millisecond; st.lastHeld > limit {
				t.Errorf("the last packet waited %v, want <= %v (target %v)", st.lastHeld, limit, st.target)
			}
		})
	}
}

// TestSessionPlayoutAfterStall is the receive path of a call whose
// playback device blocks right after its first period: ReadFrame is not
// called for 640 ms while the peer's packets keep coming, in order and on
// time. Then frames are read every 20 ms again, and they must be the
// peer's audio within a few frames, not concealment for the rest of the
// call.
func TestSessionPlayoutAfterStall(t *testing.T) {
	clock := newFakeClock()
	tick := newManualTicker()
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: g711("PCMU", addrOf(peer), SendRecv),
		Now: clock.Now, PlayoutTicker: tick.factory()})
	t0 := clock.Now()
	sent := 0
	// send delivers the packets due by ms, each stamped with its arrival
	// time: packet i leaves at i·20 ms and arrives 1 ms later.
	send := func(ms int) {
		t.Helper()
		for ; sent*20+1 <= ms; sent++ {
			b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptPCMU, SequenceNumber: uint16(7000 + sent),
				Timestamp: uint32(30000 + 160*sent), SSRC: 77}, Payload: markerPayload(sent % 20)}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			clock.Set(t0.Add(time.Duration(sent*20+1) * time.Millisecond))
			if _, err := peer.WriteToUDPAddrPort(b, addrOf(sRTP)); err != nil {
				t.Fatal(err)
			}
			if !waitStats(s, func(st Stats) bool { return st.PacketsReceived == uint64(sent+1) }) {
				t.Fatalf("packet %d not received", sent)
			}
		}
	}
	var got []string
	read := func(ms int) {
		t.Helper()
		send(ms)
		clock.Set(t0.Add(time.Duration(ms) * time.Millisecond))
		got = append(got, readPlayout(t, s, tick))
	}
	for p := range 4 {
		read(5 + 20*p)
	}
	const stall = 640
	for p := range 40 {
		read(stall + 85 + 20*p)
	}
	// Two silent frames before the initial delay, two decoded ones, then
	// one frame to catch up after the stall at most.
	const settle = 5
	for i := settle; i < len(got); i++ {
		if got[i] == "c" || got[i] == "s" {
			t.Fatalf("frame %d is %q after the stall\nplayed %v\nstats %+v", i, got[i], got, s.Stats())
		}
	}
	st := s.Stats()
	if st.PacketsLate != 0 || st.FramesDropped == 0 {
		t.Errorf("late %d dropped %d: want none late, and the packets that waited during the stall dropped",
			st.PacketsLate, st.FramesDropped)
	}
	if st.PlayoutDelay > st.PlayoutTarget+40*time.Millisecond {
		t.Errorf("the last packet waited %v; want the delay trimmed to about the target %v", st.PlayoutDelay, st.PlayoutTarget)
	}
}

// TestJitterBufferLag: the lag of a decoded frame is how long after its
// playout instant (nominal arrival plus target) it was played: the
// phase of the pops against the packets.
func TestJitterBufferLag(t *testing.T) {
	c := jbTestCoder(t)
	for _, phase := range []int{0, 7, 19} {
		jb := newJitterBuffer(8000, 8000, 1, 20*time.Millisecond)
		base := time.Unix(1000, 0)
		at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
		// Packets arrive every 20 ms from 0; pops come phase ms after.
		decoded := 0
		for k := range 20 {
			jb.push(1, uint16(k), uint32(160*k), markerPayload(k), at(20*k))
			_, kind := jb.pop(at(20*k+phase), c, nil)
			lag, ok := jb.lastLag()
			if kind != playoutDecoded {
				if ok {
					t.Errorf("phase %d, pop %d: %v with a lag", phase, k, kind)
				}
				continue
			}
			decoded++
			if want := time.Duration(phase) * time.Millisecond; !ok || lag != want {
				t.Errorf("phase %d, pop %d: lag %v %v, want %v", phase, k, lag, ok, want)
			}
		}
		if decoded < 18 {
			t.Errorf("phase %d: %d of 20 pops decoded a packet", phase, decoded)
		}
	}
}
