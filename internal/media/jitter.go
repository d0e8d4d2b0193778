package media

import (
	"time"
)

// The receive path's adaptive jitter buffer.
//
// pion/interceptor's jitterbuffer is not used: it counts packets, not time
// (it waits for a minimum packet count, 50 by default, before the first
// pop), orders by sequence number only, has no playout clock, and knows
// neither interarrival jitter nor loss concealment. A telephone needs a
// playout delay of one to three frames that follows the measured jitter,
// and a frame every ptime whatever arrived, so this small buffer is written
// here. It orders by RTP timestamp, which also keeps the timing right across
// silence suppression and telephone-event packets that share the sequence
// numbers.
//
// Playout model: every packet gets a nominal arrival time, its timestamp
// mapped to local time through the smallest transit time (arrival minus
// media time) seen over the last jitterHistory packets. A frame is played
// `target` after its nominal arrival. target follows RFC 3550 §6.4.1's
// interarrival jitter J (A.8): minDelay + 3·J, bounded by maxDelay; it
// grows at once by one frame for every packet that came too late to play,
// and shrinks slowly (one frame every jitterDecayFrames played frames).
// When the delay in use exceeds the target by a frame the buffer repeats
// (conceals) a frame. When it falls two frames or more behind (pops came
// late because the caller's output blocked, a burst arrived, the target
// came down) it catches up at once: playout moves to the packet due now
// and the stale packets before it are dropped.

// Jitter buffer bounds.
const (
	jitterMinDelay = 20 * time.Millisecond // one 20 ms frame
	// jitterStartDelay is the target before J is known: the smallest
	// one, what jitterTarget gives for J = 0. The playout tick's phase
	// against the packets adds up to a frame more, and a packet too late
	// to play raises the target by a frame at once (a 40 ms start kept
	// ~25 ms more on a quiet network: BENCHMARKS.md, item 3).
	jitterStartDelay = jitterMinDelay
	jitterMaxDelay   = 200 * time.Millisecond // upper bound of the target
	// jitterHistory is the number of transit times over which the
	// smallest is taken as the reference (about 1.3 s at 20 ms).
	jitterHistory = 64
	// jitterDecayFrames is how many played frames lower the target by one
	// frame's duration when jitter has gone down.
	jitterDecayFrames = 100
	// jitterIdleFrames is how many frames the buffer may be empty while
	// playing before it stops and waits to buffer again (the peer paused
	// or suppresses silence); the next packet then starts playout anew.
	jitterIdleFrames = 10
	// jitterDiscontinuity is the change in transit time taken as a new
	// timeline (the peer restarted its clock) rather than jitter.
	jitterDiscontinuity = time.Second
)

// playout says what a popped frame holds.
type playout int

const (
	playoutUnknown   playout = iota
	playoutSilence           // comfort silence: nothing to play
	playoutDecoded           // a received packet
	playoutConcealed         // stands in for a missing or late packet
)

// String returns the kind's name.
func (p playout) String() string {
	switch p {
	case playoutSilence:
		return "silence"
	case playoutDecoded:
		return "decoded"
	case playoutConcealed:
		return "concealed"
	default:
		return "unknown"
	}
}

// jitterStats are the buffer's counters.
type jitterStats struct {
	late, duplicate, dropped    uint64 // packets
	decoded, concealed, silence uint64 // frames popped
	jitter, target, lastHeld    time.Duration
	maxHeld                     time.Duration
	lastPlayout                 playout
	pushed                      uint64
}

// jbEntry is one buffered packet.
type jbEntry struct {
	ts      int64 // extended RTP timestamp
	payload []byte
	arrival time.Time
}

// jitterBuffer orders packets by timestamp and hands out one frame per pop.
// It is not safe for concurrent use; the Session serialises calls.
type jitterBuffer struct {
	clock    int64 // RTP timestamp rate, Hz
	ptime    time.Duration
	rate     int64 // PCM samples per second and channel
	frameTS  int64 // timestamp units per frame handed out
	samples  int   // PCM samples per channel per frame handed out
	pktTS    int64 // timestamp units per packet, from the last decoded one
	channels int
	maxLen   int

	entries []jbEntry // sorted by ts

	haveSSRC bool
	ssrc     uint32
	lastTS   uint32 // highest timestamp seen, for unwrapping
	lastExt  int64

	epoch       time.Time // arrival of the first packet of this timeline
	ts0         int64     // its extended timestamp
	transits    [jitterHistory]time.Duration
	nTransits   int
	iTransit    int
	prevTransit time.Duration
	jitter      float64 // RFC 3550 J, in nanoseconds

	recent  [64]uint16 // recently pushed sequence numbers, for duplicates
	nRecent int
	iRecent int

	pcm []int16 // decoded audio not yet handed out

	playing bool
	nextTS  int64
	idle    int // frames popped with an empty buffer while playing
	decay   int // frames played since the target last came down
	target  time.Duration

	// Comfort noise (RFC 3389): a SID received ends the talkspurt at its
	// timestamp, and noise at its level fills the silence until the next
	// audio packet plays.
	cn      bool
	cnTS    int64 // extended timestamp of the last SID
	cnLevel uint8
	noise   noiseGen

	// lag is how long after its playout instant (nominal arrival plus
	// target) the last packet decoded was played; lagged says that the
	// last pop decoded one (lastLag).
	lag    time.Duration
	lagged bool

	stats jitterStats
}

// newJitterBuffer returns a buffer for a codec clock rate and PCM rate,
// handing out frames of ptime.
func newJitterBuffer(clockRate, sampleRate, channels int, ptime time.Duration) *jitterBuffer {
	if ptime <= 0 {
		ptime = 20 * time.Millisecond
	}
	j := &jitterBuffer{
		clock:    int64(clockRate),
		ptime:    ptime,
		rate:     int64(max(sampleRate, 1)),
		frameTS:  int64(clockRate) * int64(ptime) / int64(time.Second),
		samples:  int(int64(sampleRate) * int64(ptime) / int64(time.Second)),
		channels: max(channels, 1),
		target:   max(jitterStartDelay, ptime),
	}
	// Room for the largest delay twice over: packets further ahead than
	// that are taken as a burst and the oldest make way.
	j.pktTS = j.frameTS
	j.maxLen = int(2*jitterMaxDelay/ptime) + 8
	j.noise = newNoiseGen()
	return j
}

// tsDur converts timestamp units to a duration.
func (j *jitterBuffer) tsDur(ts int64) time.Duration {
	return time.Duration(ts * int64(time.Second) / j.clock)
}

// durTS converts a duration to timestamp units (rounded down).
func (j *jitterBuffer) durTS(d time.Duration) int64 {
	v := int64(d) * j.clock
	if v < 0 {
		return -((-v + int64(time.Second) - 1) / int64(time.Second))
	}
	return v / int64(time.Second)
}

// reset forgets the timeline: a new source or a clock jump.
func (j *jitterBuffer) reset() {
	j.entries = j.entries[:0]
	j.haveSSRC = false
	j.nTransits, j.iTransit = 0, 0
	j.nRecent, j.iRecent = 0, 0
	j.playing = false
	j.idle = 0
	j.pcm = j.pcm[:0]
}

// push stores a packet that arrived at arrival. The payload is copied.
func (j *jitterBuffer) push(ssrc uint32, seq uint16, ts uint32, payload []byte, arrival time.Time) {
	if !j.haveSSRC || ssrc != j.ssrc {
		// RFC 3550 §8.2: a new SSRC is a new source with its own
		// sequence and timestamp space.
		j.reset()
		j.haveSSRC, j.ssrc = true, ssrc
		j.lastTS, j.lastExt = ts, int64(ts)
		j.epoch, j.ts0 = arrival, int64(ts)
		j.prevTransit = 0
	}
	for i := range j.nRecent {
		if j.recent[i] == seq {
			j.stats.duplicate++
			return
		}
	}
	j.recent[j.iRecent] = seq
	j.iRecent = (j.iRecent + 1) % len(j.recent)
	j.nRecent = min(j.nRecent+1, len(j.recent))
	j.stats.pushed++

	// Unwrap the 32-bit timestamp around the highest one seen.
	ext := j.lastExt + int64(int32(ts-j.lastTS))
	if ext > j.lastExt {
		j.lastExt, j.lastTS = ext, ts
	}

	transit := arrival.Sub(j.epoch) - j.tsDur(ext-j.ts0)
	if j.nTransits > 0 {
		d := transit - j.prevTransit
		if d < 0 {
			d = -d
		}
		if d > jitterDiscontinuity {
			// A new timeline: restart the reference from this packet.
			j.entries = j.entries[:0]
			j.playing = false
			j.epoch, j.ts0 = arrival, ext
			transit = 0
			j.nTransits, j.iTransit = 0, 0
		} else {
			// RFC 3550 A.8: J += (|D| - J) / 16.
			j.jitter += (float64(d) - j.jitter) / 16
		}
	}
	j.prevTransit = transit
	j.transits[j.iTransit] = transit
	j.iTransit = (j.iTransit + 1) % jitterHistory
	j.nTransits = min(j.nTransits+1, jitterHistory)
	if want := j.jitterTarget(); want > j.target {
		j.target = want
	}

	if j.playing && ext < j.nextTS {
		// Too late to play: RFC 3550 calls it lost for the listener.
		j.stats.late++
		j.target = min(j.target+j.ptime, jitterMaxDelay)
		j.decay = 0
		return
	}
	// Insert in timestamp order; most packets go at the end.
	i := len(j.entries)
	for i > 0 && j.entries[i-1].ts > ext {
		i--
	}
	if i > 0 && j.entries[i-1].ts == ext {
		j.stats.duplicate++
		return
	}
	e := jbEntry{ts: ext, payload: append([]byte(nil), payload...), arrival: arrival}
	j.entries = append(j.entries, jbEntry{})
	copy(j.entries[i+1:], j.entries[i:])
	j.entries[i] = e
	if len(j.entries) > j.maxLen {
		j.entries = j.entries[1:]
		j.stats.dropped++
	}
}

// comfortNoise takes note of a SID with timestamp ts and noise level
// (-dBov): playout stops once it reaches ts instead of concealing packets
// that will not come, and the silence that follows is noise at level.
// Without an audio packet of ssrc yet the SID applies at once.
func (j *jitterBuffer) comfortNoise(ssrc uint32, ts uint32, level uint8) {
	j.cn, j.cnLevel, j.cnTS = true, level, 0
	if j.haveSSRC && ssrc == j.ssrc {
		j.cnTS = j.lastExt + int64(int32(ts-j.lastTS))
	}
}

// jitterTarget is the delay the measured jitter asks for.
func (j *jitterBuffer) jitterTarget() time.Duration {
	t := max(jitterMinDelay, j.ptime) + 3*time.Duration(j.jitter)
	return min(t, jitterMaxDelay)
}

// reference is the smallest recent transit time.
func (j *jitterBuffer) reference() time.Duration {
	ref := j.transits[0]
	for i := 1; i < j.nTransits; i++ {
		ref = min(ref, j.transits[i])
	}
	return ref
}

// due is the timestamp that should be playing at now.
func (j *jitterBuffer) due(now time.Time) int64 {
	return j.ts0 + j.durTS(j.mediaTime(now))
}

// mediaTime is the time into the timeline (from ts0) that should be
// playing at now: now less the reference transit and the target.
func (j *jitterBuffer) mediaTime(now time.Time) time.Duration {
	return now.Sub(j.epoch) - j.reference() - j.target
}

// pop returns the frame to play at now, appended to dst: ptime of audio
// made of decoded packets, concealment (the coder's Conceal, or FEC from
// the next packet) for missing ones, or comfort silence when nothing is
// playing. Packets of another duration than ptime (a peer ignoring our
// a=ptime) are decoded whole and handed out ptime at a time.
func (j *jitterBuffer) pop(now time.Time, c frameCoder, dst []int16) ([]int16, playout) {
	want := j.samples * j.channels
	kind := playoutUnknown
	j.lagged = false
	for len(j.pcm) < want {
		k := j.step(now, c)
		if k == playoutSilence {
			if len(j.pcm) == 0 {
				j.stats.silence++
				j.stats.lastPlayout = playoutSilence
				return j.silence(dst, want), playoutSilence
			}
			// The end of a stream: pad its last partial frame.
			j.pcm = j.silence(j.pcm, want-len(j.pcm))
			break
		}
		if kind != playoutDecoded {
			kind = k
		}
	}
	if kind == playoutUnknown {
		kind = j.stats.lastPlayout // a frame left over from the last packet
	}
	dst = append(dst, j.pcm[:want]...)
	n := copy(j.pcm, j.pcm[want:])
	j.pcm = j.pcm[:n]
	j.stats.lastPlayout = kind
	return dst, kind
}

// step appends one packet's worth of audio to j.pcm: the packet due,
// concealment in its place, or nothing (playoutSilence) when not playing.
func (j *jitterBuffer) step(now time.Time, c frameCoder) playout {
	if !j.playing && !j.start(now) {
		return playoutSilence
	}
	j.shrink()
	// Drop what can no longer be played.
	for len(j.entries) > 0 && j.entries[0].ts < j.nextTS {
		j.entries = j.entries[1:]
		j.stats.late++
	}
	pkt := j.pktTS
	// The dead band is at least a frame handed out: a pop may take
	// several short packets at once.
	unit := max(pkt, j.frameTS)
	at := j.mediaTime(now)
	drift := j.ts0 + j.durTS(at) - j.nextTS
	switch {
	case drift <= -unit:
		// Playing ahead of target (the target grew): stretch by one
		// packet. nextTS stays.
		return j.conceal(c)
	case drift >= 2*unit:
		// Playing behind target: pops came late (the caller's output
		// blocked), a burst arrived, or the target shrank.
		j.catchUp(j.nextTS + drift/pkt*pkt)
	}
	if len(j.entries) > 0 && j.entries[0].ts < j.nextTS+pkt {
		e := j.entries[0]
		j.entries = j.entries[1:]
		n := len(j.pcm)
		j.pcm = c.Decode(j.pcm, e.payload)
		if d := int64((len(j.pcm)-n)/j.channels) * j.clock / j.rate; d > 0 {
			j.pktTS = d
		}
		j.nextTS = e.ts + j.pktTS
		j.idle = 0
		if j.cn && e.ts >= j.cnTS {
			j.cn = false // speech again after the SID
		}
		j.lag = at - j.tsDur(e.ts-j.ts0)
		j.lagged = true
		held := now.Sub(e.arrival)
		j.stats.lastHeld = held
		j.stats.maxHeld = max(j.stats.maxHeld, held)
		j.stats.decoded++
		return playoutDecoded
	}
	// The packet is missing.
	if len(j.entries) == 0 && j.cn && j.cnTS < j.nextTS+pkt {
		// RFC 3389 §4: the peer went silent at the SID; nothing to
		// conceal.
		j.playing = false
		return playoutSilence
	}
	if len(j.entries) == 0 {
		j.idle++
		if j.tsDur(int64(j.idle)*pkt) >= jitterIdleFrames*j.ptime {
			j.playing = false
			return playoutSilence
		}
	} else if j.entries[0].ts-j.nextTS > j.durTS(jitterMaxDelay) {
		// A jump ahead in the peer's timeline: start again from it.
		j.playing = false
		return j.step(now, c)
	}
	if f, ok := c.(fecDecoder); ok && len(j.entries) > 0 && j.entries[0].ts < j.nextTS+2*pkt {
		// RFC 7587 §3.3: rebuild the missing packet from the next
		// packet's redundancy.
		j.nextTS += pkt
		j.stats.concealed++
		j.pcm = f.DecodeFEC(j.pcm, j.entries[0].payload, j.pktSamples())
		return playoutConcealed
	}
	j.nextTS += pkt
	return j.conceal(c)
}

// catchUp moves playout forward to at, the due timestamp rounded down to
// a whole packet from nextTS, in one go: the buffered packets that a later
// buffered packet has made stale are dropped, so the delay that built up
// while nobody popped goes at once instead of a packet per frame. Stepping
// one packet at a time is not enough: while the buffer is full every push
// drops its oldest packet, so a missing-packet walk from an old nextTS
// towards the oldest buffered packet never reaches it, and every frame
// would be concealed although packets keep arriving.
//
// The newest packet is kept, and playout moves no further than it: a
// stream that arrives later than the reference predicts (the path's delay
// rose, or the peer paused without moving its timestamps) plays as it
// comes until the reference follows it.
func (j *jitterBuffer) catchUp(at int64) {
	for len(j.entries) >= 2 && j.entries[1].ts <= at {
		j.entries = j.entries[1:]
		j.stats.dropped++
	}
	if len(j.entries) > 0 && j.entries[0].ts > j.nextTS {
		// What lies between nextTS and the first packet kept is past its
		// playout time: conceal only from at onwards.
		j.nextTS = min(j.entries[0].ts, at)
	}
}

// lastLag reports how long after its playout instant the packet the last
// pop decoded was played: the playout clock's phase against the packets,
// 0 to a frame when nothing else moved. False when the last pop decoded
// no packet.
func (j *jitterBuffer) lastLag() (time.Duration, bool) { return j.lag, j.lagged }

// pktSamples is the PCM samples per channel of one packet.
func (j *jitterBuffer) pktSamples() int { return int(j.pktTS * j.rate / j.clock) }

// start begins playout when the oldest packet is due.
func (j *jitterBuffer) start(now time.Time) bool {
	if len(j.entries) == 0 || j.due(now) < j.entries[0].ts {
		return false
	}
	j.playing = true
	j.nextTS = j.entries[0].ts
	j.idle = 0
	return true
}

// shrink lowers the target towards what jitter asks for, slowly.
func (j *jitterBuffer) shrink() {
	want := j.jitterTarget()
	if j.target <= want {
		j.decay = 0
		return
	}
	j.decay++
	if j.decay >= jitterDecayFrames {
		j.decay = 0
		j.target = max(j.target-j.ptime, want)
	}
}

func (j *jitterBuffer) conceal(c frameCoder) playout {
	j.stats.concealed++
	j.pcm = c.Conceal(j.pcm, j.pktSamples())
	return playoutConcealed
}

// silence appends n samples of silence to dst: comfort noise at the level
// of the last SID while one applies, else zeros.
func (j *jitterBuffer) silence(dst []int16, n int) []int16 {
	if j.cn {
		return j.noise.fill(dst, n, j.cnLevel)
	}
	return j.noise.fill(dst, n, NoiseLevelSilence)
}

// snapshot returns the counters with the current jitter and target.
func (j *jitterBuffer) snapshot() jitterStats {
	s := j.stats
	s.jitter = time.Duration(j.jitter)
	s.target = j.target
	return s
}

// jitterTS is J in timestamp units, as RTCP reports it (RFC 3550 §6.4.1).
func (j *jitterBuffer) jitterTS() uint32 {
	return uint32(j.jitter * float64(j.clock) / float64(time.Second))
}
