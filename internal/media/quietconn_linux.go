//go:build linux

package media

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"
)

// quietConn is a plain RTP or RTCP socket whose datagrams are sent and
// received with raw system calls (sendto and recvfrom on the non-blocking
// socket, the runtime's poller waiting when there is nothing to read or no
// room to write), rather than through the net package's calls.
//
// Why: a call moves one datagram each way every 20 ms, each on a goroutine
// woken for it. The net package makes its calls as blocking system calls
// as far as the runtime knows (entersyscall), and the first one after the
// process has been idle wakes the runtime's monitor thread (sysmon) out of
// its deep sleep; it then polls every 20 µs until the process is idle
// again. Measured on a call with the devices' C callbacks and no voice
// processing, that thread's wake-ups were about half the daemon's CPU.
// A sendto or recvfrom on a non-blocking UDP socket does not block, so
// making it raw is safe and costs the monitor nothing.
type quietConn struct {
	*net.UDPConn
	raw   syscall.RawConn
	inet6 bool // an AF_INET6 socket: IPv4 peers as mapped addresses
}

// quiet wraps a UDP socket as a quietConn, or returns it as it is when its
// family cannot be told.
func quiet(c *net.UDPConn) PacketConn {
	raw, err := c.SyscallConn()
	if err != nil {
		return c
	}
	family := 0
	if err := raw.Control(func(fd uintptr) {
		switch sa, err := syscall.Getsockname(int(fd)); {
		case err != nil:
		case isInet4(sa):
			family = syscall.AF_INET
		case isInet6(sa):
			family = syscall.AF_INET6
		}
	}); err != nil || family == 0 {
		return c
	}
	return &quietConn{UDPConn: c, raw: raw, inet6: family == syscall.AF_INET6}
}

func isInet4(sa syscall.Sockaddr) bool { _, ok := sa.(*syscall.SockaddrInet4); return ok }
func isInet6(sa syscall.Sockaddr) bool { _, ok := sa.(*syscall.SockaddrInet6); return ok }

// WriteToUDPAddrPort sends b to addr. An address the raw path does not
// take (a zone, an IPv6 peer on an IPv4 socket, an empty datagram) goes
// the net package's way, which gives its usual error.
func (c *quietConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	ip := addr.Addr()
	if len(b) == 0 || ip.Zone() != "" || (!c.inet6 && !ip.Unmap().Is4()) {
		return c.UDPConn.WriteToUDPAddrPort(b, addr)
	}
	var sa4 syscall.RawSockaddrInet4
	var sa6 syscall.RawSockaddrInet6
	sa, salen := rawSockaddr(&sa4, &sa6, addr, c.inet6)
	var n int
	var errno syscall.Errno
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, uintptr(sa), salen)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // the socket's buffer is full: wait for room
			}
			n, errno = int(r), e
			return true
		}
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.LocalAddr(), Addr: net.UDPAddrFromAddrPort(addr), Err: os.NewSyscallError("sendto", errno)}
	}
	return n, nil
}

// ReadFromUDPAddrPort reads one datagram into b (truncated to it, as the
// net package does) and says where it came from.
func (c *quietConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	if len(b) == 0 {
		return c.UDPConn.ReadFromUDPAddrPort(b)
	}
	var from syscall.RawSockaddrAny
	var n int
	var errno syscall.Errno
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			salen := uint32(unsafe.Sizeof(from))
			r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0,
				uintptr(unsafe.Pointer(&from)), uintptr(unsafe.Pointer(&salen)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // nothing waiting: the poller wakes us
			}
			n, errno = int(r), e
			return true
		}
	})
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: os.NewSyscallError("recvfrom", errno)}
	}
	return n, addrPortOf(&from), nil
}

// rawSockaddr fills sa6 (an AF_INET6 socket: an IPv4 address comes out
// IPv4-mapped) or sa4 with addr for sendto, and returns the one filled and
// its length.
func rawSockaddr(sa4 *syscall.RawSockaddrInet4, sa6 *syscall.RawSockaddrInet6, addr netip.AddrPort, inet6 bool) (unsafe.Pointer, uintptr) {
	if inet6 {
		sa6.Family = syscall.AF_INET6
		putPort(&sa6.Port, addr.Port())
		sa6.Addr = addr.Addr().As16()
		return unsafe.Pointer(sa6), unsafe.Sizeof(*sa6)
	}
	sa4.Family = syscall.AF_INET
	putPort(&sa4.Port, addr.Port())
	sa4.Addr = addr.Addr().Unmap().As4()
	return unsafe.Pointer(sa4), unsafe.Sizeof(*sa4)
}

// addrPortOf reads a datagram's source address.
func addrPortOf(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		in := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), getPort(&in.Port))
	case syscall.AF_INET6:
		in := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom16(in.Addr), getPort(&in.Port))
	}
	return netip.AddrPort{}
}

// putPort and getPort write and read a port in network byte order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}
