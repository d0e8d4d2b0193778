package testbed

import (
	"net"
	"testing"
)

// TestPortBound: portBound sees a UDP socket and a TCP listener through
// the kernel's tables, IPv4 and IPv6, and stops seeing them once closed;
// FreePort's ports are free and never handed out twice.
func TestPortBound(t *testing.T) {
	for _, c := range []struct{ network, addr string }{{"udp", "127.0.0.1:0"}, {"udp6", "[::1]:0"}, {"tcp", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		var port int
		var closer func() error
		if c.network[:3] == "udp" {
			pc, err := net.ListenPacket(c.network, c.addr)
			if err != nil {
				t.Logf("%s: %v (no such sockets here)", c.network, err)
				continue
			}
			port, closer = pc.LocalAddr().(*net.UDPAddr).Port, pc.Close
		} else {
			l, err := net.Listen(c.network, c.addr)
			if err != nil {
				t.Logf("%s: %v (no such sockets here)", c.network, err)
				continue
			}
			port, closer = l.Addr().(*net.TCPAddr).Port, l.Close
		}
		if !portBound(c.network[:3], port) {
			t.Errorf("%s port %d bound but not seen", c.network, port)
		}
		closer()
		if portBound(c.network[:3], port) {
			t.Errorf("%s port %d closed but still seen", c.network, port)
		}
	}
	seen := map[int]bool{}
	lo, hi := runRange()
	for i := 0; i < 50; i++ {
		p := FreePort(t, 1)
		if seen[p] || p < lo || p >= hi || portBound("udp", p) || portBound("tcp", p) {
			t.Fatalf("FreePort gave %d (seen before %v, range %d–%d)", p, seen[p], lo, hi)
		}
		seen[p] = true
	}
}
