package media

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// TestSourceFilter walks the source rules of source.go packet by packet.
func TestSourceFilter(t *testing.T) {
	peer := netip.MustParseAddrPort("192.0.2.1:4000")
	natted := netip.MustParseAddrPort("192.0.2.1:5000") // the peer after a NAT rebinding
	stranger := netip.MustParseAddrPort("198.51.100.7:6000")
	const (
		acc  = sourceAccepted
		adr  = sourceForeignAdr
		ssrc = sourceForeignSSRC
	)
	type pk struct {
		from  netip.AddrPort
		ssrc  uint32
		seq   uint16
		audio bool
		ms    int // arrival
		want  sourceVerdict
		latch bool // the packet latches (or moves) the address
		moved bool // it moves an earlier latch
		reset bool // Update before this packet
	}
	// stream returns n packets of the codec from from, 20 ms apart from ms, seq from seq.
	stream := func(from netip.AddrPort, s uint32, seq uint16, ms, n int, want sourceVerdict) []pk {
		var ps []pk
		for i := range n {
			ps = append(ps, pk{from: from, ssrc: s, seq: seq + uint16(i), audio: true, ms: ms + 20*i, want: want})
		}
		return ps
	}
	cat := func(parts ...[]pk) []pk {
		var ps []pk
		for _, p := range parts {
			ps = append(ps, p...)
		}
		return ps
	}
	first := pk{from: peer, ssrc: 1, seq: 10, audio: true, want: acc, latch: true}
	// start is the peer's stream of n packets from 0 ms, the first latching.
	start := func(n int) []pk { return append([]pk{first}, stream(peer, 1, 11, 20, n-1, acc)...) }
	tests := []struct {
		name string
		pkts []pk
	}{
		{"events before the codec are taken but do not latch", []pk{
			{from: stranger, ssrc: 1, seq: 9, ms: 0, want: acc},
			{from: peer, ssrc: 1, seq: 10, audio: true, ms: 20, want: acc, latch: true},
			{from: stranger, ssrc: 1, seq: 11, audio: true, ms: 40, want: adr},
		}},
		{"foreign ssrc from another address, in sequence, while the peer talks", cat(
			[]pk{first},
			// Interleaved: the peer every 20 ms, the stranger in between.
			func() []pk {
				var ps []pk
				for i := range 10 {
					ps = append(ps, pk{from: stranger, ssrc: 99, seq: uint16(500 + i), audio: true, ms: 10 + 20*i, want: adr},
						pk{from: peer, ssrc: 1, seq: uint16(11 + i), audio: true, ms: 20 + 20*i, want: acc})
				}
				return ps
			}(),
		)},
		{"foreign ssrc from another address, alone for long, out of sequence", cat(
			[]pk{first},
			// The flood of the reliability test: seven SSRCs, seq jumping.
			func() []pk {
				var ps []pk
				for i := range 200 {
					ps = append(ps, pk{from: stranger, ssrc: 0xbadc0de0 + uint32(i%7), seq: uint16(2 * i), audio: true, ms: 20 + 10*i, want: adr})
				}
				return ps
			}(),
		)},
		{"foreign ssrc from the latched address while the current plays", cat(
			[]pk{first},
			func() []pk {
				var ps []pk
				for i := range 10 {
					ps = append(ps, pk{from: peer, ssrc: 77, seq: uint16(900 + i), audio: true, ms: 10 + 20*i, want: ssrc},
						pk{from: peer, ssrc: 1, seq: uint16(11 + i), audio: true, ms: 20 + 20*i, want: acc})
				}
				return ps
			}(),
		)},
		{"peer ssrc change is followed after MIN_SEQUENTIAL packets", cat(
			start(5),
			// The old stream stops at 80 ms; the new one starts at 100.
			stream(peer, 2, 3000, 100, 1, ssrc),
			stream(peer, 2, 3001, 120, 3, acc),
			// A late packet of the old stream does not switch back.
			[]pk{{from: peer, ssrc: 1, seq: 15, audio: true, ms: 125, want: ssrc}},
		)},
		{"a single packet of a new ssrc does not switch", cat(
			start(3),
			[]pk{{from: peer, ssrc: 2, seq: 50, audio: true, ms: 200, want: ssrc}},
			[]pk{{from: peer, ssrc: 2, seq: 52, audio: true, ms: 220, want: ssrc}}, // not in sequence
			[]pk{{from: peer, ssrc: 1, seq: 13, audio: true, ms: 240, want: acc}},
		)},
		{"nat rebinding after a second of silence", cat(
			start(5),
			// The new mapping starts at once; the old one is gone after 80 ms.
			stream(natted, 1, 15, 100, 49, adr),
			// 80 ms + relatchSilence.
			[]pk{{from: natted, ssrc: 1, seq: 64, audio: true, ms: 1080, want: acc, latch: true, moved: true}},
			stream(natted, 1, 65, 1100, 3, acc),
			// The old address is now a stranger.
			stream(peer, 1, 14, 1130, 1, adr),
		)},
		{"a new media server (address and ssrc) after silence", cat(
			start(5),
			stream(stranger, 8, 100, 3000, 4, adr),
			[]pk{{from: stranger, ssrc: 8, seq: 104, audio: true, ms: 3080, want: acc, latch: true, moved: true}},
			stream(stranger, 8, 105, 3100, 2, acc),
		)},
		{"no move while the latched address still sends", cat(
			start(2),
			stream(natted, 1, 100, 1500, 4, adr),
			[]pk{{from: peer, ssrc: 1, seq: 12, audio: true, ms: 1580, want: acc}},
			stream(natted, 1, 104, 1600, 3, adr), // the silence counts from the last packet again
		)},
		{"no move on telephone events or comfort noise", cat(
			start(2),
			func() []pk {
				var ps []pk
				for i := range 10 {
					ps = append(ps, pk{from: natted, ssrc: 1, seq: uint16(100 + i), ms: 2000 + 20*i, want: adr})
				}
				return ps
			}(),
		)},
		{"no move on a stream out of sequence", cat(
			start(2),
			func() []pk {
				var ps []pk
				for i := range 20 {
					ps = append(ps, pk{from: natted, ssrc: 1, seq: uint16(100 + 2*i), audio: true, ms: 2000 + 20*i, want: adr})
				}
				return ps
			}(),
		)},
		{"re-INVITE: the next source latches at once", cat(
			start(3),
			[]pk{{from: stranger, ssrc: 5, seq: 40, audio: true, ms: 70, want: acc, latch: true, reset: true}},
			stream(stranger, 5, 41, 90, 2, acc),
			stream(peer, 1, 13, 100, 2, adr),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f sourceFilter
			t0 := time.Unix(1_700_000_000, 0)
			for i, p := range tt.pkts {
				if p.reset {
					f.reset()
				}
				got, ch := f.check(p.from, p.ssrc, p.seq, p.audio, 20*time.Millisecond, t0.Add(time.Duration(p.ms)*time.Millisecond))
				if got != p.want || ch.latched != p.latch || ch.relatched != p.moved {
					t.Fatalf("packet %d (%v ssrc %d seq %d at %d ms): verdict %d latched %v moved %v, want %d %v %v",
						i, p.from, p.ssrc, p.seq, p.ms, got, ch.latched, ch.relatched, p.want, p.latch, p.moved)
				}
			}
		})
	}
}

// srcPeer sends RTP of one SSRC from its own socket.
type srcPeer struct {
	t    *testing.T
	c    *net.UDPConn
	ssrc uint32
}

func newSrcPeer(t *testing.T, addr netip.Addr, ssrc uint32) srcPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srcPeer{t: t, c: c, ssrc: ssrc}
}

// send sends packet idx of the marker stream (seq 100+idx) to.
func (p srcPeer) send(to netip.AddrPort, idx int) {
	p.t.Helper()
	p.sendSeq(to, uint16(100+idx), idx)
}

func (p srcPeer) sendSeq(to netip.AddrPort, seq uint16, idx int) {
	p.t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptPCMU, SequenceNumber: seq,
		Timestamp: uint32(8000 + 160*idx), SSRC: p.ssrc}, Payload: markerPayload(idx)}).Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	p.raw(to, b)
}

func (p srcPeer) raw(to netip.AddrPort, b []byte) {
	p.t.Helper()
	if _, err := p.c.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}

func (p srcPeer) report(to netip.AddrPort) {
	p.t.Helper()
	b, err := (&rtcp.ReceiverReport{SSRC: p.ssrc}).Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	p.raw(to, b)
}

// stranger is another host on the loopback network.
var stranger = netip.MustParseAddr("127.0.0.2")

// TestSessionSourceValidation: while the peer's stream plays, garbage and
// a foreign stream from another address and a foreign SSRC from the
// peer's own address change nothing that is played; the peer's NAT
// rebinding moves the latch after a second of silence, RTCP with it; a
// re-INVITE latches afresh.
func TestSessionSourceValidation(t *testing.T) {
	clock := newFakeClock()
	tick := newManualTicker()
	peer := newSrcPeer(t, loopback, 3)
	peerFake := srcPeer{t: t, c: peer.c, ssrc: 0x5eed} // the peer's address, another SSRC
	peerRTCP := newSrcPeer(t, loopback, 3)
	flood := newSrcPeer(t, stranger, 0xbadc0de0)
	sRTP, sRTCP := pair(t)
	n := g711("PCMU", addrOf(peer.c), SendRecv)
	n.RemoteRTCP = addrOf(peerRTCP.c)
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: n, Now: clock.Now, PlayoutTicker: tick.factory()})
	to, toRTCP := addrOf(sRTP), addrOf(sRTCP)

	t0 := clock.Now()
	const frames = 12
	var got, want []string
	for p := range frames {
		clock.Set(t0.Add(time.Duration(p*20) * time.Millisecond))
		peer.send(to, p)
		// Not RTP, and a stream in sequence, from another address; both
		// dropped unread as foreign.
		flood.raw(to, []byte{0x13, 0x37, byte(p), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
		flood.sendSeq(to, uint16(500+p), 40)
		peerFake.sendSeq(to, uint16(7*p), 50) // latched address, other SSRC
		peer.raw(to, []byte{0x13, 0x37})      // not RTP, latched address
		if !waitStats(s, func(st Stats) bool {
			return st.PacketsReceived == uint64(p+1) && st.PacketsIgnored == uint64(p+1) &&
				st.PacketsForeignSource == uint64(2*(p+1)) && st.PacketsForeignSSRC == uint64(p+1)
		}) {
			t.Fatalf("frame %d: packets not all handled: %+v", p, s.Stats())
		}
		got = append(got, readPlayout(t, s, tick))
		if p < 1 {
			want = append(want, "s") // the playout delay
		} else {
			want = append(want, fmt.Sprint(p-1))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("played %v, want %v: the peer's stream uninterrupted", got, want)
	}
	if st := s.Stats(); st.SSRCChanges != 0 || st.Relatches != 0 || st.PacketsLost != 0 || s.Destination() != addrOf(peer.c) {
		t.Errorf("ssrc changes %d relatches %d lost %d destination %v, want 0 0 0 %v",
			st.SSRCChanges, st.Relatches, st.PacketsLost, s.Destination(), addrOf(peer.c))
	}

	// RTCP latches on the peer's first report; a stranger's are dropped.
	peerRTCP.report(toRTCP)
	flood.report(toRTCP)
	if !waitStats(s, func(st Stats) bool { return st.RTCPReceived == 1 && st.RTCPForeignSource == 1 }) {
		t.Fatalf("rtcp: %+v", s.Stats())
	}

	// The peer's NAT rebinds: same SSRC, same host, new ports, after the
	// old mapping fell silent for a second.
	moved := newSrcPeer(t, loopback, 3)
	movedRTCP := newSrcPeer(t, loopback, 3)
	clock.Set(t0.Add(time.Duration(frames*20)*time.Millisecond + relatchSilence))
	for i := range relatchPackets {
		moved.send(to, frames+i)
	}
	if !waitStats(s, func(st Stats) bool { return st.Relatches == 1 }) {
		t.Fatalf("no relatch after the rebinding: %+v", s.Stats())
	}
	if st := s.Stats(); s.Destination() != addrOf(moved.c) || st.PacketsReceived != frames+1 ||
		st.PacketsForeignSource != 2*frames+relatchPackets-1 || st.SSRCChanges != 0 {
		t.Errorf("after the rebinding: destination %v received %d foreign %d ssrc changes %d, want %v %d %d 0",
			s.Destination(), st.PacketsReceived, st.PacketsForeignSource, st.SSRCChanges, addrOf(moved.c), frames+1, 2*frames+relatchPackets-1)
	}
	if err := s.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	if p := readPacket(t, moved.c); p.PayloadType != ptPCMU {
		t.Errorf("reply pt %d", p.PayloadType)
	}
	// RTCP moves with it, from the peer's host only.
	flood.report(toRTCP)
	movedRTCP.report(toRTCP)
	if !waitStats(s, func(st Stats) bool { return st.RTCPReceived == 2 && st.RTCPForeignSource == 2 }) {
		t.Fatalf("rtcp after the rebinding: %+v", s.Stats())
	}
	peerRTCP.report(toRTCP) // the old mapping
	if !waitStats(s, func(st Stats) bool { return st.RTCPForeignSource == 3 }) {
		t.Fatalf("rtcp from the old mapping: %+v", s.Stats())
	}

	// A re-INVITE to a new address: the next packet latches, with its SSRC.
	next := newSrcPeer(t, loopback, 11)
	n2 := g711("PCMU", addrOf(next.c), SendRecv)
	if err := s.Update(n2); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	next.send(to, 0)
	moved.send(to, frames+relatchPackets)
	if !waitStats(s, func(st Stats) bool {
		return st.PacketsReceived == before.PacketsReceived+1 && st.PacketsForeignSource == before.PacketsForeignSource+1
	}) {
		t.Fatalf("after the re-INVITE: %+v", s.Stats())
	}
	if s.Destination() != addrOf(next.c) {
		t.Errorf("destination %v after the re-INVITE, want %v", s.Destination(), addrOf(next.c))
	}
}

// TestSessionSourceSSRCChange: a peer switching SSRC on the same address
// (a B2BUA changing legs) is played after two packets of the new stream.
func TestSessionSourceSSRCChange(t *testing.T) {
	clock := newFakeClock()
	tick := newManualTicker()
	peer := newSrcPeer(t, loopback, 3)
	sRTP, sRTCP := pair(t)
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: g711("PCMU", addrOf(peer.c), SendRecv),
		Now: clock.Now, PlayoutTicker: tick.factory()})
	to := addrOf(sRTP)
	t0 := clock.Now()
	var got []string
	handled := 0
	for p := range 12 {
		now := t0.Add(time.Duration(p*20) * time.Millisecond)
		clock.Set(now)
		if p < 5 {
			peer.send(to, p)
			handled++
			if p == 4 {
				// The old stream's packet 5 comes early and is still
				// held when the new stream is taken.
				peer.send(to, 5)
				handled++
			}
		} else {
			// The new leg: another SSRC, sequence and timestamps.
			b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptPCMU, SequenceNumber: uint16(40000 + p),
				Timestamp: uint32(900000 + 160*p), SSRC: 44}, Payload: markerPayload(p)}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			peer.raw(to, b)
			handled++
		}
		if !waitStats(s, func(st Stats) bool { return st.PacketsReceived+st.PacketsForeignSSRC == uint64(handled) }) {
			t.Fatalf("packet %d not handled: %+v", p, s.Stats())
		}
		got = append(got, readPlayout(t, s, tick))
	}
	st := s.Stats()
	if st.SSRCChanges != 1 || st.PacketsForeignSSRC != 1 {
		t.Errorf("ssrc changes %d, on probation %d; want 1 1", st.SSRCChanges, st.PacketsForeignSSRC)
	}
	// The new stream (from packet 6, after one on probation) plays after
	// the jitter buffer's start-up delay; the new source restarts the
	// buffer (RFC 3550 §8.2), so the old stream's packet 5, still held
	// then, is never played: silence until the new stream starts. (The
	// early packet's 20 ms of jitter raised the buffer's target above its
	// 40 ms start, so the new stream starts a tick later than it would.)
	for i, g := range got {
		if g == "5" {
			t.Errorf("tick %d played the old stream's packet 5, held when the new stream was taken", i)
		}
	}
	if g := fmt.Sprint(got); g != "[s 0 1 2 3 4 s s 6 7 8 9]" {
		t.Errorf("played %s", g)
	}
}

// TestSRTPSourceValidation: packets that fail SRTP authentication neither
// latch nor move the latch, however many come in sequence; authenticated
// ones from the peer's new mapping do.
func TestSRTPSourceValidation(t *testing.T) {
	clock := newFakeClock()
	m := mitm{rtp: rawPeer(t), rtcp: rawPeer(t)} // what a sends arrives here
	sdp := rawPeer(t)
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	wRTP, wRTCP := pair(t)
	keys := func(local, remote byte) *SRTPKeys {
		return &SRTPKeys{Suite: AESCM128HMACSHA180, Tag: 1, LocalKey: testKey(local), RemoteKey: testKey(remote)}
	}
	na := g711("PCMU", addrOf(m.rtp), SendRecv)
	na.SRTP = keys(1, 2)
	nw := na // a stranger with the wrong key
	nw.SRTP = keys(9, 2)
	nb := g711("PCMU", addrOf(sdp), SendRecv)
	nb.SRTP = keys(2, 1)
	a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: na})
	w := startSessionWith(t, SessionOptions{RTP: wRTP, RTCP: wRTCP, Negotiated: nw})
	b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: nb, Now: clock.Now})
	strangerConn := newSrcPeer(t, stranger, 0).c
	frame := tone(160, 8000, 1000, 0.5)
	relay := func(s *Session, via *net.UDPConn) {
		t.Helper()
		if err := s.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
		forward(t, via, addrOf(bRTP), m.read(t, m.rtp))
	}

	relay(w, strangerConn)
	if !waitStats(b, func(st Stats) bool { return st.SRTPAuthFailed == 1 }) {
		t.Fatalf("wrong key not counted: %+v", b.Stats())
	}
	if b.Destination() != addrOf(sdp) {
		t.Fatalf("latched on a packet that failed authentication: %v", b.Destination())
	}
	peer := rawPeer(t)
	relay(a, peer)
	if !waitStats(b, func(st Stats) bool { return st.PacketsReceived == 1 }) || b.Destination() != addrOf(peer) {
		t.Fatalf("genuine packet: %+v, destination %v", b.Stats(), b.Destination())
	}

	clock.Add(2 * relatchSilence)
	for range 2 * relatchPackets {
		relay(w, strangerConn)
	}
	if !waitStats(b, func(st Stats) bool { return st.SRTPAuthFailed == 1+2*relatchPackets }) {
		t.Fatalf("wrong key not counted: %+v", b.Stats())
	}
	if st := b.Stats(); b.Destination() != addrOf(peer) || st.Relatches != 0 {
		t.Fatalf("moved on packets that failed authentication: %v, %d relatches", b.Destination(), st.Relatches)
	}

	rebound := rawPeer(t)
	for range relatchPackets {
		relay(a, rebound)
	}
	if !waitStats(b, func(st Stats) bool { return st.Relatches == 1 }) || b.Destination() != addrOf(rebound) {
		t.Fatalf("no relatch on authenticated packets: %+v, destination %v", b.Stats(), b.Destination())
	}
}
