package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
)

// PortRange is the UDP port range RTP and RTCP sockets are bound in.
// Min and Max both 0 means any ephemeral pair.
type PortRange struct {
	Min, Max int
	// DSCP marks both sockets (IP_TOS or IPV6_TCLASS = DSCP<<2, RFC 2474
	// §3); 0 leaves them unmarked.
	DSCP int
}

// ephemeralTries bounds the attempts to find an even/odd pair among the
// kernel's ephemeral ports.
const ephemeralTries = 64

// Listen binds an RTP socket on an even port and its RTCP socket on the
// next (odd) port (RFC 3550 §11), on ip. Within a range the search starts at
// a random pair and wraps around, so calls spread over the range. It fails
// with ErrNoFreePort when no pair is free and ErrInvalidPortRange when the
// range holds no pair.
func (r PortRange) Listen(ip netip.Addr) (rtp, rtcp *net.UDPConn, err error) {
	rtp, rtcp, err = r.listen(ip)
	if err != nil || r.DSCP == 0 {
		return rtp, rtcp, err
	}
	if err := errors.Join(markDSCP(rtp, r.DSCP), markDSCP(rtcp, r.DSCP)); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("media: dscp %d: %w", r.DSCP, err), rtp.Close(), rtcp.Close())
	}
	return rtp, rtcp, nil
}

// markDSCP sets the DSCP of a bound UDP socket.
func markDSCP(c *net.UDPConn, dscp int) error {
	if dscp < 0 || dscp > 63 {
		return fmt.Errorf("%w: dscp %d not in 0-63", ErrInvalidPortRange, dscp)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, dscp<<2)
			return
		}
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, dscp<<2)
	})
	return errors.Join(err, serr)
}

func (r PortRange) listen(ip netip.Addr) (rtp, rtcp *net.UDPConn, err error) {
	if !ip.IsValid() {
		return nil, nil, fmt.Errorf("%w: invalid address", ErrInvalidPortRange)
	}
	if r.Min == 0 && r.Max == 0 {
		return listenEphemeral(ip)
	}
	if r.Min < 1 || r.Max > 65535 || r.Min > r.Max {
		return nil, nil, fmt.Errorf("%w: %d-%d", ErrInvalidPortRange, r.Min, r.Max)
	}
	first := r.Min + r.Min%2 // lowest even port
	pairs := (r.Max - first + 1) / 2
	if pairs < 1 {
		return nil, nil, fmt.Errorf("%w: %d-%d holds no even/odd pair", ErrInvalidPortRange, r.Min, r.Max)
	}
	start := rand.IntN(pairs)
	for i := range pairs {
		port := first + 2*((start+i)%pairs)
		rtp, rtcp, err := listenPair(ip, port)
		if err == nil {
			return rtp, rtcp, nil
		}
	}
	return nil, nil, fmt.Errorf("%w in %d-%d on %s", ErrNoFreePort, r.Min, r.Max, ip)
}

// listenEphemeral lets the kernel pick RTP ports until one is even and the
// port above it is free too.
func listenEphemeral(ip netip.Addr) (*net.UDPConn, *net.UDPConn, error) {
	for range ephemeralTries {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return nil, nil, fmt.Errorf("media: listen rtp on %s: %w", ip, err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port == 65535 {
			_ = c.Close()
			continue
		}
		rtcp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
		if err != nil {
			_ = c.Close()
			continue
		}
		return c, rtcp, nil
	}
	return nil, nil, fmt.Errorf("%w among ephemeral ports on %s", ErrNoFreePort, ip)
}

func listenPair(ip netip.Addr, port int) (*net.UDPConn, *net.UDPConn, error) {
	rtp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
	if err != nil {
		return nil, nil, err
	}
	rtcp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port+1))))
	if err != nil {
		return nil, nil, errors.Join(err, rtp.Close())
	}
	return rtp, rtcp, nil
}
