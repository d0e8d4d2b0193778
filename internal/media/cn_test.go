package media

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const cnOfferHead = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"

// TestComfortNoiseSDP: CN/8000 is offered with the 8 kHz-clock codecs when
// asked for, accepted from a peer that lists it (payload type 13 needs no
// rtpmap, RFC 3551 §6) and left out otherwise.
func TestComfortNoiseSDP(t *testing.T) {
	local := func(cn bool, codecs ...string) Local {
		return Local{Addr: netip.MustParseAddr("192.0.2.1"), Port: 4000, Codecs: codecs, DTMF: true, ComfortNoise: cn}
	}
	offers := []struct {
		name    string
		l       Local
		want    []string
		notWant []string
	}{
		{"pcmu", local(true, "pcmu"), []string{"m=audio 4000 RTP/AVP 0 101 13\r\n", "a=rtpmap:13 CN/8000\r\n"}, nil},
		{"opus and g722", local(true, "opus", "g722"), []string{"m=audio 4000 RTP/AVP 111 9 100 101 13\r\n"}, nil},
		{"opus only: its own dtx", local(true, "opus"), nil, []string{"CN/"}},
		{"not asked for", local(false, "pcmu"), []string{"m=audio 4000 RTP/AVP 0 101\r\n"}, []string{"CN/"}},
	}
	for _, tc := range offers {
		t.Run("offer "+tc.name, func(t *testing.T) {
			n, err := NewNegotiator(tc.l)
			if err != nil {
				t.Fatal(err)
			}
			b, err := n.Offer(SendRecv)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("offer lacks %q:\n%s", w, b)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(string(b), w) {
					t.Errorf("offer holds %q:\n%s", w, b)
				}
			}
		})
	}

	answers := []struct {
		name   string
		l      Local
		offer  string
		cnPT   int // -1: none
		answer string
	}{
		{"static 13 without rtpmap", local(true, "pcmu"), "m=audio 5000 RTP/AVP 0 13\r\n", 13, "m=audio 4000 RTP/AVP 0 13\r\n"},
		{"dynamic CN/8000", local(true, "pcma"), "m=audio 5000 RTP/AVP 8 98\r\na=rtpmap:98 CN/8000\r\n", 98, "a=rtpmap:98 CN/8000"},
		{"g722 runs an 8 kHz clock", local(true, "g722"), "m=audio 5000 RTP/AVP 9 13\r\n", 13, "RTP/AVP 9 13\r\n"},
		{"CN at another rate", local(true, "pcmu"), "m=audio 5000 RTP/AVP 0 97\r\na=rtpmap:97 CN/16000\r\n", -1, "RTP/AVP 0\r\n"},
		{"opus chosen", local(true, "opus", "pcmu"), "m=audio 5000 RTP/AVP 111 0 13\r\na=rtpmap:111 opus/48000/2\r\n", -1, "RTP/AVP 111\r\n"},
		{"we do not want it", local(false, "pcmu"), "m=audio 5000 RTP/AVP 0 13\r\n", -1, "RTP/AVP 0\r\n"},
	}
	for _, tc := range answers {
		t.Run("answer "+tc.name, func(t *testing.T) {
			n, err := NewNegotiator(tc.l)
			if err != nil {
				t.Fatal(err)
			}
			b, neg, err := n.Answer([]byte(cnOfferHead+tc.offer), SendRecv)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.cnPT < 0 && neg.CN != nil:
				t.Errorf("CN agreed: %v", neg.CN)
			case tc.cnPT >= 0 && (neg.CN == nil || neg.CN.PayloadType != uint8(tc.cnPT)):
				t.Errorf("CN %v, want payload type %d", neg.CN, tc.cnPT)
			}
			if !strings.Contains(string(b), tc.answer) {
				t.Errorf("answer lacks %q:\n%s", tc.answer, b)
			}
		})
	}

	t.Run("set answer", func(t *testing.T) {
		n, err := NewNegotiator(local(true, "pcmu"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Offer(SendRecv); err != nil {
			t.Fatal(err)
		}
		neg, err := n.SetAnswer([]byte(cnOfferHead + "m=audio 5000 RTP/AVP 0 13\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if neg.CN == nil || neg.CN.PayloadType != ptCN {
			t.Errorf("CN %v, want 13", neg.CN)
		}
		if _, err := n.Offer(SendRecv); err != nil {
			t.Fatal(err)
		}
		if neg, err = n.SetAnswer([]byte(cnOfferHead + "m=audio 5000 RTP/AVP 0\r\n")); err != nil || neg.CN != nil {
			t.Errorf("answer without CN: CN %v, err %v", neg.CN, err)
		}
	})
}

func TestNoiseLevel(t *testing.T) {
	full := make([]int16, 160)
	for i := range full {
		full[i] = 32767
		if i%2 == 1 {
			full[i] = -32768
		}
	}
	tenth := make([]int16, 160)
	for i := range tenth {
		tenth[i] = 3277
	}
	tests := []struct {
		name string
		in   []int16
		want uint8
	}{
		{"empty", nil, NoiseLevelSilence},
		{"digital silence", make([]int16, 160), NoiseLevelSilence},
		{"full scale square", full, 0},
		{"a tenth of full scale", tenth, 20},
	}
	for _, tc := range tests {
		if got := NoiseLevel(tc.in); got != tc.want {
			t.Errorf("%s: level %d, want %d", tc.name, got, tc.want)
		}
	}
	// The generator plays back the level it is given.
	g := newNoiseGen()
	for _, level := range []uint8{30, 50, 70} {
		got := NoiseLevel(g.fill(nil, 8000, level))
		if got < level-1 || got > level+1 {
			t.Errorf("noise made at -%d dBov measures -%d dBov", level, got)
		}
	}
	if got := g.fill(nil, 160, NoiseLevelSilence); NoiseLevel(got) != NoiseLevelSilence {
		t.Errorf("noise at -127 dBov is not silence")
	}
}

// cnNegotiated is g711 PCMU with CN/8000 agreed.
func cnNegotiated(remote netip.AddrPort, dir Direction) Negotiated {
	n := g711("PCMU", remote, dir)
	n.CN = &Codec{Name: "CN", PayloadType: ptCN, ClockRate: 8000, SampleRate: 8000, Channels: 1}
	return n
}

// TestWriteMutedSendsComfortNoise: with CN agreed a muted microphone
// sends a SID at once and then one every ComfortNoiseInterval, with the
// timestamps of the frames they stand for; the next speech starts a
// talkspurt.
func TestWriteMutedSendsComfortNoise(t *testing.T) {
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	s := startSession(t, sRTP, sRTCP, cnNegotiated(addrOf(peer), SendRecv))
	frame := make([]int16, 160)
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	speech := readPacket(t, peer)
	const frames = 21 // 420 ms: SIDs at 0, 200 and 400 ms
	for range frames {
		if err := s.WriteMuted(160, 60); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		p := readPacket(t, peer)
		if p.PayloadType != ptCN || len(p.Payload) != 1 || p.Payload[0] != 60 || p.Marker {
			t.Fatalf("SID %d: pt %d payload %v marker %v, want CN [60] without marker", i, p.PayloadType, p.Payload, p.Marker)
		}
		if want := speech.Timestamp + 160 + uint32(i)*1600; p.Timestamp != want {
			t.Errorf("SID %d timestamp %d, want %d", i, p.Timestamp, want)
		}
		if p.SequenceNumber != speech.SequenceNumber+uint16(i)+1 {
			t.Errorf("SID %d seq %d, want %d", i, p.SequenceNumber, speech.SequenceNumber+uint16(i)+1)
		}
	}
	if err := s.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	p := readPacket(t, peer)
	if p.PayloadType != ptPCMU || !p.Marker || p.Timestamp != speech.Timestamp+160*(frames+1) {
		t.Errorf("speech after the mute: pt %d marker %v ts %d, want PCMU, marker, ts %d",
			p.PayloadType, p.Marker, p.Timestamp, speech.Timestamp+160*(frames+1))
	}
	if st := s.Stats(); st.ComfortNoiseSent != 3 || st.PacketsSent != 5 || st.SilenceSent != 0 {
		t.Errorf("stats: %d SIDs, %d packets, %d silence, want 3, 5, 0", st.ComfortNoiseSent, st.PacketsSent, st.SilenceSent)
	}
}

// TestWriteMutedSendsSilence: without CN a muted microphone sends encoded
// digital silence every packet time; not at all when our direction does
// not send.
func TestWriteMutedSendsSilence(t *testing.T) {
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	s := startSession(t, sRTP, sRTCP, g711("PCMU", addrOf(peer), SendRecv))
	for i := range 3 {
		if err := s.WriteMuted(160, 60); err != nil {
			t.Fatal(err)
		}
		p := readPacket(t, peer)
		if p.PayloadType != ptPCMU || len(p.Payload) != 160 || p.Marker != (i == 0) {
			t.Fatalf("packet %d: pt %d, %d bytes, marker %v", i, p.PayloadType, len(p.Payload), p.Marker)
		}
		for _, b := range p.Payload {
			if DecodeMulaw(b) != 0 {
				t.Fatalf("packet %d is not silence: % x", i, p.Payload[:8])
			}
		}
	}
	if st := s.Stats(); st.SilenceSent != 3 || st.ComfortNoiseSent != 0 {
		t.Errorf("stats: %d silence, %d SIDs, want 3, 0", st.SilenceSent, st.ComfortNoiseSent)
	}
	if err := s.Update(g711("PCMU", addrOf(peer), RecvOnly)); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteMuted(160, 60); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.PacketsSent != 3 {
		t.Errorf("recvonly: %d packets sent, want 3", st.PacketsSent)
	}
}

// TestWriteMutedOpus: Opus has no CN (its own DTX is not used here); a
// muted Opus call sends encoded silence every packet time.
func TestWriteMutedOpus(t *testing.T) {
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	n := Negotiated{Codec: Codec{Name: "opus", PayloadType: ptOpus, ClockRate: 48000, SampleRate: 48000, Channels: 1},
		RecvPayloadType: ptOpus, Remote: addrOf(peer), LocalDirection: SendRecv, RemoteDirection: SendRecv, PTime: 20}
	s := startSession(t, sRTP, sRTCP, n)
	var ts []uint32
	for range 3 {
		if err := s.WriteMuted(960, 60); err != nil {
			t.Fatal(err)
		}
		p := readPacket(t, peer)
		if p.PayloadType != ptOpus || len(p.Payload) == 0 {
			t.Fatalf("pt %d, %d bytes, want an Opus packet", p.PayloadType, len(p.Payload))
		}
		ts = append(ts, p.Timestamp)
	}
	if ts[1]-ts[0] != 960 || ts[2]-ts[1] != 960 {
		t.Errorf("timestamps %v, want 960 apart", ts)
	}
	if st := s.Stats(); st.SilenceSent != 3 || st.ComfortNoiseSent != 0 {
		t.Errorf("stats: %d silence, %d SIDs, want 3, 0", st.SilenceSent, st.ComfortNoiseSent)
	}
}

// TestComfortNoiseReceived: SIDs are counted as RTP (the media timeout
// sees them), never decoded, end the talkspurt at once (no concealment)
// and make the silence that follows noise at their level.
func TestComfortNoiseReceived(t *testing.T) {
	clock := newFakeClock()
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	tk := newManualTicker()
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: cnNegotiated(addrOf(peer), SendRecv),
		Now: clock.Now, PlayoutTicker: tk.factory()})
	send := func(pt uint8, seq uint16, ts uint32, payload []byte) {
		t.Helper()
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 7},
			Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(b, addrOf(sRTP)); err != nil {
			t.Fatal(err)
		}
	}
	// Five packets of speech, a SID at -40 dBov in place of the sixth,
	// speech again at the fifteenth; a pop every 20 ms.
	t0 := clock.Now()
	var got []string
	var noise []int16
	received := 0
	for p := range 16 {
		clock.Set(t0.Add(time.Duration(p*20) * time.Millisecond))
		switch {
		case p < 5:
			send(ptPCMU, uint16(p), uint32(p*160), markerPayload(p))
		case p == 5:
			send(ptCN, uint16(p), uint32(p*160), []byte{40})
		case p == 14:
			send(ptPCMU, 6, uint32(p*160), markerPayload(7))
		}
		if p <= 5 || p == 14 {
			received++
			if !waitStats(s, func(st Stats) bool { return st.PacketsReceived == uint64(received) }) {
				t.Fatalf("packet %d not received", p)
			}
		}
		before := s.Stats().FramesSilent
		f := readTick(t, s, tk)
		st := s.Stats()
		switch {
		case st.FramesSilent > before:
			got = append(got, "s")
			if p > 8 && p < 14 {
				noise = append(noise, f...)
			}
		case st.FramesConcealed > 0:
			got = append(got, "c")
		default:
			got = append(got, frameIndex(f, playoutDecoded))
		}
	}
	st := s.Stats()
	want := "s 0 1 2 3 4 s s s s s s s s s 7"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("played %s, want %s", g, want)
	}
	if st.FramesConcealed != 0 {
		t.Errorf("%d frames concealed, want none: the SID ends the talkspurt", st.FramesConcealed)
	}
	if st.FramesDecoded != 6 || st.PacketsIgnored != 0 || st.ComfortNoiseReceived != 1 || st.PacketsLost != 0 {
		t.Errorf("decoded %d ignored %d SIDs %d lost %d, want 6 0 1 0",
			st.FramesDecoded, st.PacketsIgnored, st.ComfortNoiseReceived, st.PacketsLost)
	}
	if l := NoiseLevel(noise); l < 38 || l > 42 {
		t.Errorf("comfort noise at -%d dBov, want -40", l)
	}
}

// TestMediaIdle: the media timeout's clock. Both ways up: RTP only, from
// Start and from Update. On hold (either side) or after a SID: RTP or
// RTCP, and never for a peer that sent no RTCP.
func TestMediaIdle(t *testing.T) {
	clock := newFakeClock()
	peer := rawPeer(t)
	peerRTCP := rawPeer(t)
	sRTP, sRTCP := pair(t)
	neg := cnNegotiated(addrOf(peer), SendRecv)
	neg.RemoteRTCP = addrOf(peerRTCP)
	s, err := NewSession(SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: neg, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.MediaIdle(clock.Now().Add(time.Hour)); got != 0 {
		t.Errorf("before start %v, want 0", got)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	check := func(what string, at time.Time, want time.Duration) {
		t.Helper()
		if got := s.MediaIdle(at); got != want {
			t.Errorf("%s: idle %v, want %v", what, got, want)
		}
	}
	check("nothing came", start.Add(3*time.Second), 3*time.Second)
	update := func(local, remote Direction) {
		t.Helper()
		n := neg
		n.LocalDirection, n.RemoteDirection = local, remote
		if err := s.Update(n); err != nil {
			t.Fatal(err)
		}
	}

	// We hold (sendonly, answered recvonly); the peer sent no RTCP yet.
	held := clock.Add(10 * time.Second)
	update(SendOnly, RecvOnly)
	check("we hold, no RTCP ever", held.Add(time.Minute), 0)
	// Its RTCP arrives: now it is judged by it.
	b, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 9}})
	if err != nil {
		t.Fatal(err)
	}
	rtcpAt := clock.Add(2 * time.Second)
	if _, err := peerRTCP.WriteToUDPAddrPort(b, addrOf(sRTCP)); err != nil {
		t.Fatal(err)
	}
	if !waitStats(s, func(st Stats) bool { return st.RTCPReceived == 1 }) {
		t.Fatal("rtcp not received")
	}
	check("we hold, RTCP came", rtcpAt.Add(4*time.Second), 4*time.Second)
	// Judged by RTCP: at least five report intervals (RFC 3550 §6.3.5).
	for _, tc := range []struct {
		after, timeout time.Duration
		want           bool
	}{
		{4 * time.Second, 2 * time.Second, false},
		{RTCPTimeout - time.Second, 2 * time.Second, false},
		{RTCPTimeout, 2 * time.Second, true},
		{RTCPTimeout, time.Minute, false},
		{time.Minute, time.Minute, true},
		{time.Hour, 0, false},
	} {
		if idle, out := s.MediaTimedOut(rtcpAt.Add(tc.after), tc.timeout); out != tc.want || idle != tc.after {
			t.Errorf("held, %v after RTCP, timeout %v: timed out %v (idle %v), want %v", tc.after, tc.timeout, out, idle, tc.want)
		}
	}
	// The peer holds (sendonly from its side, sending nothing).
	update(RecvOnly, SendOnly)
	check("peer holds: from the update", clock.Now().Add(7*time.Second), 7*time.Second)
	update(Inactive, Inactive)
	check("inactive", clock.Now().Add(7*time.Second), 7*time.Second)

	// Resumed: RTP is due again, from the resume on.
	resumed := clock.Add(time.Minute)
	update(SendRecv, SendRecv)
	check("resumed", resumed.Add(2*time.Second), 2*time.Second)

	// A SID: the peer may be quiet now; RTCP keeps it alive.
	sidAt := clock.Add(time.Second)
	sendPacket(t, peer, addrOf(sRTP), ptCN, 1, []byte{60})
	if !waitStats(s, func(st Stats) bool { return st.ComfortNoiseReceived == 1 }) {
		t.Fatal("SID not received")
	}
	rtcpAt = clock.Add(5 * time.Second)
	if _, err := peerRTCP.WriteToUDPAddrPort(b, addrOf(sRTCP)); err != nil {
		t.Fatal(err)
	}
	if !waitStats(s, func(st Stats) bool { return st.RTCPReceived == 2 }) {
		t.Fatal("rtcp not received")
	}
	check("after a SID, RTCP counts", rtcpAt.Add(3*time.Second), 3*time.Second)
	if got := s.Idle(rtcpAt.Add(3 * time.Second)); got != rtcpAt.Add(3*time.Second).Sub(sidAt) {
		t.Errorf("Idle %v: RTP only, since the SID", got)
	}
	// Speech again: RTP only.
	spoke := clock.Add(time.Second)
	sendPacket(t, peer, addrOf(sRTP), ptPCMU, 2, make([]byte, 160))
	if !waitStats(s, func(st Stats) bool { return st.PacketsReceived == 2 }) {
		t.Fatal("speech not received")
	}
	check("speech", spoke.Add(9*time.Second), 9*time.Second)
	if _, out := s.MediaTimedOut(spoke.Add(2*time.Second), 2*time.Second); !out {
		t.Error("both ways up: 2 s without RTP is not a 2 s timeout")
	}
}

// TestRTCPWhileHeld: reports go on both ways while neither side sends RTP
// (RFC 3550 §6, RFC 3264 §8.4): receiver reports from the holding side.
func TestRTCPWhileHeld(t *testing.T) {
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	tkA, tkB := newManualTicker(), newManualTicker()
	a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: g711("PCMU", addrOf(bRTP), SendOnly), RTCPTicker: tkA.factory()})
	b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: g711("PCMU", addrOf(aRTP), RecvOnly), RTCPTicker: tkB.factory()})
	for i := range 3 {
		tkA.Tick()
		tkB.Tick()
		if !waitStats(a, func(st Stats) bool { return st.RTCPReceived == uint64(i+1) }) ||
			!waitStats(b, func(st Stats) bool { return st.RTCPReceived == uint64(i+1) }) {
			t.Fatalf("report %d: a got %d, b got %d", i+1, a.Stats().RTCPReceived, b.Stats().RTCPReceived)
		}
	}
	if a.Stats().PacketsSent != 0 || b.Stats().PacketsSent != 0 {
		t.Errorf("RTP sent while held")
	}
}
