//go:build linux

package tick

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Clock is a timerfd in the runtime's poller (see the package's doc).
// Its methods may be called from any goroutine; one goroutine waits.
type Clock struct {
	f  *os.File
	rc syscall.RawConn

	mu sync.Mutex
	// The context whose end interrupts a Wait: its Done channel and
	// the AfterFunc watching it. reg tells a late interrupt of an
	// earlier context from the current one.
	done    <-chan struct{}
	unwatch func() bool
	reg     uint64
	stale   bool // a deadline in the past may be set: clear it before waiting
}

// aLongTimeAgo is a read deadline in the past: it interrupts a Wait.
var aLongTimeAgo = time.Unix(1, 0)

// New starts a clock expiring every d from now, as time.NewTicker does.
func New(d time.Duration) (*Clock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	if err := setTimerfd(fd, d); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	// A non-blocking descriptor: os.NewFile puts it in the poller.
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &Clock{f: f, rc: rc}, nil
}

// setTimerfd arms fd to expire every d from now, as time.NewTicker does.
func setTimerfd(fd int, d time.Duration) error {
	if d <= 0 {
		return errors.New("tick: non-positive interval")
	}
	ts := unix.NsecToTimespec(int64(d))
	if err := unix.TimerfdSettime(fd, 0, &unix.ItimerSpec{Interval: ts, Value: ts}, nil); err != nil {
		return os.NewSyscallError("timerfd_settime", err)
	}
	return nil
}

// Wait returns at the clock's next expiry, or at once when one is due.
// Expiries missed while nobody waited count as one, as time.Ticker drops
// the ticks its channel has no room for. It returns ctx's cause when ctx
// ends first, ErrStopped once Stop was called.
func (c *Clock) Wait(ctx context.Context) error {
	if ctx.Err() != nil {
		if c.take() {
			return nil
		}
		return context.Cause(ctx)
	}
	c.watch(ctx)
	var got bool
	// Read tries before it waits: a tick already due is taken at once,
	// one not yet due costs one read that finds nothing.
	err := c.rc.Read(func(fd uintptr) bool {
		got = readTimerfd(fd)
		return got
	})
	switch {
	case got:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return c.Wait(ctx) // an earlier context's late interrupt
	}
	return ErrStopped
}

// take reads the expiries due, never waiting, whatever the read deadline.
func (c *Clock) take() bool {
	var got bool
	_ = c.rc.Control(func(fd uintptr) { got = readTimerfd(fd) })
	return got
}

// readTimerfd reads fd's count of expiries: true when there were any.
// A raw system call: it never blocks (TFD_NONBLOCK), and a plain one
// would wake the runtime's monitor thread at every tick.
func readTimerfd(fd uintptr) bool {
	var n uint64
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&n)), 8)
		if e == syscall.EINTR {
			continue
		}
		return e == 0 && r == 8 && n > 0
	}
}

// watch makes ctx's end interrupt the waits to come, once per context:
// an AfterFunc puts the read deadline in the past.
func (c *Clock) watch(ctx context.Context) {
	done := ctx.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stale {
		_ = c.f.SetReadDeadline(time.Time{})
		c.stale = false
	}
	if done == c.done {
		return
	}
	if c.unwatch != nil {
		c.unwatch()
	}
	c.reg++
	c.done, c.unwatch = done, nil
	if done == nil {
		return // never ends
	}
	reg := c.reg
	c.unwatch = context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.reg == reg {
			_ = c.f.SetReadDeadline(aLongTimeAgo)
		}
		c.stale = true
	})
}

// Reset rearms the clock to expire every d from now.
func (c *Clock) Reset(d time.Duration) {
	_ = c.rc.Control(func(fd uintptr) { _ = setTimerfd(int(fd), d) })
}

// Stop stops the clock: a Wait under way or to come returns
// ErrStopped.
func (c *Clock) Stop() {
	c.mu.Lock()
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch = nil
	}
	c.reg++
	c.mu.Unlock()
	_ = c.f.Close()
}

// Expire makes the clock expire at once (a Wait under way returns), its
// period unchanged.
func (c *Clock) Expire() {
	_ = c.rc.Control(func(fd uintptr) {
		var cur unix.ItimerSpec
		if unix.TimerfdGettime(int(fd), &cur) != nil {
			return
		}
		cur.Value = unix.NsecToTimespec(1)
		_ = unix.TimerfdSettime(int(fd), 0, &cur, nil)
	})
}
