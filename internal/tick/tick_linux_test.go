//go:build linux

package tick

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newTestClock(t testing.TB, d time.Duration) *Clock {
	t.Helper()
	c, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// TestClockTicks: the clock never ticks before its time, and expiries
// missed while nobody waits count as one tick, as time.Ticker's do.
func TestClockTicks(t *testing.T) {
	const d = 10 * time.Millisecond
	start := time.Now()
	c := newTestClock(t, d)
	ctx := t.Context()
	for i := 1; i <= 5; i++ {
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if e := time.Since(start); e < time.Duration(i)*d {
			t.Fatalf("tick %d after %v, before its time", i, e)
		}
	}
	// Ten expiries pass unread: one tick at once, the next at its time.
	time.Sleep(10 * d)
	before := time.Since(start)
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	next := (before/d + 1) * d
	if e := time.Since(start); e < next {
		t.Errorf("second tick after the pause at %v, before the next expiry %v: missed expiries were ticks of their own", e, next)
	}
}

// TestClockContext: a context's end interrupts a wait with its cause, a
// tick already due is served even then, and a later wait with another
// context is not interrupted by the first one's end.
func TestClockContext(t *testing.T) {
	c := newTestClock(t, time.Hour)
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("call ended")
	got := make(chan error, 1)
	go func() { got <- c.Wait(ctx) }()
	cancel(cause)
	if err := <-got; !errors.Is(err, cause) {
		t.Fatalf("wait on an ended context: %v, want %v", err, cause)
	}
	c.Expire()
	if err := c.Wait(ctx); err != nil {
		t.Errorf("a tick due on an ended context: %v, want it served", err)
	}
	if err := c.Wait(ctx); !errors.Is(err, cause) {
		t.Errorf("no tick due, ended context: %v, want %v", err, cause)
	}
	c.Reset(5 * time.Millisecond)
	for i := range 3 {
		if err := c.Wait(t.Context()); err != nil {
			t.Fatalf("wait %d with a live context after an ended one: %v", i, err)
		}
	}
}

// TestClockExpire: Expire ends a wait under way at once; the period goes
// on as it was.
func TestClockExpire(t *testing.T) {
	c := newTestClock(t, time.Hour)
	got := make(chan error, 1)
	go func() { got <- c.Wait(t.Context()) }()
	c.Expire()
	if err := <-got; err != nil {
		t.Fatalf("wait under Expire: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := c.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after Expire, an hour's clock ticked again: %v", err)
	}
}

// TestClockStop: Stop ends a wait under way and every one after.
func TestClockStop(t *testing.T) {
	c := newTestClock(t, time.Hour)
	got := make(chan error, 1)
	go func() { got <- c.Wait(t.Context()) }()
	// Stop whether or not the goroutine waits yet: both must end.
	c.Stop()
	if err := <-got; !errors.Is(err, ErrStopped) {
		t.Errorf("wait under Stop: %v, want ErrStopped", err)
	}
	if err := c.Wait(t.Context()); !errors.Is(err, ErrStopped) {
		t.Errorf("wait after Stop: %v, want ErrStopped", err)
	}
	c.Stop() // twice is harmless
}

// TestNewRefusesNoPeriod: a clock needs a period.
func TestNewRefusesNoPeriod(t *testing.T) {
	if _, err := New(0); err == nil {
		t.Error("New(0) made a clock")
	}
}

// BenchmarkClock: what one tick of a 20 ms clock costs the process, a
// Clock against time.Ticker: thread switches a tick (all the process's
// threads, /proc/self/task) and CPU time a tick. One op is 50 ticks.
func BenchmarkClock(b *testing.B) {
	const d, ticks = 20 * time.Millisecond, 50
	b.Run("timerfd", func(b *testing.B) {
		measureTicks(b, ticks, func() func() {
			c, err := New(d)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.Stop)
			return func() {
				if err := c.Wait(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("time.Ticker", func(b *testing.B) {
		measureTicks(b, ticks, func() func() {
			t := time.NewTicker(d)
			b.Cleanup(t.Stop)
			return func() { <-t.C }
		})
	})
}

func measureTicks(b *testing.B, ticks int, start func() (wait func())) {
	var sw, cpu float64
	for range b.N {
		wait := start()
		s0, c0 := threadSwitches(b), processCPU()
		for range ticks {
			wait()
		}
		c1 := processCPU()
		sw += float64(threadSwitches(b) - s0)
		cpu += float64(c1 - c0)
	}
	n := float64(b.N * ticks)
	b.ReportMetric(sw/n, "switches/tick")
	b.ReportMetric(cpu/n/1e3, "cpu-us/tick")
}

// threadSwitches sums the process's threads' context switches.
func threadSwitches(tb testing.TB) int64 {
	paths, _ := filepath.Glob("/proc/self/task/*/status")
	var sum int64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that ended
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			var n int64
			if _, err := fmt.Sscanf(l, "voluntary_ctxt_switches: %d", &n); err == nil {
				sum += n
			} else if _, err := fmt.Sscanf(l, "nonvoluntary_ctxt_switches: %d", &n); err == nil {
				sum += n
			}
		}
	}
	if sum == 0 {
		tb.Fatal("no thread switches in /proc/self/task")
	}
	return sum
}

// processCPU is the CPU time the process used so far.
func processCPU() time.Duration {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
