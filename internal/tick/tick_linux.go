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

// sysClock is a timerfd in the runtime's poller (see the package's doc).
type sysClock struct {
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

// newSysClock starts a timerfd expiring every d from now.
func newSysClock(d time.Duration) (*sysClock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	if err := setTimerfd(fd, d, d); err != nil {
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
	return &sysClock{f: f, rc: rc}, nil
}

// setTimerfd arms fd to expire first from now and every d after.
func setTimerfd(fd int, first, d time.Duration) error {
	if d <= 0 || first <= 0 {
		return errNoPeriod
	}
	spec := unix.ItimerSpec{Interval: unix.NsecToTimespec(int64(d)), Value: unix.NsecToTimespec(int64(first))}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		return os.NewSyscallError("timerfd_settime", err)
	}
	return nil
}

// wait is Clock.Wait: the timerfd's count of expiries says whether one
// is due, however many.
func (c *sysClock) wait(ctx context.Context) error {
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
		return c.wait(ctx) // an earlier context's late interrupt
	}
	return ErrStopped
}

// take reads the expiries due, never waiting, whatever the read deadline.
func (c *sysClock) take() bool {
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
func (c *sysClock) watch(ctx context.Context) {
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

// reset rearms the timerfd to expire first from now and every d after.
func (c *sysClock) reset(first, d time.Duration) {
	_ = c.rc.Control(func(fd uintptr) { _ = setTimerfd(int(fd), first, d) })
}

// stop closes the timerfd: a wait under way or to come returns
// ErrStopped.
func (c *sysClock) stop() {
	c.mu.Lock()
	if c.unwatch != nil {
		c.unwatch()
		c.unwatch = nil
	}
	c.reg++
	c.mu.Unlock()
	_ = c.f.Close()
}

// expire makes the timerfd expire at once, its period unchanged.
func (c *sysClock) expire() {
	_ = c.rc.Control(func(fd uintptr) {
		var cur unix.ItimerSpec
		if unix.TimerfdGettime(int(fd), &cur) != nil {
			return
		}
		cur.Value = unix.NsecToTimespec(1)
		_ = unix.TimerfdSettime(int(fd), 0, &cur, nil)
	})
}
