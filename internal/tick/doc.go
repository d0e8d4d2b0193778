// Package tick is a periodic clock that a goroutine waits on (Clock.Wait)
// rather than a channel: on Linux a timerfd in the Go runtime's poller.
// What runs through a call does: its playout clock (internal/media), the
// audio streams' watchdog (internal/audio), the call's media checks
// (internal/phone) and the daemon's memory trimmer (Every).
//
// Why not time.Ticker: a goroutine woken by a Go timer costs the process
// about five thread switches a tick on an otherwise idle machine, against
// one for a goroutine woken by the poller. The thread that runs the timer
// readies the goroutine and wakes a second thread to look for more work
// (the scheduler's spinning thread), which finds none and sleeps again;
// the runtime's monitor thread, which sleeps until the next timer, wakes
// at every tick as well; and the woken goroutine inherits the time slice
// of whatever ran last on its processor, so that the monitor takes the
// processor from the tick's first long C call. A goroutine the poller
// readies starts a fresh slice on the thread that polled, wakes no other,
// and leaves the monitor asleep. BenchmarkClock measures both: on the
// 2-core machine of BENCHMARKS.md a 20 ms tick cost 1.1 thread switches
// and 55-95 µs of CPU with a Clock, 5.3 and 155-160 µs with time.Ticker.
//
// Where the system has no such clock (elsewhere than Linux, or a timerfd
// refused) a Clock is a time.Ticker behind the same methods, so that its
// users have one path (Clock.OnGoTimer tells which).
package tick
