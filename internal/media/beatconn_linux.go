//go:build linux

package media

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// beatConn is a plain RTP socket outside the runtime's poller: a datagram
// arriving wakes nothing. The session reads what waits when its playout
// clock ticks (Session.ReadFrame), just before it takes the frame due
// from the jitter buffer, and at least every beatIdle when nothing ticks
// (before the call's audio path runs). The kernel's arrival time of each
// datagram (SO_TIMESTAMPNS) goes to the jitter buffer, so its jitter and
// delay figures are those of the network, not of the beat.
//
// Why: a call receives a datagram every packet time. On a socket in the
// runtime's poller each one wakes a thread in epoll_wait, which wakes a
// second one to look for work (the scheduler's spinning thread), apart
// from the playout clock's own wake-ups; a reader goroutine standing
// aside does not help, as the poller still wakes for the socket
// (BENCHMARKS.md, item 4). Reading at the tick plays every frame at the
// tick it would have played at with a reader goroutine: the packet due
// is in the socket by then in both cases.
type beatConn struct {
	laddr *net.UDPAddr
	inet6 bool
	stamp bool // the kernel stamps arrivals (SO_TIMESTAMPNS)

	mu sync.RWMutex // fd against Close
	fd int          // -1 once closed
}

// onBeat takes c out of the runtime's poller as a beatConn: its socket is
// duplicated and c closed (which removes it from the poller; the socket
// lives on in the duplicate). Where that fails, c is left as it was and
// goes the quietConn way.
func onBeat(c *net.UDPConn) PacketConn {
	q, ok := quiet(c).(*quietConn)
	if !ok {
		return quiet(c)
	}
	laddr, _ := c.LocalAddr().(*net.UDPAddr)
	fd := -1
	if err := q.raw.Control(func(s uintptr) {
		if d, err := unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0); err == nil {
			fd = d
		}
	}); err != nil || fd < 0 || laddr == nil {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return q
	}
	// The duplicate shares the socket's open file, non-blocking as the
	// net package made it; say so rather than rely on it.
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return q
	}
	b := &beatConn{laddr: laddr, inet6: q.inet6, fd: fd}
	b.stamp = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) == nil
	if err := c.Close(); err != nil {
		_ = unix.Close(fd)
		return q
	}
	return b
}

// LocalAddr is the socket's address.
func (c *beatConn) LocalAddr() net.Addr { return c.laddr }

// Close closes the socket; it waits for a read or write under way.
func (c *beatConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return net.ErrClosed
	}
	err := unix.Close(c.fd)
	c.fd = -1
	if err != nil {
		return os.NewSyscallError("close", err)
	}
	return nil
}

// WriteToUDPAddrPort sends b to addr with one sendto. A socket whose
// buffer is full (EAGAIN, which a UDP socket sending a packet every
// packet time does not meet) drops the datagram with that error rather
// than wait.
func (c *beatConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	ip := addr.Addr()
	if len(b) == 0 || ip.Zone() != "" || (!c.inet6 && !ip.Unmap().Is4()) {
		return 0, &net.OpError{Op: "write", Net: "udp", Source: c.laddr, Addr: net.UDPAddrFromAddrPort(addr), Err: fmt.Errorf("media: no datagram or no route for %s on this socket", addr)}
	}
	var sa4 syscall.RawSockaddrInet4
	var sa6 syscall.RawSockaddrInet6
	sa, salen := rawSockaddr(&sa4, &sa6, addr, c.inet6)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.fd < 0 {
		return 0, net.ErrClosed
	}
	for {
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, uintptr(sa), salen)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, &net.OpError{Op: "write", Net: "udp", Source: c.laddr, Addr: net.UDPAddrFromAddrPort(addr), Err: os.NewSyscallError("sendto", e)}
		}
		return int(r), nil
	}
}

// readWaiting reads one datagram waiting in the socket into b, without
// blocking: ok is false when none waits. at is when the kernel received
// it, on the system's clock (zero when it does not say); oob is scratch
// room of beatOOB bytes.
func (c *beatConn) readWaiting(b, oob []byte) (n int, from netip.AddrPort, at time.Time, ok bool, err error) {
	if len(b) == 0 || len(oob) < beatOOB {
		return 0, netip.AddrPort{}, time.Time{}, false, &net.OpError{Op: "read", Net: "udp", Source: c.laddr, Err: fmt.Errorf("media: no room to read into")}
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.fd < 0 {
		return 0, netip.AddrPort{}, time.Time{}, false, net.ErrClosed
	}
	var sa syscall.RawSockaddrAny
	iov := syscall.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msg := syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&sa)), Namelen: uint32(unsafe.Sizeof(sa)), Iov: &iov, Iovlen: 1}
	if c.stamp {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(c.fd), uintptr(unsafe.Pointer(&msg)), 0)
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, netip.AddrPort{}, time.Time{}, false, nil
		default:
			return 0, netip.AddrPort{}, time.Time{}, false, &net.OpError{Op: "read", Net: "udp", Source: c.laddr, Err: os.NewSyscallError("recvmsg", e)}
		}
		n = int(r)
		break
	}
	if c.stamp {
		at, _ = stampOf(oob[:msg.Controllen])
	}
	return min(n, len(b)), addrPortOf(&sa), at, true, nil
}

// stampOf finds the SCM_TIMESTAMPNS message (a struct timespec of the
// system's clock) among a datagram's control messages.
func stampOf(oob []byte) (time.Time, bool) {
	const hdr = int(unsafe.Sizeof(syscall.Cmsghdr{}))
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return time.Time{}, false
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && l >= hdr+16 {
			d := oob[hdr:]
			return time.Unix(int64(binary.NativeEndian.Uint64(d)), int64(binary.NativeEndian.Uint64(d[8:]))), true
		}
		oob = oob[min(len(oob), (l+7)&^7):] // CMSG_ALIGN on 64-bit
	}
	return time.Time{}, false
}

// ReadFromUDPAddrPort reads one datagram, waiting for one (in poll(2),
// looking at Close every beatPoll). The session does not read this way;
// it is there for PacketConn's users.
func (c *beatConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	var oob [beatOOB]byte
	for {
		n, from, _, ok, err := c.readWaiting(b, oob[:])
		if err != nil || ok {
			return n, from, err
		}
		c.mu.RLock()
		if c.fd < 0 {
			c.mu.RUnlock()
			return 0, netip.AddrPort{}, net.ErrClosed
		}
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}
		_, err = unix.Poll(fds, int(beatPoll/time.Millisecond))
		c.mu.RUnlock()
		if err != nil && err != unix.EINTR {
			return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: c.laddr, Err: os.NewSyscallError("poll", err)}
		}
	}
}

// beatPoll bounds a blocking read's wait before it looks at Close again.
const beatPoll = 50 * time.Millisecond
