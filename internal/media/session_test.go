package media

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
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
	s, err := NewSession(SessionOptions{RTP: rtpConn, RTCP: rtcpConn, Negotiated: n})
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

// TestLoopbackTone sends a 1 kHz tone both ways between two Sessions and
// finds it in what each side decodes.
func TestLoopbackTone(t *testing.T) {
	for _, codec := range []string{"PCMU", "PCMA"} {
		t.Run(codec, func(t *testing.T) {
			aRTP, aRTCP := pair(t)
			bRTP, bRTCP := pair(t)
			a := startSession(t, aRTP, aRTCP, g711(codec, addrOf(bRTP), SendRecv))
			b := startSession(t, bRTP, bRTCP, g711(codec, addrOf(aRTP), SendRecv))

			const frames, frameLen = 50, 160 // 1 s of 20 ms frames
			signal := tone(frames*frameLen, 8000, 1000, 0.5)
			ctx, cancel := context.WithTimeout(context.Background(), hardTimeout)
			defer cancel()
			for _, dir := range []struct {
				name     string
				from, to *Session
			}{{"a to b", a, b}, {"b to a", b, a}} {
				var got []int16
				for i := range frames {
					if err := dir.from.WriteFrame(signal[i*frameLen : (i+1)*frameLen]); err != nil {
						t.Fatal(err)
					}
					f, err := dir.to.ReadFrame(ctx)
					if err != nil {
						t.Fatalf("%s: frame %d: %v", dir.name, i, err)
					}
					got = append(got, f...)
				}
				if len(got) != len(signal) {
					t.Fatalf("%s: got %d samples, want %d", dir.name, len(got), len(signal))
				}
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
			}
			sa, sb := a.Stats(), b.Stats()
			if sa.PacketsSent != frames || sa.BytesSent != frames*frameLen || sb.PacketsReceived != frames || sb.BytesReceived != frames*frameLen {
				t.Errorf("stats a %+v b %+v", sa, sb)
			}
			if sa.LastSent.IsZero() || sb.LastReceived.IsZero() {
				t.Errorf("last packet times not set: a %+v b %+v", sa, sb)
			}
		})
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
	if got := (alawCoder{}).Decode(nil, p1.Payload); ToneLevel(got, 8000, 1000) < 0.25 {
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
	ctx, cancel := context.WithTimeout(context.Background(), hardTimeout)
	defer cancel()
	if _, err := s.ReadFrame(ctx); err != nil {
		t.Fatal(err)
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
// deliver nothing though packets arrive.
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
			peer := rawPeer(t)
			sRTP, sRTCP := pair(t)
			s := startSession(t, sRTP, sRTCP, g711("PCMU", addrOf(peer), tt.dir))
			if err := s.WriteFrame(make([]int16, 160)); err != nil {
				t.Fatal(err)
			}
			if got := s.Stats().PacketsSent; got != tt.wantSent {
				t.Errorf("packets sent %d, want %d", got, tt.wantSent)
			}
			sendPacket(t, peer, addrOf(sRTP), ptPCMU, 1, make([]byte, 160))
			if !testbed.WaitFor(hardTimeout, func() bool { return s.Stats().PacketsReceived == 1 }) {
				t.Fatal("packet not received")
			}
			// The frame, if any, is queued before the counter moves.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := s.ReadFrame(ctx)
			if gotFrame := err == nil; gotFrame != tt.wantFrames {
				t.Errorf("frame delivered = %v (err %v), want %v", gotFrame, err, tt.wantFrames)
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
	opus := Negotiated{Codec: Codec{Name: "opus", PayloadType: 111, ClockRate: 48000, SampleRate: 48000, Channels: 1}}
	g722 := Negotiated{Codec: Codec{Name: "G722", PayloadType: 9, ClockRate: 8000, SampleRate: 16000, Channels: 1}}
	tests := []struct {
		name    string
		o       SessionOptions
		wantErr error
	}{
		{"opus not coded yet", SessionOptions{RTP: sRTP, Negotiated: opus}, ErrCodecUnsupported},
		{"g722 not coded yet", SessionOptions{RTP: sRTP, Negotiated: g722}, ErrCodecUnsupported},
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
