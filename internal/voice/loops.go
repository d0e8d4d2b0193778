package voice

import (
	"errors"
	"slices"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/media"
)

// format is what one frame looks like at the codec: rate, channels and
// packet time, from the negotiation.
type format struct {
	rate, channels int
	ptime          time.Duration
}

func formatOf(n media.Negotiated) format {
	f := format{rate: n.Codec.SampleRate, channels: n.Codec.Channels, ptime: time.Duration(n.PTime) * time.Millisecond}
	if f.rate <= 0 {
		f.rate = int(n.Codec.ClockRate)
	}
	if f.rate <= 0 {
		f.rate = 8000
	}
	if f.channels <= 0 {
		f.channels = 1
	}
	if f.ptime <= 0 {
		f.ptime = defaultPTime * time.Millisecond
	}
	return f
}

// samples is the number of samples per channel in one packet time at rate.
func (f format) samples(rate int) int {
	return int(int64(rate) * int64(f.ptime) / int64(time.Second))
}

// sender is the state of the path's send side.
type sender struct {
	f     format
	rs    *media.Resampler
	fresh bool    // rs is new: pad its first output to a whole frame
	dev   []int16 // one packet time at the device rate
	fifo  []int16 // resampled mono samples at the codec rate
	frame []int16 // the frame to send
	floor noiseFloor
	// quiet is when the send side last found no capture stream, and
	// quietSent how many frames of silence it has sent since: without a
	// microphone it sends one frame per packet time of the clock.
	quiet     time.Time
	quietSent int64
	// read counts the samples read from the capture stream of
	// generation readGen (see alignProcessing).
	read, readGen  uint64
	writeErrLogged bool
}

// noiseFloorFrames is the window of the microphone's noise floor: one
// second at 20 ms.
const noiseFloorFrames = 50

// noiseFloor estimates the microphone's background noise while it is not
// muted: the level of the quietest frame over the last one to two
// seconds. A muted microphone sends comfort noise at the level it had
// when muted (RFC 3389 §1: the caller hears the agent's room, not a line
// gone dead), and so nothing of what is said while muted.
type noiseFloor struct {
	cur, prev uint8 // quietest level (-dBov: the highest number) of this window and the last
	n         int   // frames in this window
	full      bool  // prev holds a whole window
}

func (f *noiseFloor) add(level uint8) {
	if f.n == 0 || level > f.cur {
		f.cur = level
	}
	f.n++
	if f.n == noiseFloorFrames {
		f.prev, f.full, f.n = f.cur, true, 0
	}
}

// level is the floor in -dBov; silence before any frame.
func (f *noiseFloor) level() uint8 {
	switch {
	case f.full && f.n > 0:
		return max(f.prev, f.cur)
	case f.full:
		return f.prev
	case f.n > 0:
		return f.cur
	}
	return media.NoiseLevelSilence
}

// configure follows the negotiation: a new codec rate or packet time
// rebuilds the resampler.
func (s *sender) configure(p *Path, f format) {
	if s.rs != nil && f == s.f {
		return
	}
	rs, err := media.NewResampler(p.opts.DeviceRate, f.rate, 1)
	if err != nil {
		// Rates come from the codec table (8-48 kHz); this cannot fail
		// for them. Without a converter the send side only keeps time.
		p.log.Error("voice: send resampler", "rate", f.rate, "err", err)
	}
	s.f, s.rs, s.fresh = f, rs, true
	s.dev = make([]int16, f.samples(p.opts.DeviceRate))
	s.fifo = s.fifo[:0]
	s.quiet = time.Time{}
}

// loop is the path's one goroutine. Every packet time of the session's
// playout clock (Media.ReadFrame) it sends what the microphone captured
// since the last time, then plays the frame received.
//
// Why one goroutine for both directions: on the 2-core machine of
// BENCHMARKS.md a goroutine woken 50 times a second costs more in the Go
// scheduler's thread switches than its work (a program doing nothing but
// a 20 ms ticker used 0.65-1.0 % of a core there); a send goroutine of
// its own, woken by a timer at each capture period, was about 40 % of the
// Go side's wake-ups in a call.
// The microphone's samples wait in the capture ring until the tick (at
// most one packet time more on the send path); the receive path is
// unchanged.
func (p *Path) loop() {
	defer p.wg.Done()
	defer p.dsp.Close()
	var s sender
	var r receiver
	r.primed--
	for {
		frame, err := p.opts.Media.ReadFrame(p.ctx)
		if err != nil {
			if p.stopping() {
				return
			}
			// The session is closed (or failing) before the path: wait
			// for Close rather than spin.
			p.log.Warn("voice: receive frame: waiting for close", "err", err)
			<-p.stop
			return
		}
		decoded := p.now()
		f := formatOf(p.opts.Media.Negotiated())
		p.send(&s, f)
		p.play(&r, f, frame, decoded)
	}
}

// maxFramesPerTick bounds the frames of one send: what a capture ring
// holds.
const maxFramesPerTick = captureBufferPeriods

// send sends the frames the capture stream holds, or without one the
// frames of silence due since the last send, in the negotiated format f.
func (p *Path) send(s *sender, f format) {
	s.configure(p, f)
	if s.rs == nil {
		return
	}
	n := s.f.samples(s.f.rate)
	st, gen := p.current(&p.in)
	if st == nil {
		now := p.now()
		if s.quiet.IsZero() {
			s.quiet, s.quietSent = now, 0
		}
		due := int64(now.Sub(s.quiet)/s.f.ptime) + 1
		s.quietSent = max(s.quietSent, due-maxFramesPerTick)
		for ; s.quietSent < due; s.quietSent++ {
			s.frame = slices.Grow(s.frame[:0], n)[:n]
			clear(s.frame)
			p.sendFrame(s, now, false)
		}
		return
	}
	s.quiet = time.Time{}
	cs := st.(audio.CaptureStream)
	select {
	case <-st.Lost():
		p.lost(&p.in, st, gen, st.Err())
		return
	default:
	}
	for range maxFramesPerTick {
		ok, err := cs.ReadReady(s.dev)
		if err != nil {
			if errors.Is(err, audio.ErrDeviceLost) {
				p.lost(&p.in, st, gen, err)
			}
			return // closed: replaced, lost or stopping
		}
		if !ok {
			return
		}
		captured := p.now()
		if gap, ok := p.moved(&p.in, gen, captured); ok {
			p.missed(gap, s.f.ptime)
		}
		p.alignProcessing(s, cs, gen, len(s.dev))
		p.dsp.Capture(s.dev)
		applyGain(s.dev, p.micGain.Load())
		s.fifo = s.rs.Process(s.fifo, s.dev)
		if s.fresh && len(s.fifo) < n {
			// The filter delays its first output; pad the front with
			// silence so frames leave at once instead of one later.
			pad := n - len(s.fifo)
			s.fifo = append(s.fifo, make([]int16, pad)...)
			copy(s.fifo[pad:], s.fifo[:len(s.fifo)-pad])
			clear(s.fifo[:pad])
		}
		s.fresh = false
		for len(s.fifo) >= n {
			s.frame = append(s.frame[:0], s.fifo[:n]...)
			s.fifo = s.fifo[:copy(s.fifo, s.fifo[n:])]
			p.sendFrame(s, captured, true)
		}
	}
}

// sendFrame sends s.frame (one packet time of mono samples at the codec
// rate, captured at captured; fromDevice when a microphone gave it), or
// what stands for it while held or muted.
func (p *Path) sendFrame(s *sender, captured time.Time, fromDevice bool) {
	n := len(s.frame)
	tone := p.renderDTMF(s.frame, s.f.rate)
	held, muted := p.held.Load(), p.muted.Load() && !tone
	if held {
		p.withheld.Add(1)
		if sw, ok := p.opts.Media.(silenceWriter); ok {
			_ = sw.WriteSilence(n * s.f.channels)
		}
		return
	}
	if muted {
		p.withheld.Add(1)
		if mw, ok := p.opts.Media.(mutedWriter); ok {
			// Silence or comfort noise keeps the peer's media timeout
			// from ending the call (RFC 3389; see media.Session.WriteMuted).
			if err := mw.WriteMuted(n*s.f.channels, s.floor.level()); err == nil {
				p.mutedSent.Add(1)
			}
			return
		}
		clear(s.frame)
	} else if fromDevice && !tone {
		s.floor.add(media.NoiseLevel(s.frame))
	}
	if s.f.channels == 2 {
		s.frame = upmix(s.frame)
	}
	if err := p.opts.Media.WriteFrame(s.frame); err != nil {
		if !s.writeErrLogged {
			p.log.Warn("voice: send frame", "err", err)
			s.writeErrLogged = true
		}
		return
	}
	s.writeErrLogged = false
	p.sent.Add(1)
	if muted {
		p.mutedSent.Add(1)
	}
	if !fromDevice && !tone {
		p.silent.Add(1)
	}
	if p.opts.OnSent != nil {
		p.opts.OnSent(captured, p.now())
	}
}

// missed adds the packet times an input switch left without audio.
func (p *Path) missed(gap, ptime time.Duration) {
	if ptime <= 0 {
		return
	}
	if n := int64((gap+ptime/2)/ptime) - 1; n > 0 {
		p.mu.Lock()
		p.stats.InputFramesMissed += uint64(n)
		p.mu.Unlock()
	}
}

// upmix turns mono into interleaved stereo, in place when it can.
func upmix(mono []int16) []int16 {
	n := len(mono)
	out := append(mono, make([]int16, n)...)
	for i := n - 1; i >= 0; i-- {
		out[2*i+1] = out[i]
		out[2*i] = out[i]
	}
	return out
}

// renderDTMF replaces frame with the in-band DTMF due now, if any, and
// reports whether it did.
func (p *Path) renderDTMF(frame []int16, rate int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.dtmf) > 0 && p.dtmf[0].canceled.Load() {
		close(p.dtmf[0].done)
		p.dtmf = p.dtmf[1:]
	}
	if len(p.dtmf) == 0 || p.held.Load() {
		return false
	}
	job := p.dtmf[0]
	if !job.seq.render(frame, rate) {
		close(job.done)
		p.dtmf = p.dtmf[1:]
		p.digits.Add(uint64(job.n))
	}
	return true
}

// receiver is the state of the path's receive side.
type receiver struct {
	// primed is the generation of the playback stream primed last.
	primed    uint64
	f         format
	rs        *media.Resampler
	out, pad  []int16
	underruns uint64 // the playback stream's underrun count when last primed
	gate      zipGate
	// counted is the playback stream generation whose trimmed and
	// underrun samples were last added to the path's totals, and how
	// many of each had been added.
	counted           uint64
	trimmed, underrun uint64
}

// count adds what the playback stream of generation gen dropped from its
// queue (the latency bound) and played as silence for want of samples
// since the last call to the path's totals.
func (r *receiver) count(p *Path, gen uint64, st audio.StreamStats) {
	if gen != r.counted {
		r.counted, r.trimmed, r.underrun = gen, 0, 0
	}
	if st.Trimmed > r.trimmed {
		p.outTrimmed.Add(st.Trimmed - r.trimmed)
		r.trimmed = st.Trimmed
	}
	if st.Underruns > r.underrun {
		p.outUnderrun.Add(st.Underruns - r.underrun)
		r.underrun = st.Underruns
	}
}

func (r *receiver) configure(p *Path, f format) {
	if r.rs != nil && f == r.f {
		return
	}
	rs, err := media.NewResampler(f.rate, p.opts.DeviceRate, f.channels)
	if err != nil {
		// As for sending: received frames are dropped until the codec
		// changes to one with a usable rate.
		p.log.Error("voice: receive resampler", "rate", f.rate, "err", err)
	}
	r.f, r.rs = f, rs
}

// play plays one received frame in the negotiated format f (decoded at
// decoded) on the playback stream, waiting at most a packet time for room
// in its queue: a speaker that takes nothing does not hold up the send
// side.
func (p *Path) play(r *receiver, f format, frame []int16, decoded time.Time) {
	r.configure(p, f)
	if r.rs == nil {
		return
	}
	r.out = r.rs.Process(r.out[:0], frame)
	if p.held.Load() {
		clear(r.out)
	}
	st, gen := p.current(&p.out)
	if st == nil {
		// Nobody hears it: a pending zip tone is used up all the same.
		p.renderZip(r.out, true)
		p.dropped.Add(1)
		return
	}
	select {
	case <-st.Lost():
		p.lost(&p.out, st, gen, st.Err())
		p.renderZip(r.out, true)
		p.dropped.Add(1)
		return
	default:
	}
	ps := st.(audio.PlaybackStream)
	p.renderZip(r.out, r.gate.isOpen(gen))
	applyGain(r.out, p.spkGain.Load())
	wrote := 0
	if under := ps.Stats().Underruns; gen != r.primed || under != r.underruns {
		// A new stream starts with one packet time of silence queued,
		// and gets another after it ran dry, so scheduling jitter
		// between the session's playout clock and the device's does
		// not cut the audio up into many small gaps.
		r.primed, r.underruns = gen, under
		r.pad = append(r.pad[:0], make([]int16, len(r.out))...)
		p.dsp.Reference(r.pad)
		n, _ := ps.WriteWithin(r.pad, 0)
		wrote += n
	}
	p.dsp.Reference(r.out)
	n, err := ps.WriteWithin(r.out, r.f.ptime)
	pst := ps.Stats()
	r.gate.wrote(gen, ps.Config(), pst, wrote+n)
	r.count(p, gen, pst)
	if err != nil {
		if errors.Is(err, audio.ErrDeviceLost) {
			p.lost(&p.out, st, gen, err)
		}
		p.dropped.Add(1)
		return
	}
	if n < len(r.out) {
		p.dropped.Add(1) // the speaker's queue stayed full
		return
	}
	played := p.now()
	p.moved(&p.out, gen, played)
	p.played.Add(1)
	if p.opts.OnPlayed != nil {
		p.opts.OnPlayed(decoded, played)
	}
}

// renderZip replaces out with the zip tone while one plays. A zip tone
// that has not started yet waits while ready is false (see zipGate), for
// at most zipMaxWait; once started it plays to its end.
func (p *Path) renderZip(out []int16, ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.zip == nil {
		return
	}
	if !p.zip.started {
		if !ready && p.now().Sub(p.zip.at) < zipMaxWait {
			return
		}
		p.zip.started = true
	}
	if !p.zip.seq.render(out, p.opts.DeviceRate) {
		close(p.zip.done)
		p.zip = nil
	}
}

// zipGateWrites is how many frames in a row the playback device's frame
// counter must have moved before a zip tone starts.
const zipGateWrites = 3

// zipMaxWait bounds how long a zip tone waits for its device to run: a
// device that never shows steady progress still gets it (and the stream
// watchdog declares a device that does not move at all lost sooner, after
// its start grace).
const zipMaxWait = 5 * time.Second

// zipGate tells when a playback stream has started to consume what the
// path writes, so that a zip tone is written only then.
//
// Why: a device may take its first period at once and then nothing for a
// while — a PulseAudio null sink does so for 1.5-2 s (BENCHMARKS.md, 7g).
// Meanwhile the receive side fills the stream's queue and waits. When the
// device starts, the stream drops the backlog beyond MaxQueued, the bound
// that keeps the caller's voice within a period of the ear. A zip tone
// written at the answer sat in that backlog: on a virtual headset about
// 70 ms of its 180 ms were dropped, most of the first beep. Exempting the
// tone from the bound would need the audio layer to tell samples apart
// and would hold the caller's audio behind it; instead the bound stays as
// it is for call audio, and the tone waits (the caller's audio plays
// meanwhile) until the device runs: its frame counter has moved across
// zipGateWrites frames in a row and what is queued fits within the bound
// (so the backlog is gone and the tone is not trimmed), or the stream's
// watchdog found it steady. On a device without a start-up stall this
// costs the tone about zipGateWrites packet times; ordinary call audio is
// not delayed at all.
//
// The gate is the path goroutine's; it starts afresh with every
// playback stream (a switch, a loss).
type zipGate struct {
	gen     uint64
	seen    bool   // gen is the stream being watched
	frames  uint64 // the device's frame counter after the last write
	moving  int    // writes in a row after which the counter had moved
	written uint64 // samples written to this stream
	open    bool
}

// isOpen reports whether a zip tone may start on the stream of
// generation gen.
func (g *zipGate) isOpen(gen uint64) bool { return g.seen && g.gen == gen && g.open }

// wrote takes note of n samples written to the playback stream of
// generation gen (its config cfg), and of what the device consumed so far
// (its stats st, read after the write).
func (g *zipGate) wrote(gen uint64, cfg audio.StreamConfig, st audio.StreamStats, n int) {
	if !g.seen || g.gen != gen {
		*g = zipGate{gen: gen, seen: true, frames: st.Frames}
	} else if st.Frames > g.frames {
		g.moving++
		g.frames = st.Frames
	} else {
		g.moving = 0
	}
	g.written += uint64(n)
	if st.Steady > 0 {
		g.open = true
		return
	}
	queued := g.written + st.Underruns - st.Frames*uint64(cfg.Channels) - st.Trimmed
	if g.written+st.Underruns < st.Frames*uint64(cfg.Channels)+st.Trimmed {
		queued = 0 // counters read while a data callback was under way
	}
	keep := uint64(cfg.PeriodSamples())
	if cfg.MaxQueued > 0 {
		keep += uint64(int64(cfg.SampleRate)*int64(cfg.MaxQueued)/int64(time.Second)) * uint64(cfg.Channels)
	} else {
		keep = queued // no bound: nothing is dropped
	}
	g.open = g.moving >= zipGateWrites && queued <= keep
}
