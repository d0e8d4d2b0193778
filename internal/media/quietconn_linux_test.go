//go:build linux

package media

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
)

// TestQuietConn: datagrams both ways between quiet sockets, IPv4, IPv6,
// and an IPv4 peer of a dual-stack socket (its address comes back
// IPv4-mapped, as from the net package); a closed socket reads
// net.ErrClosed; a long datagram is truncated to the buffer.
func TestQuietConn(t *testing.T) {
	for _, c := range []struct{ name, a, b string }{
		{"ipv4", "127.0.0.1", "127.0.0.1"},
		{"ipv6", "::1", "::1"},
		{"dual-stack to ipv4", "::", "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := listenQuiet(t, c.a)
			b := listenQuiet(t, c.b)
			bAddr := b.(*quietConn).LocalAddr().(*net.UDPAddr).AddrPort()
			if c.a == "::" {
				// b is IPv4: a sends to it as an IPv4 address.
				bAddr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), bAddr.Port())
			}
			msg := []byte("rtp")
			if n, err := a.WriteToUDPAddrPort(msg, bAddr); err != nil || n != len(msg) {
				t.Fatalf("write: %d, %v", n, err)
			}
			buf := make([]byte, 64)
			n, from, err := b.ReadFromUDPAddrPort(buf)
			if err != nil || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("read: %q, %v", buf[:n], err)
			}
			aPort := a.(*quietConn).LocalAddr().(*net.UDPAddr).Port
			if int(from.Port()) != aPort {
				t.Errorf("from %s, want port %d", from, aPort)
			}
			// The reply goes back to where it came from.
			if _, err := b.WriteToUDPAddrPort([]byte("reply that is long"), from); err != nil {
				t.Fatalf("reply: %v", err)
			}
			small := make([]byte, 5)
			n, back, err := a.ReadFromUDPAddrPort(small)
			if err != nil || n != len(small) || string(small) != "reply" {
				t.Fatalf("read reply: %d %q, %v", n, small[:n], err)
			}
			if back.Addr().Unmap() != from.Addr().Unmap() && !back.Addr().Unmap().IsLoopback() {
				t.Errorf("reply from %s", back)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.ReadFromUDPAddrPort(buf); !errors.Is(err, net.ErrClosed) {
				t.Errorf("read after close: %v, want net.ErrClosed", err)
			}
		})
	}
}

func listenQuiet(t *testing.T, ip string) PacketConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	q := quiet(c)
	if _, ok := q.(*quietConn); !ok {
		t.Fatalf("socket on %s not made quiet", ip)
	}
	return q
}
