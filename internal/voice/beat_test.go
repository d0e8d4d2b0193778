package voice

import (
	"testing"
	"time"
)

// beatRun drives a beat the way the send loop does: a wake-up at each
// capture frame (frames, times from t0) or, when none comes first, at the
// beat's deadline (the capture read giving up). It returns the times
// frames were played and the largest number played at one wake-up.
func beatRun(frames []time.Duration, until time.Duration) (plays []time.Duration, most int) {
	const ptime = 20 * time.Millisecond
	t0 := time.Unix(1e6, 0)
	var b beat
	b.ptime = ptime
	now := t0
	wake := func(at time.Duration, device bool) {
		now = t0.Add(at)
		n := b.due(now, ptime, device)
		most = max(most, n)
		for range n {
			plays = append(plays, at)
			b.played++
		}
	}
	for i := 0; ; {
		deadline := b.deadline(now).Sub(t0)
		if i < len(frames) && frames[i] <= deadline {
			wake(frames[i], true)
			i++
		} else {
			if deadline > until {
				return plays, most
			}
			wake(deadline, false)
		}
	}
}

// TestBeat: the playout plays one frame per packet time whatever the
// capture device does: steady with jitter, in bursts of two, stalled,
// drifting from the system clock, or after the goroutine was held up.
func TestBeat(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	steady := func(n int, period, jitter func(i int) time.Duration) []time.Duration {
		var f []time.Duration
		at := time.Duration(0)
		for i := range n {
			f = append(f, at+jitter(i))
			at += period(i)
		}
		return f
	}
	none := func(int) time.Duration { return 0 }
	every := func(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }
	// check: want frames played by until (0: one per packet time).
	check := func(name string, frames []time.Duration, until time.Duration, want, mostWant int) {
		t.Helper()
		plays, most := beatRun(frames, until)
		if want == 0 {
			want = int(until/(20*time.Millisecond)) + 1
		}
		if d := len(plays) - want; d < -1 || d > 1 {
			t.Errorf("%s: %d frames played by %s, want %d±1", name, len(plays), until, want)
		}
		if most > mostWant {
			t.Errorf("%s: %d frames played at one wake-up, want at most %d", name, most, mostWant)
		}
		// No gap over 35 ms and no two frames closer than half a packet
		// time (the second would be played before its packet is due:
		// the jitter buffer conceals, and the playback queue later trims
		// the frame in excess), except where a burst is allowed.
		if mostWant == 1 {
			for i := 1; i < len(plays); i++ {
				if gap := plays[i] - plays[i-1]; gap > 35*time.Millisecond {
					t.Errorf("%s: %s without a frame played at %s", name, gap, plays[i])
					break
				}
			}
			for i := 1; i < len(plays); i++ {
				if gap := plays[i] - plays[i-1]; gap < 10*time.Millisecond {
					t.Errorf("%s: frames played %s apart at %s", name, gap, plays[i])
					break
				}
			}
		}
	}
	jitter := func(i int) time.Duration { return ms(float64((i*7)%11) - 5) } // -5..+5 ms
	check("steady, ±5 ms jitter", steady(500, every(ms(20)), jitter), ms(9990), 0, 1)
	// A device whose frames come late by up to 12 ms (a busy host, a
	// sound server's timer): a frame late by over half a packet time
	// must not count as the next one's, early.
	late := func(i int) time.Duration { return ms(float64((i*7)%16) - 3) } // -3..+12 ms
	check("steady, -3 to +12 ms jitter", steady(500, every(ms(20)), late), ms(9990), 0, 1)
	lateFourth := func(i int) time.Duration {
		if i%4 == 3 {
			return ms(11)
		}
		return 0
	}
	check("every fourth frame 11 ms late", steady(500, every(ms(20)), lateFourth), ms(9990), 0, 1)
	// A sound server's monitor handing over 20 ms frames in uneven
	// chunks, 9, 22 and 30 ms apart: still one frame per packet time.
	chunks := steady(600, func(i int) time.Duration { return ms([]float64{9, 22, 29}[i%3]) }, none)
	check("uneven chunks 9, 22, 29 ms apart", chunks, ms(11990), 0, 1)
	bursts := steady(500, func(i int) time.Duration {
		if i%2 == 0 {
			return 0
		}
		return ms(40)
	}, none)
	check("bursts of two every 40 ms", bursts, ms(9990), 0, 1)
	check("no device (stalled from the start)", nil, ms(2000), 0, 1)
	stall := append(steady(50, every(ms(20)), none), steady(50, every(ms(20)), func(int) time.Duration { return ms(1980) })...)
	check("stalled for a second and back", stall, ms(2990), 0, 1)
	// A device that stalls for two seconds, then hands over its backlog
	// faster than real time (a PulseAudio source after its start-up
	// stall): the playout keeps to the clock, not to the backlog.
	var backlog []time.Duration
	for i := range 200 {
		backlog = append(backlog, ms(2000+10*float64(i)))
	}
	backlog = append(backlog, steady(200, every(ms(20)), none)...)
	for i := 200; i < len(backlog); i++ {
		backlog[i] += ms(4000)
	}
	check("a backlog handed over at twice real time", backlog, ms(7990), 0, 1)
	// A device whose clock is off the system's: the playout follows the
	// device (one frame played per frame captured).
	check("device 0.2 % slow", steady(3000, every(ms(20.04)), none), ms(60110), 3000, 1)
	check("device 0.2 % fast", steady(3000, every(ms(19.96)), none), ms(59870), 3000, 1)
	// Held up: a backlog of five device frames at once after 100 ms
	// without a wake-up; the deadline wake-ups are skipped.
	var held []time.Duration
	for i := range 10 {
		held = append(held, ms(float64(20*i)))
	}
	for range 5 {
		held = append(held, ms(300))
	}
	for i := range 10 {
		held = append(held, ms(float64(320+20*i)))
	}
	plays, _ := beatRun(held, ms(490))
	if len(plays) < 20 || len(plays) > 26 {
		t.Errorf("held up: %d frames played by 490 ms, want about 25", len(plays))
	}
}
