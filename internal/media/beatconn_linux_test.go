//go:build linux

package media

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// beatPair is a socket taken onto the beat and a plain peer socket.
func beatPair(t *testing.T) (*beatConn, *net.UDPConn, *net.UDPConn) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, ok := onBeat(c).(*beatConn)
	if !ok {
		t.Fatal("socket not taken onto the beat")
	}
	t.Cleanup(func() { _ = b.Close() })
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	return b, c, peer
}

// TestBeatConn: a socket on the beat reads what waits without blocking
// (nothing, then the datagram sent, with where it came from and how long
// ago the kernel took it), sends back to the peer, keeps the port of the
// socket it came from (which is closed) until its own Close, and then
// reads and writes net.ErrClosed.
func TestBeatConn(t *testing.T) {
	b, orig, peer := beatPair(t)
	buf, oob := make([]byte, maxPacket), make([]byte, beatOOB)
	if _, _, _, ok, err := b.readWaiting(buf, oob); ok || err != nil {
		t.Fatalf("empty socket: ok %v, err %v", ok, err)
	}
	if _, _, err := orig.ReadFromUDPAddrPort(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the socket taken onto the beat still reads: %v", err)
	}
	if !b.stamp {
		t.Error("the kernel does not stamp arrivals (SO_TIMESTAMPNS)")
	}
	msg := []byte("rtp on the beat")
	sent := time.Now()
	if _, err := peer.WriteToUDPAddrPort(msg, b.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	var (
		n    int
		from netip.AddrPort
		at   time.Time
	)
	if !testbed.WaitFor(hardTimeout, func() bool {
		var ok bool
		var err error
		n, from, at, ok, err = b.readWaiting(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}) {
		t.Fatal("datagram never read")
	}
	read := time.Now()
	if !bytes.Equal(buf[:n], msg) || from != peer.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("read %q from %s", buf[:n], from)
	}
	if at.Before(sent.Add(-time.Millisecond)) || at.After(read.Add(time.Millisecond)) {
		t.Errorf("arrival %v after the send, read %v after it", at.Sub(sent), read.Sub(sent))
	}
	if _, err := b.WriteToUDPAddrPort([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	if err := peer.SetReadDeadline(time.Now().Add(hardTimeout)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := peer.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "back" {
		t.Fatalf("peer read %q, %v", buf[:n], err)
	}
	port := b.LocalAddr().(*net.UDPAddr).AddrPort()
	if c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(port)); err == nil {
		c.Close()
		t.Fatalf("port %d free while the socket is on the beat", port.Port())
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(port)); err != nil {
		t.Errorf("port %d still taken after Close: %v", port.Port(), err)
	} else {
		c.Close()
	}
	if _, _, _, _, err := b.readWaiting(buf, oob); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if _, err := b.WriteToUDPAddrPort(msg, from); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if err := b.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second close: %v", err)
	}
}

// TestBeatConnBlockingRead: PacketConn's blocking read waits for a
// datagram, and returns net.ErrClosed once the socket is closed.
func TestBeatConnBlockingRead(t *testing.T) {
	b, _, peer := beatPair(t)
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, 64)
		n, _, err := b.ReadFromUDPAddrPort(buf)
		if err == nil && string(buf[:n]) != "x" {
			err = errors.New("read " + string(buf[:n]))
		}
		got <- err
		_, _, err = b.ReadFromUDPAddrPort(buf)
		got <- err
	}()
	if _, err := peer.WriteToUDPAddrPort([]byte("x"), b.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read across close: %v", err)
	}
}

// TestSessionOnBeat: a session's plain RTP socket is read on the beat:
// packets that wait while nothing ticks count at their arrival (the
// kernel's time, not the read's), the idle reads take them without a
// tick, a tick plays them, and a telephone event read by a question
// (Stats) is told by the next read of the clock or the idle reads, on
// their goroutine.
func TestSessionOnBeat(t *testing.T) {
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	var dtmf atomic.Int32
	tk := newManualTicker()
	b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: dtmfNegotiated(addrOf(aRTP)), PlayoutTicker: tk.factory(),
		OnDTMF: func(rune) { dtmf.Add(1) }})
	if b.beat == nil {
		t.Fatal("plain RTP socket not read on the beat")
	}
	a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: dtmfNegotiated(addrOf(bRTP)), DTMFTicker: newInstantTicker})
	frame := tone(160, 8000, 1000, 0.5)
	sent := time.Now()
	for range 3 {
		if err := a.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	// The idle reads (nothing ticks yet) take them within beatIdle.
	if !testbed.WaitFor(hardTimeout, func() bool {
		b.mu.Lock() // not Stats, which would read the socket itself
		defer b.mu.Unlock()
		return b.stats.PacketsReceived == 3
	}) {
		t.Fatalf("idle reads: %+v", b.Stats())
	}
	if last := b.Stats().LastReceived; last.Sub(sent) > 50*time.Millisecond || last.Before(sent) {
		t.Errorf("last packet counted at %v after the send: the read's time, not the arrival's", last.Sub(sent))
	}
	// A tick reads and plays: the frames the jitter buffer holds go.
	for range 4 {
		readTick(t, b, tk)
	}
	if st := b.Stats(); st.FramesDecoded == 0 {
		t.Errorf("4 ticks decoded none of the 3 frames received: %+v", st)
	}
	// A telephone event read by Stats is told by a later read.
	if err := a.SendDTMF(t.Context(), "5"); err != nil {
		t.Fatal(err)
	}
	if !waitStats(b, func(st Stats) bool { return st.DTMFReceived == 1 }) {
		t.Fatalf("digit not received: %+v", b.Stats())
	}
	readTick(t, b, tk)
	if !testbed.WaitFor(hardTimeout, func() bool { return dtmf.Load() == 1 }) {
		t.Errorf("OnDTMF called %d times, want 1", dtmf.Load())
	}
}
