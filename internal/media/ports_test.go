package media

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func portOf(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// freePair finds an even/odd pair the kernel has free now, and frees it.
func freePair(t *testing.T) int {
	t.Helper()
	rtp, rtcp, err := PortRange{}.Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	p := portOf(rtp)
	rtp.Close()
	rtcp.Close()
	return p
}

func TestListenEphemeral(t *testing.T) {
	for range 5 {
		rtp, rtcp, err := PortRange{}.Listen(loopback)
		if err != nil {
			t.Fatal(err)
		}
		if p := portOf(rtp); p%2 != 0 || portOf(rtcp) != p+1 {
			t.Errorf("ports %d/%d, want even and even+1", p, portOf(rtcp))
		}
		rtp.Close()
		rtcp.Close()
	}
}

func TestListenRange(t *testing.T) {
	p := freePair(t)
	tests := []struct {
		name    string
		r       PortRange
		ip      netip.Addr
		want    int
		wantErr error
	}{
		{"exact pair", PortRange{Min: p, Max: p + 1}, loopback, p, nil},
		{"odd minimum rounds up", PortRange{Min: p - 1, Max: p + 1}, loopback, p, nil},
		{"single port", PortRange{Min: p, Max: p}, loopback, 0, ErrInvalidPortRange},
		{"reversed", PortRange{Min: p + 10, Max: p}, loopback, 0, ErrInvalidPortRange},
		{"only max", PortRange{Min: 0, Max: p}, loopback, 0, ErrInvalidPortRange},
		{"beyond 65535", PortRange{Min: p, Max: 70000}, loopback, 0, ErrInvalidPortRange},
		{"invalid address", PortRange{Min: p, Max: p + 1}, netip.Addr{}, 0, ErrInvalidPortRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rtp, rtcp, err := tt.r.Listen(tt.ip)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer rtp.Close()
			defer rtcp.Close()
			if portOf(rtp) != tt.want || portOf(rtcp) != tt.want+1 {
				t.Errorf("ports %d/%d, want %d/%d", portOf(rtp), portOf(rtcp), tt.want, tt.want+1)
			}
		})
	}
}

func TestListenRangeExhausted(t *testing.T) {
	p := freePair(t)
	r := PortRange{Min: p, Max: p + 1}
	rtp, rtcp, err := r.Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer rtp.Close()
	defer rtcp.Close()
	if a, b, err := r.Listen(loopback); !errors.Is(err, ErrNoFreePort) {
		if err == nil {
			a.Close()
			b.Close()
		}
		t.Fatalf("second listen: err = %v, want ErrNoFreePort", err)
	}
	// A busy RTCP port makes the pair unusable too.
	rtcp.Close()
	rtcpOnly, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(p+1))))
	if err != nil {
		t.Fatal(err)
	}
	defer rtcpOnly.Close()
	rtp.Close()
	if a, b, err := r.Listen(loopback); !errors.Is(err, ErrNoFreePort) {
		if err == nil {
			a.Close()
			b.Close()
		}
		t.Fatalf("listen with rtcp port busy: err = %v, want ErrNoFreePort", err)
	}
}

// TestListenMarksDSCP: audio_qos marks the RTP and RTCP sockets.
func TestListenMarksDSCP(t *testing.T) {
	for _, dscp := range []int{0, 46} {
		rtp, rtcp, err := PortRange{DSCP: dscp}.Listen(loopback)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*net.UDPConn{rtp, rtcp} {
			raw, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var tos int
			var gerr error
			if err := raw.Control(func(fd uintptr) { tos, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS) }); err != nil || gerr != nil {
				t.Fatal(err, gerr)
			}
			if tos != dscp<<2 {
				t.Errorf("dscp %d: port %d IP_TOS = %d, want %d", dscp, portOf(c), tos, dscp<<2)
			}
		}
		rtp.Close()
		rtcp.Close()
	}
	if _, _, err := (PortRange{DSCP: 64}).Listen(loopback); !errors.Is(err, ErrInvalidPortRange) {
		t.Errorf("dscp 64: err = %v, want ErrInvalidPortRange", err)
	}
}
