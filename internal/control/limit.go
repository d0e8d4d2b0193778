package control

import (
	"net"
	"sync"
)

// limitListener accepts at most n connections at a time; Accept waits
// while n are open, so further clients wait in the kernel's listen queue
// and cost the daemon no file descriptor. It does what
// golang.org/x/net/netutil.LimitListener does, and keeps the accepted
// connection reachable (limitConn.Unwrap): the unix socket's peer
// credentials (SO_PEERCRED) are read from it, which netutil's wrapper
// hides.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back when closed, once.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Unwrap returns the accepted connection.
func (c *limitConn) Unwrap() net.Conn { return c.Conn }
