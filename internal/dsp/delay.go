package dsp

import "math"

// The echo's delay past the speaker's place (what the device counters
// account for) is the playback and capture servers' buffering, the room,
// and any relay on the way: 20 ms on a headset, 100-250 ms through a
// sound server's loopback or a virtual desktop's audio channel. Both
// cancellers lose the echo beyond their reach: speexdsp's filter spans
// Tail, and WebRTC's module (0.3) lost the path on the test bed with
// the echo 180 ms or more past the speaker's place. So the stage measures
// that delay and holds the reference back by it (less a margin), leaving
// the cancellers a short, early echo.
//
// Neither library gives a delay estimate to its user: speexdsp has none,
// and WebRTC's (delay_estimator_wrapper.h) is internal to the module, its
// header not installed by the package. The estimate here is the lag of
// the best normalised correlation between the log energy envelopes of
// the reference and the microphone, in 4 ms blocks, over the last 2 s:
// cheap (about 150 000 multiply-adds every 100 ms), blind to the echo
// path's phase and colour, and accurate to a block or two, which the
// margin absorbs. An estimate counts when two in a row agree with a
// correlation of 0.8 or more (an echo gives 0.9-0.99 on the test bed; two
// people talking at once, up to 0.6), so a headset, with no echo, keeps
// its reference where the speaker is.
//
// Once the echo is found, its delay can jump mid-call: an underrun of our
// playback stream in the sound server (or an overrun of the capture
// stream) shifts the echo by the gap, and the device counters the
// reference is aligned on do not see it (the PulseAudio bed logs
// "Implicit underrun" for such gaps under load; the echo moved 16-20 ms).
// The newest 600 ms of the envelopes show the jump within about 0.7 s
// (follow), and the reference moves to it.
const (
	delayBlock      = 4                        // ms, one point of the envelopes
	delayMaxLag     = 400                      // ms, the longest delay looked for
	delayWindow     = 2000                     // ms of microphone correlated
	delayMinWin     = 500                      // ms of microphone before the first estimate
	delayEvery      = 100                      // ms between estimates
	delayMargin     = 24                       // ms of the delay left to the cancellers
	delayMinCorr    = 0.8                      // the correlation an estimate needs (0.97-0.99 on an echo; two talkers' rhythms reach 0.6)
	delayHysteresis = 0.1                      // how much better a new delay must correlate than the one in force
	delayAgree      = 2                        // blocks two estimates in a row must agree within
	delayMinShift   = delayMargin / delayBlock // blocks: a smaller move leaves the echo within the filters, and restarting them costs a second
	delayRecent     = 600                      // ms of microphone in which a jump of the echo is looked for
	delayJumpCorr   = 0.9                      // the correlation a jump needs there
	delayJumpGain   = 0.03                     // how much better than the delay in force (the envelopes are smooth: 16 ms off an echo's peak still correlates 0.9)
	delayJumpMin    = 3                        // blocks: the smallest jump followed
	delayJumpAgree  = 3                        // estimates in a row that must see the jump
)

// delayEstimator follows the echo's delay; it is fed one captured frame
// and the reference read for it (at the speaker's place) at a time. Owned
// by the goroutine calling Capture.
type delayEstimator struct {
	block    int       // samples per envelope point
	ref, mic []float64 // envelope rings, delayMaxLag+delayWindow long
	n        int       // points written
	accRef   float64   // the current block's energy so far
	accMic   float64
	fill     int // samples in the current block
	since    int // points since the last estimate

	mw, rw []float64 // the windows of an estimate, unrolled

	last    int  // the last confident estimate, in points (-1: none)
	jump    int  // the jump follow saw last, in points (-1: none)
	jumps   int  // how many estimates in a row saw it
	jumped  bool // the last move was a jump (follow)
	delay   int  // the delay in force, in points (-1: none yet)
	changes uint64
}

func newDelayEstimator(rate int) *delayEstimator {
	size := (delayMaxLag + delayWindow) / delayBlock
	d := &delayEstimator{block: rate * delayBlock / 1000, ref: make([]float64, size), mic: make([]float64, size), last: -1, jump: -1, delay: -1}
	// Before the call the speaker was silent: the reference's history
	// is silence, so the first estimate need not wait for a whole lag.
	floor := envelope(0, d.block)
	for i := range d.ref {
		d.ref[i] = floor
	}
	return d
}

// envelope is one point: the block's energy in dB (above one LSB
// squared per sample, so silence is 0).
func envelope(energy float64, n int) float64 {
	return 10 * math.Log10(1+energy/float64(n))
}

// feed takes a captured frame and its reference (the same length) and
// reports whether the delay in force changed.
func (d *delayEstimator) feed(mic, ref []int16) bool {
	changed := false
	for i := range mic {
		m, r := float64(mic[i]), float64(ref[i])
		d.accMic += m * m
		d.accRef += r * r
		d.fill++
		if d.fill < d.block {
			continue
		}
		at := d.n % len(d.ref)
		d.ref[at], d.mic[at] = envelope(d.accRef, d.block), envelope(d.accMic, d.block)
		d.n++
		d.accRef, d.accMic, d.fill = 0, 0, 0
		d.since++
		if d.since >= delayEvery/delayBlock && d.n >= delayMinWin/delayBlock {
			d.since = 0
			if d.estimate() {
				changed = true
			}
		}
	}
	return changed
}

// estimate correlates the newest window of the microphone's envelope
// with the reference's at each lag and updates the delay in force.
func (d *delayEstimator) estimate() bool {
	w := min(d.n, delayWindow/delayBlock)
	maxLag := delayMaxLag / delayBlock
	end := d.n // one past the newest point
	// The windows, out of the rings: the microphone's last w points, and
	// the reference's from maxLag earlier (rw[maxLag-lag:][:w] lines up
	// with mw at lag).
	mw := unroll(d.mw[:0], d.mic, end-w, w)
	rw := unroll(d.rw[:0], d.ref, end-w-maxLag, w+maxLag)
	d.mw, d.rw = mw, rw
	if d.delay >= 0 && d.follow(mw, rw, maxLag) {
		return true
	}
	best, bestLag, current, ok := correlate(mw, rw, maxLag, d.delay)
	if !ok {
		return false
	}
	// A peak at the end of the range may be a longer delay's slope;
	// a new delay must beat the one in force clearly.
	if best < delayMinCorr || bestLag >= maxLag-1 || (d.delay >= 0 && best < current+delayHysteresis) {
		d.last = -1
		return false
	}
	agreed := d.last >= 0 && abs(bestLag-d.last) <= delayAgree
	d.last = bestLag
	if !agreed || (d.delay >= 0 && abs(bestLag-d.delay) < delayMinShift) {
		return false
	}
	d.move(bestLag, false)
	return true
}

// follow looks for a jump of the echo in the newest delayRecent of the
// envelopes (mw and rw as estimate unrolls them): a sound server's
// underrun or overrun on either stream moves the echo by the gap, 10-40
// ms, at once. The whole window would see the new delay beat the old only
// once most of it is past the jump, 1-2 s, and the cancellers lose the
// echo meanwhile (on the PulseAudio bed under load, from 50 to 15 dB for
// 4 s and more, without reconverging on their own); the recent part sees
// it within about 0.7 s (1 s in one run on the bed under load). Its
// figure is noisier, so it asks more: a stronger peak, away from the
// delay in force and better than it there, in delayJumpAgree estimates
// in a row.
func (d *delayEstimator) follow(mw, rw []float64, maxLag int) bool {
	ws := min(len(mw), delayRecent/delayBlock)
	off := len(mw) - ws
	best, lag, current, ok := correlate(mw[off:], rw[off:], maxLag, d.delay)
	if !ok || best < delayJumpCorr || lag >= maxLag-1 || best < current+delayJumpGain || abs(lag-d.delay) < delayJumpMin {
		d.jump, d.jumps = -1, 0
		return false
	}
	if d.jump >= 0 && abs(lag-d.jump) <= 1 {
		d.jumps++
	} else {
		d.jumps = 1
	}
	d.jump = lag
	if d.jumps < delayJumpAgree {
		return false
	}
	d.move(lag, true)
	return true
}

// move puts a new delay in force; jumped is whether follow saw it.
func (d *delayEstimator) move(lag int, jumped bool) {
	d.delay, d.jumped = lag, jumped
	d.changes++
	d.last, d.jump, d.jumps = -1, -1, 0
}

// correlate is the normalised correlation of mw with rw at each lag
// (rw[maxLag-lag:][:len(mw)] lines up with mw at lag): the best and its
// lag (the shorter of equals), and the figure at lag cur (-1 when cur is
// not a lag or the reference is flat there). ok is false when the
// microphone is flat: nothing to align on.
func correlate(mw, rw []float64, maxLag, cur int) (best float64, bestLag int, current float64, ok bool) {
	w := len(mw)
	var sm, smm float64
	for _, v := range mw {
		sm += v
		smm += v * v
	}
	fw := float64(w)
	varM := smm/fw - (sm/fw)*(sm/fw)
	if varM < 1 {
		return 0, -1, -1, false
	}
	// The reference's sums over each lag's window, slid one point at a
	// time from the longest lag.
	var sr, srr float64
	for _, r := range rw[:w] {
		sr += r
		srr += r * r
	}
	best, bestLag, current = -1.0, -1, -1.0
	for lag := maxLag; lag >= 0; lag-- {
		at := maxLag - lag
		if lag < maxLag {
			out, in := rw[at-1], rw[at+w-1]
			sr += in - out
			srr += in*in - out*out
		}
		varR := srr/fw - (sr/fw)*(sr/fw)
		if varR < 1 {
			continue // the far end silent all along
		}
		var smr float64
		for t, m := range mw {
			smr += m * rw[at+t]
		}
		c := (smr/fw - (sr/fw)*(sm/fw)) / math.Sqrt(varR*varM)
		if lag == cur {
			current = c
		}
		if c > best || (c == best && lag < bestLag) {
			best, bestLag = c, lag
		}
	}
	return best, bestLag, current, true
}

// shift is how many samples the reference is held back: the delay less
// the margin.
func (d *delayEstimator) shift() int {
	if d.delay < 0 {
		return 0
	}
	return max(0, d.delay*delayBlock-delayMargin) * d.block / delayBlock
}

// unroll appends n points of ring from point from on (a point before the
// first written, from < 0, is the ring's initial value) to dst.
func unroll(dst, ring []float64, from, n int) []float64 {
	size := len(ring)
	for t := from; t < from+n; t++ {
		dst = append(dst, ring[(t%size+size)%size])
	}
	return dst
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
