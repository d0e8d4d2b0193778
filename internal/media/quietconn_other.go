//go:build !linux

package media

import "net"

// quiet returns the socket as it is (see quietconn_linux.go).
func quiet(c *net.UDPConn) PacketConn { return c }
