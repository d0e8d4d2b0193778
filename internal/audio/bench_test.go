package audio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfCPU returns this process's user+sys CPU time.
func selfCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns another process's user+sys CPU time from /proc
// (clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse /proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkSnapshot measures one enumeration (playback + capture) on the
// PulseAudio backend with two headsets: wall time per op, this process's
// CPU per op (getrusage) and the sound server's CPU per op.
func BenchmarkSnapshot(b *testing.B) {
	p, _, _ := startHeadsets(b)
	s := openPulse(b)
	if _, err := s.Snapshot(); err != nil {
		b.Fatal(err)
	}
	c0, p0 := selfCPU(b), procCPU(b, p.Pid())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(selfCPU(b)-c0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(procCPU(b, p.Pid())-p0)/float64(b.N), "server-cpu-ns/op")
}

// watchModes are the two ways Watch can learn of changes: the sound
// server's events (the default on PulseAudio) and plain polling.
var watchModes = []struct {
	name string
	opts Options
}{
	{"events", Options{Backend: "pulseaudio"}},
	{"poll250ms", Options{Backend: "pulseaudio", NoServerEvents: true}},
}

// BenchmarkWatchPlugLatency plugs and unplugs a sink 20 times each while
// Watch runs with its defaults, and reports the delay from just before
// `pactl load-module`/`unload-module` starts to the snapshot that shows
// the change (p50, p95, max over 40 changes).
func BenchmarkWatchPlugLatency(b *testing.B) {
	for _, m := range watchModes {
		b.Run(m.name, func(b *testing.B) { benchPlugLatency(b, m.opts) })
	}
}

func benchPlugLatency(b *testing.B, o Options) {
	const plugs = 20
	p, _, _ := startHeadsets(b)
	s, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	type seen struct {
		at   time.Time
		snap Snapshot
	}
	snaps := make(chan seen, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(ctx, func(sn Snapshot) { snaps <- seen{time.Now(), sn} })
	}()
	defer func() { cancel(); <-done }()
	<-snaps
	wait := func(cond func(Snapshot) bool) time.Time {
		timeout := time.After(10 * time.Second)
		for {
			select {
			case sn := <-snaps:
				if cond(sn.snap) {
					return sn.at
				}
			case <-timeout:
				b.Fatal("change not seen within 10 s")
			}
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < plugs; j++ {
			name := fmt.Sprintf("hotplug_%d_%d", i, j)
			// Plug at a random phase of the poll cycle: right after a
			// report the next poll is a full interval away, which would
			// make every delay one interval long.
			time.Sleep(time.Duration(rand.Int64N(int64(DefaultPollInterval))))
			t0 := time.Now()
			mod := p.AddSink(b, name, "Hotplug "+name)
			at := wait(func(sn Snapshot) bool { return has(sn.Playback, name) })
			lat = append(lat, at.Sub(t0))
			time.Sleep(time.Duration(rand.Int64N(int64(DefaultPollInterval))))
			t0 = time.Now()
			p.UnloadModule(b, mod)
			at = wait(func(sn Snapshot) bool { return !has(sn.Playback, name) })
			lat = append(lat, at.Sub(t0))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1)+0.5)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(lat)), "changes")
}

// BenchmarkWatchIdleCPU watches an unchanging PulseAudio for 10 s and
// reports the CPU spent, as a percentage of one core, by this process, by
// the sound server and by the pactl child (events mode); "total" adds
// them up. The "net" figures subtract what this process and the server
// spend in the same time without watching (the null sinks and the Go
// runtime cost something on their own).
func BenchmarkWatchIdleCPU(b *testing.B) {
	for _, m := range watchModes {
		b.Run(m.name, func(b *testing.B) { benchIdleCPU(b, m.opts) })
	}
}

func benchIdleCPU(b *testing.B, o Options) {
	const idle = 10 * time.Second
	p, _, _ := startHeadsets(b)
	s, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c0, p0, t0 := selfCPU(b), procCPU(b, p.Pid()), time.Now()
	time.Sleep(idle) // the baseline: nothing to wait for, only time to pass
	baseWall := time.Since(t0)
	baseSelf := float64(selfCPU(b)-c0) / float64(baseWall)
	baseServer := float64(procCPU(b, p.Pid())-p0) / float64(baseWall)
	b.ResetTimer()
	var self, server, child, wall time.Duration
	for i := 0; i < b.N; i++ {
		polls := 0
		ctx, cancel := context.WithTimeout(context.Background(), idle)
		c0, p0, t0 := selfCPU(b), procCPU(b, p.Pid()), time.Now()
		var childPid int
		k0 := childrenCPU(b)
		if err := s.Watch(ctx, func(Snapshot) {
			polls++
			s.mu.Lock()
			for sub := range s.subs {
				childPid = sub.pid()
			}
			s.mu.Unlock()
		}); err != nil {
			b.Fatal(err)
		}
		// The child is reaped when Watch returns; its CPU time then
		// shows in this process's RUSAGE_CHILDREN.
		childCPU := childrenCPU(b) - k0
		self += selfCPU(b) - c0
		server += procCPU(b, p.Pid()) - p0
		child += childCPU
		wall += time.Since(t0)
		cancel()
		if polls != 1 {
			b.Fatalf("idle watch reported %d snapshots, want 1", polls)
		}
		if (o.NoServerEvents) != (childPid == 0) {
			b.Fatalf("subscription child pid %d with NoServerEvents %v", childPid, o.NoServerEvents)
		}
	}
	pc := func(d time.Duration) float64 { return 100 * float64(d) / float64(wall) }
	b.ReportMetric(pc(self), "cpu-%core")
	b.ReportMetric(pc(server), "server-cpu-%core")
	b.ReportMetric(pc(child), "pactl-cpu-%core")
	b.ReportMetric(pc(self+server+child), "total-cpu-%core")
	b.ReportMetric(pc(self)-100*baseSelf, "net-cpu-%core")
	b.ReportMetric(pc(server)-100*baseServer, "net-server-cpu-%core")
	b.ReportMetric(pc(self+server+child)-100*(baseSelf+baseServer), "net-total-cpu-%core")
}

// childrenCPU returns the user+sys CPU time of this process's reaped
// children so far.
func childrenCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStreamStart opens a stream and reports how long it takes to
// the first data callback and until frames flow steadily (the watchdog
// arms), for playback into a PulseAudio null sink (which pauses after the
// first period), capture from a sink's monitor remapped as a source, and
// playback on miniaudio's null backend.
func BenchmarkStreamStart(b *testing.B) {
	cases := []struct {
		name    string
		backend string
		kind    Kind
	}{
		{"pulse-playback-nullsink", "pulseaudio", KindPlayback},
		{"pulse-capture-remap", "pulseaudio", KindCapture},
		{"null-playback", "null", KindPlayback},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var dev Device
			if c.backend == "pulseaudio" {
				_, jabra, _ := startHeadsets(b)
				dev = Device{ID: jabra.SinkName}
				if c.kind == KindCapture {
					dev = Device{ID: jabra.SourceName}
				}
			}
			s, err := Open(Options{Backend: c.backend})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var first, steady time.Duration
			for i := 0; i < b.N; i++ {
				st := openForBench(b, s, c.kind, dev)
				buf := make([]int16, st.Config().PeriodSamples())
				for st.Stats().Steady == 0 {
					var err error
					if cs, ok := st.(CaptureStream); ok && c.kind == KindCapture {
						_, err = cs.Read(buf)
					} else {
						_, err = st.(PlaybackStream).Write(buf)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				stats := st.Stats()
				first += stats.FirstFrame
				steady += stats.Steady
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(first)/float64(b.N)/1e6, "first-frame-ms")
			b.ReportMetric(float64(steady)/float64(b.N)/1e6, "steady-ms")
		})
	}
}

func openForBench(b *testing.B, s *System, k Kind, dev Device) Stream {
	b.Helper()
	var st Stream
	var err error
	if k == KindCapture {
		st, err = s.OpenCapture(dev, StreamConfig{})
	} else {
		st, err = s.OpenPlayback(dev, StreamConfig{})
	}
	if err != nil {
		b.Fatal(err)
	}
	return st
}
