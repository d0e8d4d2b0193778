package control

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// shedAfter is how long, while every connection slot is taken, a
// connection may wait for a request header (a new connection, or an idle
// keep-alive one) before it is closed to make room. A client on this
// machine has sent its header by the time its connection is accepted; one
// that has not within this time is stalling.
const shedAfter = 250 * time.Millisecond

// limitListener accepts at most n connections at a time, as
// golang.org/x/net/netutil.LimitListener does: further clients wait in the
// kernel's listen queue and cost the daemon no file descriptor. Unlike
// netutil's, it sheds load: while every slot is taken, connections that
// have waited longer than shedAfter without sending a complete request
// header — stalled clients, idle keep-alive connections — are closed, so
// a flood of slow clients cannot keep the API from answering. A
// connection with a request in progress (an event stream, a body being
// read under its deadline) is never closed. It also keeps the accepted
// connection reachable (limitConn.Unwrap): the unix socket's peer
// credentials (SO_PEERCRED) are read from it, which netutil hides.
//
// The http.Server reports each connection's state through connState.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	conns map[*limitConn]struct{}
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{}), conns: map[*limitConn]struct{}{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	lc := &limitConn{Conn: c, l: l, waiting: true, since: time.Now()}
	l.mu.Lock()
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	return lc, nil
}

// acquire takes a slot; while there is none it sheds stalled connections
// every shedAfter/2.
func (l *limitListener) acquire() error {
	var tick *time.Ticker
	for {
		select {
		case l.sem <- struct{}{}:
			if tick != nil {
				tick.Stop()
			}
			return nil
		case <-l.done:
			if tick != nil {
				tick.Stop()
			}
			return net.ErrClosed
		default:
		}
		l.shed(time.Now().Add(-shedAfter))
		if tick == nil {
			tick = time.NewTicker(shedAfter / 2)
		}
		select {
		case l.sem <- struct{}{}:
			tick.Stop()
			return nil
		case <-l.done:
			tick.Stop()
			return net.ErrClosed
		case <-tick.C:
		}
	}
}

// shed closes the connections waiting for a request header since before
// cutoff.
func (l *limitListener) shed(cutoff time.Time) {
	var stale []*limitConn
	l.mu.Lock()
	for c := range l.conns {
		if c.waiting && c.since.Before(cutoff) {
			stale = append(stale, c)
		}
	}
	l.mu.Unlock()
	for _, c := range stale {
		_ = c.Close()
	}
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// connState is the http.Server's ConnState hook: a connection waits for a
// request header when new or idle, and is busy while a request is served.
func connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitConn)
	if !ok {
		return
	}
	lc.l.mu.Lock()
	defer lc.l.mu.Unlock()
	switch st {
	case http.StateNew, http.StateIdle:
		lc.waiting, lc.since = true, time.Now()
	case http.StateActive, http.StateHijacked:
		lc.waiting = false
	}
}

// limitConn gives its slot back when closed, once.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once

	// guarded by l.mu
	waiting bool      // no request in progress
	since   time.Time // when it began to wait
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		<-c.l.sem
	})
	return err
}

// Unwrap returns the accepted connection.
func (c *limitConn) Unwrap() net.Conn { return c.Conn }
