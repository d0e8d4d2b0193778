//go:build linux

package tick

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

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
