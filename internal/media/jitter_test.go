package media

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
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
// (the initial target delay is 40 ms) and checks what each pop returned.
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
		{"in order", inOrder(6), 10,
			[]string{"s", "s", "0", "1", "2", "3", "4", "5", "c", "c"}, 0, 0},
		{"reordered in time", []arrival{{0, 0}, {2, 40}, {1, 41}, {3, 60}, {4, 80}, {5, 100}}, 8,
			[]string{"s", "s", "0", "1", "2", "3", "4", "5"}, 0, 0},
		{"lost packet concealed", []arrival{{0, 0}, {1, 20}, {3, 60}, {4, 80}, {5, 100}}, 8,
			[]string{"s", "s", "0", "1", "c", "3", "4", "5"}, 0, 0},
		{"duplicate dropped", []arrival{{0, 0}, {1, 20}, {1, 21}, {2, 40}, {3, 60}}, 6,
			[]string{"s", "s", "0", "1", "2", "3"}, 0, 1},
		{"late packet dropped, delay grows", []arrival{{0, 0}, {1, 20}, {3, 60}, {4, 80}, {2, 85}, {5, 100}}, 9,
			[]string{"s", "s", "0", "1", "c", "c", "3", "4", "5"}, 1, 0},
		{"nothing arrives", nil, 4, []string{"s", "s", "s", "s"}, 0, 0},
		{"pause, then playout starts anew", []arrival{{0, 0}, {1, 20}, {2, 40}, {18, 360}, {19, 380}, {20, 400}}, 23,
			[]string{"s", "s", "0", "1", "2", "c", "c", "c", "c", "c", "c", "c", "c", "c",
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
