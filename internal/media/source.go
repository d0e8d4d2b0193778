package media

import (
	"net/netip"
	"time"
)

// Source validation: which RTP packets are the call's media.
//
// A Session plays one stream: one source address (symmetric RTP, RFC 4961
// §4) and one SSRC (RFC 3550 §8.2). Anything else reaching the port is
// dropped and counted, so that packets from a stranger (a scanner, a flood,
// a stale stream of an earlier call) neither take over the reply address
// nor restart the jitter buffer. The rules:
//
//   - The first packet of the negotiated codec latches its address;
//     telephone events and comfort noise are taken before that from
//     anywhere but do not latch. Update (a re-INVITE) resets the latch.
//   - After latching, packets from another address are dropped, unless
//     the latched source has sent nothing for relatchSilence while the
//     other one sends packets of the negotiated codec steadily
//     (relatchPackets in sequence, one SSRC): then the latch moves to it,
//     with its SSRC. A NAT rebinding or a media server switched by a
//     B2BUA without a re-INVITE so costs about relatchSilence of audio
//     instead of the rest of the call.
//   - From the latched address, a new SSRC is played only once it has
//     sent minSequential packets in sequence (RFC 3550 Appendix A.1's
//     probation) while the current SSRC has been quiet for ssrcQuietPtimes
//     packet times: a peer that switches streams (a transfer, a B2BUA
//     changing legs) is followed within a few packets, while a stray SSRC
//     mixed into a live stream never resets playout.
//
// SRTP packets whose authentication fails never get this far (readLoop
// drops them), so they can neither latch nor move the latch. Datagrams
// from another address while the latched source is live are dropped
// before parsing or SRTP (Session.dropForeign): a flood costs little.
//
// RTCP has no such probation: once latched, RTCP from other addresses is
// dropped; when the RTP latch moves, RTCP latches again from the new RTP
// source's host (Session.rtcpForeign).
type sourceFilter struct {
	latched  bool
	addr     netip.AddrPort // the latched source address
	addrSeen time.Time      // last packet of ours from addr

	haveSSRC bool
	ssrc     uint32
	ssrcSeen time.Time // last packet of ssrc

	cand sourceCandidate
}

// sourceCandidate is a stream on probation: its address and SSRC and how
// many packets it sent in sequence (RFC 3550 A.1 probation).
type sourceCandidate struct {
	addr netip.AddrPort
	ssrc uint32
	seq  uint16
	n    int
}

const (
	// minSequential is RFC 3550 Appendix A.1's MIN_SEQUENTIAL: packets
	// a new source sends in sequence before it is valid.
	minSequential = 2
	// ssrcQuietPtimes is how many packet times the played SSRC must have
	// been silent for another one from the same address to replace it.
	ssrcQuietPtimes = 2
	// relatchSilence is how long the latched address must have been
	// silent before another address may take over. It is longer than any
	// jitter or a lost burst a call survives, and short enough that a
	// NAT rebinding costs the agent about a second of audio.
	relatchSilence = time.Second
	// relatchPackets is how many packets of the negotiated codec, in
	// sequence from one SSRC, the new address must send: a steady stream
	// (100 ms at 20 ms), not a stray packet.
	relatchPackets = 5
)

// sourceVerdict is what the filter decided about a packet.
type sourceVerdict int

const (
	sourceAccepted    sourceVerdict = iota
	sourceForeignAdr                // from another address than the latched one
	sourceForeignSSRC               // an SSRC that is not (yet) the one played
)

// sourceChange tells what an accepted packet changed.
type sourceChange struct {
	latched   bool // the address latched or moved to the packet's source
	relatched bool // it moved from an earlier latched address
}

// reset forgets the latch and the SSRC (Update: a new negotiation).
func (f *sourceFilter) reset() { *f = sourceFilter{} }

// check decides about one packet of a negotiated payload type from from.
// audio tells a packet of the codec (only those latch); ptime is the
// negotiated packet time.
func (f *sourceFilter) check(from netip.AddrPort, ssrc uint32, seq uint16, audio bool, ptime time.Duration, now time.Time) (sourceVerdict, sourceChange) {
	var ch sourceChange
	switch {
	case !f.latched && audio:
		// RFC 4961 §4: the peer's first packet of the codec gives the
		// address to send to and to take media from.
		f.latched, f.addr = true, from
		ch.latched = true
	case f.latched && from != f.addr:
		n := 0
		if audio {
			n = f.probe(from, ssrc, seq)
		}
		if n < relatchPackets || now.Sub(f.addrSeen) < relatchSilence {
			return sourceForeignAdr, ch
		}
		// The latched source is gone and this one streams steadily:
		// a NAT rebinding or a new media server. Take it, SSRC and all.
		f.addr = from
		f.haveSSRC, f.ssrc = true, ssrc
		ch.latched, ch.relatched = true, true
	}
	if f.latched {
		f.addrSeen = now
	}
	if f.haveSSRC && ssrc != f.ssrc {
		// RFC 3550 §8.2, A.1: a new SSRC is on probation.
		if f.probe(from, ssrc, seq) < minSequential || now.Sub(f.ssrcSeen) < ssrcQuietPtimes*ptime {
			return sourceForeignSSRC, ch
		}
	}
	f.haveSSRC, f.ssrc, f.ssrcSeen = true, ssrc, now
	f.cand = sourceCandidate{}
	return sourceAccepted, ch
}

// foreign reports whether a packet from from is dropped whatever it
// holds: the latch is elsewhere and its source is not silent long enough
// for any packet to move it.
func (f *sourceFilter) foreign(from netip.AddrPort, now time.Time) bool {
	return f.latched && from != f.addr && now.Sub(f.addrSeen) < relatchSilence
}

// probe counts a packet of a stream on probation and returns how many it
// sent in sequence (RFC 3550 A.1: each must follow the last).
func (f *sourceFilter) probe(from netip.AddrPort, ssrc uint32, seq uint16) int {
	c := &f.cand
	if c.n > 0 && c.addr == from && c.ssrc == ssrc && seq == c.seq+1 {
		c.seq, c.n = seq, c.n+1
		return c.n
	}
	*c = sourceCandidate{addr: from, ssrc: ssrc, seq: seq, n: 1}
	return 1
}
