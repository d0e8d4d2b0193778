package control

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Who owns a local socket. The kernel lists every TCP socket of the host
// in /proc/net/tcp and /proc/net/tcp6 (proc(5)), one line each:
//
//	sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
//	0: 0100007F:2223 0100007F:D3A4 01 ...                   1000 ...
//
// Addresses are hex: an IPv4 address as one 32-bit word and an IPv6
// address as four, each in the host's byte order (little-endian on the
// machines this runs on), the port in network order. State 0A is LISTEN.
// The uid column is the owner of the socket, which is what the local API
// compares with its own user: a loopback client of another account and a
// listener squatting on the API's port both show up there.

// procNetFiles are read in this order; tcp6 also holds IPv4 sockets of
// dual-stack listeners as ::ffff:a.b.c.d.
var procNetFiles = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// errNoSocket means no line of /proc/net/tcp{,6} matched.
var errNoSocket = errors.New("control: no such socket in /proc/net/tcp or tcp6")

const tcpListen = 0x0A // TCP_LISTEN in the st column

// procSocket is one line of /proc/net/tcp{,6}.
type procSocket struct {
	local, remote netip.AddrPort
	state         int
	uid           uint32
}

// connUID returns the uid owning the socket whose local address is local
// and whose peer is remote: for a connection the API accepted, pass the
// client's address as local and the API's as remote to learn the client's
// user.
func connUID(local, remote netip.AddrPort) (uint32, error) {
	local, remote = unmapAP(local), unmapAP(remote)
	var found *procSocket
	err := scanProcNet(func(s procSocket) bool {
		if s.local == local && s.remote == remote && s.state != tcpListen {
			found = &s
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if found == nil {
		return 0, fmt.Errorf("%w: %s -> %s", errNoSocket, local, remote)
	}
	return found.uid, nil
}

// listenerUID returns the uid owning the listening socket that serves
// addr: one bound to addr itself, or to the unspecified address on its
// port.
func listenerUID(addr netip.AddrPort) (uint32, error) {
	addr = unmapAP(addr)
	var exact, wild *procSocket
	err := scanProcNet(func(s procSocket) bool {
		if s.state != tcpListen || s.local.Port() != addr.Port() {
			return true
		}
		switch {
		case s.local.Addr() == addr.Addr():
			exact = &s
			return false
		case s.local.Addr().IsUnspecified() && wild == nil:
			wild = &s
		}
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case exact != nil:
		return exact.uid, nil
	case wild != nil:
		return wild.uid, nil
	}
	return 0, fmt.Errorf("%w: nothing listens on %s", errNoSocket, addr)
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// scanProcNet calls fn for each socket line until fn returns false.
func scanProcNet(fn func(procSocket) bool) error {
	read := 0
	for _, name := range procNetFiles {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6 on this host
		}
		if err != nil {
			return fmt.Errorf("control: socket owners: %w", err)
		}
		read++
		more, err := scanProcNetFile(f, fn)
		f.Close()
		if err != nil {
			return fmt.Errorf("control: %s: %w", name, err)
		}
		if !more {
			return nil
		}
	}
	if read == 0 {
		return fmt.Errorf("control: socket owners: neither %s is readable", strings.Join(procNetFiles, " nor "))
	}
	return nil
}

func scanProcNetFile(f *os.File, fn func(procSocket) bool) (bool, error) {
	sc := bufio.NewScanner(f)
	first := true
	for sc.Scan() {
		if first { // the header line
			first = false
			continue
		}
		s, err := parseProcSocket(sc.Text())
		if err != nil {
			return false, err
		}
		if !fn(s) {
			return false, nil
		}
	}
	return true, sc.Err()
}

func parseProcSocket(line string) (procSocket, error) {
	f := strings.Fields(line)
	if len(f) < 8 {
		return procSocket{}, fmt.Errorf("short line %q", line)
	}
	local, err := parseProcAddr(f[1])
	if err != nil {
		return procSocket{}, err
	}
	remote, err := parseProcAddr(f[2])
	if err != nil {
		return procSocket{}, err
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return procSocket{}, fmt.Errorf("state %q: %w", f[3], err)
	}
	uid, err := strconv.ParseUint(f[7], 10, 32)
	if err != nil {
		return procSocket{}, fmt.Errorf("uid %q: %w", f[7], err)
	}
	return procSocket{local: local, remote: remote, state: int(st), uid: uint32(uid)}, nil
}

// parseProcAddr reads "0100007F:1F90" or the 32-digit IPv6 form.
func parseProcAddr(s string) (netip.AddrPort, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q: %w", hexPort, err)
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q", hexIP)
	}
	// Each 32-bit word is in host order: reverse its bytes.
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
}

// addrPort converts a TCP net.Addr.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	return unmapAP(ta.AddrPort()), true
}

// peerUID returns the uid of the process at the other end of a unix
// socket connection (SO_PEERCRED, unix(7)): the client's for a connection
// the server accepted, the server's (as it was when it called listen) for
// one a client dialled.
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("control: peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("control: peer credentials: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("control: peer credentials: %w", serr)
	}
	return cred.Uid, nil
}

// VerifyListener checks that the TCP listener at addr ("127.0.0.1:21000")
// belongs to this process's user, before something is handed to it (a
// page address holding the token, say); ErrNotYours otherwise.
func VerifyListener(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("control: %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.IsUnspecified() {
		ip = netip.MustParseAddr("127.0.0.1") // localhost, or every address
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("control: port %q: %w", port, err)
	}
	uid, err := listenerUID(netip.AddrPortFrom(ip, uint16(p)))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotYours, addr, err)
	}
	if self := uint32(os.Geteuid()); uid != self {
		return fmt.Errorf("%w: %s is served by uid %d, not by uid %d", ErrNotYours, addr, uid, self)
	}
	return nil
}
