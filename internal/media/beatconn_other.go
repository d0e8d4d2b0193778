//go:build !linux

package media

import "net"

// onBeat returns the socket as it is: only Linux reads RTP on the playout
// clock's beat (beatconn_linux.go).
func onBeat(c *net.UDPConn) PacketConn { return c }
