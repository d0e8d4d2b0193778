package media

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/softphone/softphone/internal/testbed"
)

// hardTimeout bounds every wait in these tests; it is a hang guard, not a
// timed assertion.
const hardTimeout = 10 * time.Second

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// g711 returns a Negotiated for PCMU or PCMA towards remote.
func g711(name string, remote netip.AddrPort, dir Direction) Negotiated {
	pt := ptPCMU
	if name == "PCMA" {
		pt = ptPCMA
	}
	return Negotiated{
		Codec:           Codec{Name: name, PayloadType: pt, ClockRate: 8000, SampleRate: 8000, Channels: 1},
		RecvPayloadType: pt,
		Remote:          remote,
		RemoteRTCP:      netip.AddrPortFrom(remote.Addr(), remote.Port()+1),
		LocalDirection:  dir,
		RemoteDirection: dir.Reverse(),
		PTime:           20,
	}
}

// pair binds sockets for a session.
func pair(t *testing.T) (*net.UDPConn, *net.UDPConn) {
	t.Helper()
	rtpConn, rtcpConn, err := PortRange{}.Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	return rtpConn, rtcpConn
}

func startSession(t *testing.T, rtpConn, rtcpConn *net.UDPConn, n Negotiated) *Session {
	t.Helper()
	return startSessionWith(t, SessionOptions{RTP: rtpConn, RTCP: rtcpConn, Negotiated: n})
}

// startSessionWith starts a session and closes it at cleanup, checking
// that it leaves no goroutine behind.
func startSessionWith(t *testing.T, o SessionOptions) *Session {
	t.Helper()
	testbed.CheckLeaks(t)
	s, err := NewSession(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// fakeClock is a settable clock for SessionOptions.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// manualTicker fires when the test calls Tick.
type manualTicker struct {
	c      chan time.Time
	period time.Duration
}

func newManualTicker() *manualTicker { return &manualTicker{c: make(chan time.Time, 1)} }

func (m *manualTicker) C() <-chan time.Time   { return m.c }
func (m *manualTicker) Reset(d time.Duration) { m.period = d }
func (m *manualTicker) Stop()                 {}
func (m *manualTicker) Tick()                 { m.c <- time.Time{} }

// factory returns a TickerFunc handing out m, remembering the period.
func (m *manualTicker) factory() TickerFunc {
	return func(d time.Duration) Ticker { m.period = d; return m }
}

// instantTicker is always due: pacing without waiting.
type instantTicker struct{ c chan time.Time }

func newInstantTicker(time.Duration) Ticker {
	c := make(chan time.Time)
	close(c)
	return instantTicker{c}
}

func (i instantTicker) C() <-chan time.Time { return i.c }
func (instantTicker) Reset(time.Duration)   {}
func (instantTicker) Stop()                 {}

// readTick makes s's manual playout ticker fire and reads the frame.
// readPlayout ticks the playout clock once and names the frame played:
// its packet index (frameIndex), or "s"/"c" for silence and concealment,
// told apart by the session's counters.
func readPlayout(t *testing.T, s *Session, tk *manualTicker) string {
	t.Helper()
	before := s.Stats()
	f := readTick(t, s, tk)
	after := s.Stats()
	kind := playoutDecoded
	switch {
	case after.FramesSilent > before.FramesSilent:
		kind = playoutSilence
	case after.FramesConcealed > before.FramesConcealed:
		kind = playoutConcealed
	}
	return frameIndex(f, kind)
}

func readTick(t *testing.T, s *Session, tk *manualTicker) []int16 {
	t.Helper()
	tk.Tick()
	ctx, cancel := context.WithTimeout(context.Background(), hardTimeout)
	defer cancel()
	f, err := s.ReadFrame(ctx)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

// rawPeer is a plain UDP socket standing in for a remote RTP endpoint.
func rawPeer(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readPacket(t *testing.T, c *net.UDPConn) *rtp.Packet {
	t.Helper()
	buf := make([]byte, 1500)
	if err := c.SetReadDeadline(time.Now().Add(hardTimeout)); err != nil {
		t.Fatal(err)
	}
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read rtp: %v", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return &p
}

func sendPacket(t *testing.T, c *net.UDPConn, to netip.AddrPort, pt uint8, seq uint16, payload []byte) {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, SSRC: 7}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// TestLoopbackTone sends a 1 kHz tone both ways between two Sessions in
// step with a fake clock and manual playout ticks, and finds it, sample
// exact after the playout delay, in what each side plays.
func TestLoopbackTone(t *testing.T) {
	for _, codec := range []string{"PCMU", "PCMA"} {
		t.Run(codec, func(t *testing.T) {
			clock := newFakeClock()
			aRTP, aRTCP := pair(t)
			bRTP, bRTCP := pair(t)
			aTick, bTick := newManualTicker(), newManualTicker()
			a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: g711(codec, addrOf(bRTP), SendRecv),
				Now: clock.Now, PlayoutTicker: aTick.factory()})
			b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: g711(codec, addrOf(aRTP), SendRecv),
				Now: clock.Now, PlayoutTicker: bTick.factory()})
			if aTick.period != 20*time.Millisecond {
				t.Errorf("playout period %v, want the 20 ms ptime", aTick.period)
			}
			checkToneExchange(t, clock, a, b, aTick, bTick)
			sa, sb := a.Stats(), b.Stats()
			if sa.LastSent.IsZero() || sb.LastReceived.IsZero() {
				t.Errorf("last packet times not set: a %+v b %+v", sa, sb)
			}
		})
	}
}

// checkToneExchange sends 1 s of a 1 kHz tone each way, one frame per
// 20 ms of the fake clock, reading a frame after each, and checks what
// each side played: silence for the playout delay (at most three frames),
// then the tone sample for sample as G.711 codes it.
func checkToneExchange(t *testing.T, clock *fakeClock, a, b *Session, aTick, bTick *manualTicker) {
	t.Helper()
	const frames, frameLen = 50, 160
	signal := tone(frames*frameLen, 8000, 1000, 0.5)
	for _, dir := range []struct {
		name     string
		from, to *Session
		tick     *manualTicker
	}{{"a to b", a, b, bTick}, {"b to a", b, a, aTick}} {
		before := dir.to.Stats()
		var got []int16
		for i := range frames + 5 {
			if i < frames {
				if err := dir.from.WriteFrame(signal[i*frameLen : (i+1)*frameLen]); err != nil {
					t.Fatal(err)
				}
				want := before.PacketsReceived + uint64(i) + 1
				if !testbed.WaitFor(hardTimeout, func() bool { return dir.to.Stats().PacketsReceived >= want }) {
					t.Fatalf("%s: packet %d not received", dir.name, i)
				}
			}
			got = append(got, readTick(t, dir.to, dir.tick)...)
			clock.Add(20 * time.Millisecond)
		}
		lead := 0
		for lead < len(got) && got[lead] == 0 {
			lead++
		}
		lead -= lead % frameLen
		if lead > 3*frameLen {
			t.Errorf("%s: %d ms of silence before the tone, want at most 60 ms", dir.name, lead/8)
		}
		if len(got) < lead+len(signal) {
			t.Fatalf("%s: got %d samples, want %d after %d of silence", dir.name, len(got), len(signal), lead)
		}
		got = got[lead : lead+len(signal)]
		if lvl := ToneLevel(got, 8000, 1000); lvl < 0.45 || lvl > 0.55 {
			t.Errorf("%s: 1 kHz level %.3f, want about 0.5", dir.name, lvl)
		}
		if lvl := ToneLevel(got, 8000, 2000); lvl > 0.02 {
			t.Errorf("%s: 2 kHz level %.3f, want about 0", dir.name, lvl)
		}
		var noise float64
		for i, s := range got {
			d := float64(s) - float64(signal[i])
			noise += d * d
		}
		if snr := 10 * math.Log10(ToneLevel(signal, 8000, 1000)*ToneLevel(signal, 8000, 1000)/2/(noise/float64(len(got))/32768/32768)); snr < 30 {
			t.Errorf("%s: snr %.1f dB, want > 30 dB (G.711 gives about 38)", dir.name, snr)
		}
		st := dir.to.Stats()
		if st.FramesDecoded-before.FramesDecoded != frames || st.PacketsLost != 0 || st.PacketsLate != 0 {
			t.Errorf("%s: decoded %d lost %d late %d, want %d 0 0", dir.name,
				st.FramesDecoded-before.FramesDecoded, st.PacketsLost, st.PacketsLate, frames)
		}
		if st.Jitter != 0 {
			t.Errorf("%s: jitter %v with a fake clock in step, want 0", dir.name, st.Jitter)
		}
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.PacketsSent != frames || sa.BytesSent != frames*frameLen || sb.PacketsReceived != frames || sb.BytesReceived != frames*frameLen {
		t.Errorf("stats a %+v b %+v", sa, sb)
	}
}

// TestPacketisation checks RTP headers against RFC 3550/3551 rules.
func TestPacketisation(t *testing.T) {
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	s := startSession(t, sRTP, sRTCP, g711("PCMA", addrOf(peer), SendRecv))
	frame := tone(160, 8000, 1000, 0.3)

	write := func() *rtp.Packet {
		t.Helper()
		if err := s.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
		return readPacket(t, peer)
	}
	p1, p2 := write(), write()
	if err := s.WriteSilence(320); err != nil {
		t.Fatal(err)
	}
	p3 := write()
	tests := []struct {
		name    string
		p       *rtp.Packet
		marker  bool
		seq, ts uint32 // offsets from p1
	}{
		{"first packet", p1, true, 0, 0},
		{"second packet", p2, false, 1, 160},
		{"after silence", p3, true, 2, 640},
	}
	for _, tt := range tests {
		if tt.p.Version != 2 || tt.p.PayloadType != ptPCMA || tt.p.SSRC != p1.SSRC || len(tt.p.Payload) != 160 {
			t.Errorf("%s: header %v", tt.name, tt.p.Header)
		}
		if tt.p.Marker != tt.marker {
			t.Errorf("%s: marker %v, want %v", tt.name, tt.p.Marker, tt.marker)
		}
		if uint32(tt.p.SequenceNumber-p1.SequenceNumber) != tt.seq || tt.p.Timestamp-p1.Timestamp != tt.ts {
			t.Errorf("%s: seq +%d ts +%d, want +%d +%d", tt.name, tt.p.SequenceNumber-p1.SequenceNumber, tt.p.Timestamp-p1.Timestamp, tt.seq, tt.ts)
		}
	}
	if got := alawCoder.Decode(nil, p1.Payload); ToneLevel(got, 8000, 1000) < 0.25 {
		t.Errorf("payload does not carry the tone")
	}
}

// TestSymmetricRTP: RFC 4961, we answer to where the codec's packets come
// from, not to the SDP address; other payload types do not move the latch.
func TestSymmetricRTP(t *testing.T) {
	sdpAddr := rawPeer(t) // the address the SDP named; nothing reads it
	natted := rawPeer(t)  // where the peer's packets really come from
	sRTP, sRTCP := pair(t)
	s := startSession(t, sRTP, sRTCP, g711("PCMU", addrOf(sdpAddr), SendRecv))

	sendPacket(t, natted, addrOf(sRTP), 18, 1, make([]byte, 20)) // G.729: not ours
	if !testbed.WaitFor(hardTimeout, func() bool { return s.Stats().PacketsIgnored == 1 }) {
		t.Fatal("foreign payload type was not counted as ignored")
	}
	if s.Destination() != addrOf(sdpAddr) {
		t.Fatalf("latched on a foreign payload type: %v", s.Destination())
	}
	sendPacket(t, natted, addrOf(sRTP), ptPCMU, 2, make([]byte, 160))
	if !testbed.WaitFor(hardTimeout, func() bool { return s.Stats().PacketsReceived == 1 }) {
		t.Fatal("packet of the codec not received")
	}
	if s.Destination() != addrOf(natted) {
		t.Fatalf("destination %v, want the source %v", s.Destination(), addrOf(natted))
	}
	if err := s.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	if p := readPacket(t, natted); p.PayloadType != ptPCMU {
		t.Errorf("reply pt %d", p.PayloadType)
	}

	// A re-INVITE resets the latch and marks the next packet.
	other := rawPeer(t)
	if err := s.Update(g711("PCMA", addrOf(other), SendRecv)); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	if p := readPacket(t, other); p.PayloadType != ptPCMA || !p.Marker {
		t.Errorf("after update: pt %d marker %v, want %d true", p.PayloadType, p.Marker, ptPCMA)
	}
}

// TestDirections: recvonly and inactive send nothing; sendonly and inactive
// play nothing though packets arrive.
func TestDirections(t *testing.T) {
	tests := []struct {
		dir        Direction
		wantSent   uint64
		wantFrames bool
	}{
		{SendRecv, 1, true},
		{SendOnly, 1, false},
		{RecvOnly, 0, true},
		{Inactive, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.dir.String(), func(t *testing.T) {
			clock := newFakeClock()
			tick := newManualTicker()
			peer := rawPeer(t)
			sRTP, sRTCP := pair(t)
			s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: g711("PCMU", addrOf(peer), tt.dir),
				Now: clock.Now, PlayoutTicker: tick.factory()})
			if err := s.WriteFrame(make([]int16, 160)); err != nil {
				t.Fatal(err)
			}
			if got := s.Stats().PacketsSent; got != tt.wantSent {
				t.Errorf("packets sent %d, want %d", got, tt.wantSent)
			}
			sendPacket(t, peer, addrOf(sRTP), ptPCMU, 1, markerPayload(2))
			if !testbed.WaitFor(hardTimeout, func() bool { return s.Stats().PacketsReceived == 1 }) {
				t.Fatal("packet not received")
			}
			clock.Add(time.Second)
			f := readTick(t, s, tick)
			played := frameIndex(f, playoutDecoded) == "2"
			if played != tt.wantFrames {
				t.Errorf("packet played = %v, want %v", played, tt.wantFrames)
			}
			if st := s.Stats(); (st.FramesDecoded == 1) != tt.wantFrames || (st.FramesSilent == 1) == tt.wantFrames {
				t.Errorf("decoded %d silent %d", st.FramesDecoded, st.FramesSilent)
			}
		})
	}
}

func TestHoldAddressSendsNothing(t *testing.T) {
	sRTP, sRTCP := pair(t)
	n := g711("PCMU", netip.AddrPort{}, SendRecv)
	s := startSession(t, sRTP, sRTCP, n)
	if err := s.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	if got := s.Stats().PacketsSent; got != 0 {
		t.Errorf("sent %d packets without an address", got)
	}
}

func TestRTCPCounted(t *testing.T) {
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	s := startSession(t, sRTP, sRTCP, g711("PCMU", addrOf(peer), SendRecv))
	rr, err := (&rtcp.ReceiverReport{SSRC: 9}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteToUDPAddrPort([]byte("not rtcp"), addrOf(sRTCP)); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteToUDPAddrPort(rr, addrOf(sRTCP)); err != nil {
		t.Fatal(err)
	}
	if !testbed.WaitFor(hardTimeout, func() bool { return s.Stats().RTCPReceived == 1 }) {
		t.Fatalf("rtcp received = %d, want 1", s.Stats().RTCPReceived)
	}
}

func TestSessionLifecycle(t *testing.T) {
	tests := []struct {
		name  string
		start bool
	}{{"started", true}, {"never started", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testbed.CheckLeaks(t)
			sRTP, sRTCP := pair(t)
			s, err := NewSession(SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: g711("PCMU", addrOf(sRTP), SendRecv)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.start {
				if err := s.Start(); err != nil {
					t.Fatal(err)
				}
				if err := s.Start(); !errors.Is(err, ErrSessionStarted) {
					t.Errorf("second start: %v", err)
				}
			}
			// ReadFrame blocked in another goroutine is released by Close.
			done := make(chan error, 1)
			go func() { _, err := s.ReadFrame(context.Background()); done <- err }()
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if err := <-done; !errors.Is(err, ErrSessionClosed) {
				t.Errorf("blocked read: %v, want ErrSessionClosed", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second close: %v", err)
			}
			checks := map[string]error{
				"write":   s.WriteFrame(make([]int16, 160)),
				"silence": s.WriteSilence(160),
				"start":   s.Start(),
				"update":  s.Update(g711("PCMA", addrOf(sRTP), SendRecv)),
			}
			for name, err := range checks {
				if !errors.Is(err, ErrSessionClosed) {
					t.Errorf("%s after close: %v, want ErrSessionClosed", name, err)
				}
			}
			if _, err := sRTP.WriteToUDPAddrPort([]byte{0}, addrOf(sRTCP)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("rtp socket still open after close: %v", err)
			}
		})
	}
}

func TestNewSessionErrors(t *testing.T) {
	sRTP, sRTCP := pair(t)
	defer sRTP.Close()
	defer sRTCP.Close()
	g729 := Negotiated{Codec: Codec{Name: "G729", PayloadType: 18, ClockRate: 8000, SampleRate: 8000, Channels: 1}}
	badKey := g711("PCMU", addrOf(sRTP), SendRecv)
	badKey.SRTP = &SRTPKeys{Suite: AESCM128HMACSHA180, Tag: 1, LocalKey: make([]byte, 30), RemoteKey: make([]byte, 12)}
	tests := []struct {
		name    string
		o       SessionOptions
		wantErr error
	}{
		{"codec not coded", SessionOptions{RTP: sRTP, Negotiated: g729}, ErrCodecUnsupported},
		{"bad srtp key", SessionOptions{RTP: sRTP, Negotiated: badKey}, ErrSRTP},
		{"no socket", SessionOptions{Negotiated: g711("PCMU", addrOf(sRTP), SendRecv)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSession(tt.o)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	sink, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	rtpConn, rtcpConn, err := PortRange{}.Listen(loopback)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSession(SessionOptions{RTP: rtpConn, RTCP: rtcpConn, Negotiated: g711("PCMU", addrOf(sink), SendRecv)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	frame := tone(160, 8000, 1000, 0.5)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSessionReorders: packets that arrive out of order are played in
// order, a duplicate once, and a missing one is concealed.
func TestSessionReorders(t *testing.T) {
	clock := newFakeClock()
	tick := newManualTicker()
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: g711("PCMU", addrOf(peer), SendRecv),
		Now: clock.Now, PlayoutTicker: tick.factory()})
	send := func(idx int) {
		t.Helper()
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptPCMU, SequenceNumber: uint16(100 + idx),
			Timestamp: uint32(8000 + 160*idx), SSRC: 3}, Payload: markerPayload(idx)}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(b, addrOf(sRTP)); err != nil {
			t.Fatal(err)
		}
	}
	t0 := clock.Now()
	arrivals := []arrival{{0, 0}, {2, 30}, {1, 35}, {1, 36}, {4, 80}, {5, 100}}
	var got []string
	next := 0
	for p := range 7 {
		for next < len(arrivals) && arrivals[next].ms <= p*20 {
			clock.Set(t0.Add(time.Duration(arrivals[next].ms) * time.Millisecond))
			send(arrivals[next].idx)
			next++
			if !waitStats(s, func(st Stats) bool { return st.PacketsReceived == uint64(next) }) {
				t.Fatalf("packet %d not received", next)
			}
		}
		clock.Set(t0.Add(time.Duration(p*20) * time.Millisecond))
		got = append(got, readPlayout(t, s, tick))
	}
	if want := []string{"s", "0", "1", "2", "c", "4", "5"}; !slices.Equal(got, want) {
		t.Errorf("played %v, want %v", got, want)
	}
	st := s.Stats()
	if st.PacketsDuplicate != 1 || st.FramesConcealed != 1 || st.FramesDecoded != 5 || st.PacketsLost != 0 {
		t.Errorf("duplicate %d concealed %d decoded %d lost %d, want 1 1 5 0 (a duplicate offsets the loss, RFC 3550 §6.4.1)",
			st.PacketsDuplicate, st.FramesConcealed, st.FramesDecoded, st.PacketsLost)
	}
}

// TestIdle: the RTP timeout clock runs from Start, and from each packet.
func TestIdle(t *testing.T) {
	testbed.CheckLeaks(t)
	clock := newFakeClock()
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	s, err := NewSession(SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: g711("PCMU", addrOf(peer), SendRecv), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Idle(clock.Now().Add(time.Hour)); got != 0 {
		t.Errorf("idle before start %v, want 0", got)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	if got := s.Idle(start.Add(3 * time.Second)); got != 3*time.Second {
		t.Errorf("idle without packets %v, want 3s", got)
	}
	arrived := clock.Add(5 * time.Second)
	sendPacket(t, peer, addrOf(sRTP), ptPCMU, 1, make([]byte, 160))
	if !waitStats(s, func(st Stats) bool { return st.PacketsReceived == 1 }) {
		t.Fatal("packet not received")
	}
	if got := s.Idle(arrived.Add(1500 * time.Millisecond)); got != 1500*time.Millisecond {
		t.Errorf("idle after a packet %v, want 1.5s", got)
	}
	if st := s.Stats(); !st.LastReceived.Equal(arrived) {
		t.Errorf("last received %v, want %v", st.LastReceived, arrived)
	}
}

// TestLoopbackWideband runs G.722 (16 kHz PCM on an 8 kHz RTP clock) and
// Opus (48 kHz) through the jitter buffer: the frame size follows the PCM
// rate and the tone comes through.
func TestLoopbackWideband(t *testing.T) {
	for _, c := range []Codec{
		{Name: "G722", PayloadType: ptG722, ClockRate: 8000, SampleRate: 16000, Channels: 1},
		{Name: "opus", PayloadType: ptOpus, ClockRate: 48000, SampleRate: 48000, Channels: 1},
	} {
		t.Run(c.Name, func(t *testing.T) {
			clock := newFakeClock()
			aRTP, aRTCP := pair(t)
			bRTP, bRTCP := pair(t)
			na := g711("PCMU", addrOf(bRTP), SendRecv)
			na.Codec, na.RecvPayloadType = c, c.PayloadType
			nb := na
			nb.Remote = addrOf(aRTP)
			tick := newManualTicker()
			a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: na, Now: clock.Now})
			b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: nb, Now: clock.Now, PlayoutTicker: tick.factory()})
			const frames = 60
			n := c.SampleRate / 50
			signal := tone(frames*n, float64(c.SampleRate), 1000, 0.5)
			var got []int16
			for i := range frames {
				if err := a.WriteFrame(signal[i*n : (i+1)*n]); err != nil {
					t.Fatal(err)
				}
				if !waitStats(b, func(st Stats) bool { return st.PacketsReceived == uint64(i+1) }) {
					t.Fatalf("packet %d not received", i)
				}
				f := readTick(t, b, tick)
				if len(f) != n {
					t.Fatalf("frame of %d samples, want %d", len(f), n)
				}
				got = append(got, f...)
				clock.Add(20 * time.Millisecond)
			}
			if lvl := ToneLevel(got[10*n:], float64(c.SampleRate), 1000); lvl < 0.4 || lvl > 0.6 {
				t.Errorf("1 kHz level %.3f, want about 0.5", lvl)
			}
			if st := b.Stats(); st.FramesConcealed != 0 || st.FramesDecoded+st.FramesSilent != frames {
				t.Errorf("decoded %d silent %d concealed %d", st.FramesDecoded, st.FramesSilent, st.FramesConcealed)
			}
		})
	}
}
