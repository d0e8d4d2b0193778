//go:build linux

package tick

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkClock: what one tick of a 20 ms clock costs the process, a
// Clock against time.Ticker: thread switches a tick (all the process's
// threads, getrusage) and CPU time a tick. One op is 50 ticks.
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
		s0, c0 := usage()
		for range ticks {
			wait()
		}
		s1, c1 := usage()
		sw += float64(s1 - s0)
		cpu += float64(c1 - c0)
	}
	n := float64(b.N * ticks)
	b.ReportMetric(sw/n, "switches/tick")
	b.ReportMetric(cpu/n/1e3, "cpu-us/tick")
}

// usage is the process's context switches (voluntary and not, every
// thread's, ended ones included) and CPU time so far.
func usage() (switches int64, cpu time.Duration) {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return r.Nvcsw + r.Nivcsw, time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
