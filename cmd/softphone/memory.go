package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/tick"
)

// The daemon's memory is mostly short-lived: a burst of incoming INVITEs
// (a rejection storm) allocates tens of kilobytes per call in transactions
// that live until Timer I runs out (RFC 3261 §17.2.1), and then all of it
// is garbage. The Go runtime returns freed memory to the kernel only
// slowly, and runs no collection at all while the daemon is idle, so
// without help the resident size stays at the burst's peak for minutes.
// The trimmer watches the runtime's own counters and, once the daemon is
// quiet again, collects and hands the free heap back (debug.FreeOSMemory).
// It never trims while the daemon allocates fast, so a burst in progress
// is not slowed down.

// trimSettings tune the trimmer; defaultTrimSettings are the daemon's.
type trimSettings struct {
	// Tick is how often the counters are read.
	Tick time.Duration
	// Quiet is the allocation during one tick below which the daemon
	// counts as quiet.
	Quiet uint64
	// Floor is the memory held from the kernel (mapped, not released)
	// below which the trimmer leaves the runtime alone.
	Floor uint64
	// Gap is the least time between two trims. While trims give little
	// back (less than Floor/4), the gap doubles up to MaxGap; a busy tick
	// or a trim that gives much back resets it.
	Gap, MaxGap time.Duration
}

func defaultTrimSettings() trimSettings {
	return trimSettings{Tick: time.Second, Quiet: 2 << 20, Floor: 24 << 20, Gap: time.Second, MaxGap: 32 * time.Second}
}

// memSample is one reading of the runtime's counters.
type memSample struct {
	at       time.Time
	allocs   uint64 // bytes allocated on the heap since start (cumulative)
	retained uint64 // bytes mapped by the runtime and not released to the kernel
}

// trimPolicy decides, from successive samples, when to trim.
type trimPolicy struct {
	s         trimSettings
	prev      memSample
	havePrev  bool
	lastTrim  time.Time
	gap       time.Duration
	before    uint64 // retained when the last trim started
	startDone bool
}

// next takes a sample and tells whether to trim now. The first quiet tick
// after start-up trims once whatever the floor (start-up garbage); after
// that a trim needs a quiet tick, memory held above the floor and Gap
// since the last one.
func (p *trimPolicy) next(m memSample) bool {
	prev, had := p.prev, p.havePrev
	p.prev, p.havePrev = m, true
	if !had {
		return false
	}
	if p.gap == 0 {
		p.gap = p.s.Gap
	}
	if m.allocs-prev.allocs >= p.s.Quiet {
		p.gap = p.s.Gap
		return false
	}
	if !p.startDone {
		p.startDone = true
		p.lastTrim, p.before = m.at, 0 // its yield does not tune the gap
		return true
	}
	if m.retained < p.s.Floor || m.at.Sub(p.lastTrim) < p.gap {
		return false
	}
	p.lastTrim, p.before = m.at, m.retained
	return true
}

// trimmed takes the sample read right after a trim and adapts the gap.
func (p *trimPolicy) trimmed(m memSample) {
	p.prev = m
	if p.before == 0 {
		return
	}
	if p.before > m.retained && p.before-m.retained >= p.s.Floor/4 {
		p.gap = p.s.Gap
		return
	}
	p.gap *= 2
	if p.gap > p.s.MaxGap {
		p.gap = p.s.MaxGap
	}
}

// memTrimmer runs the policy every Tick until closed.
type memTrimmer struct {
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// startTrimmer starts the trimmer; read and trim are the runtime's unless
// a test injects its own. trim's startup is true for the first trim, on
// the first quiet tick after start-up.
func startTrimmer(s trimSettings, read func() memSample, trim func(startup bool)) *memTrimmer {
	if read == nil {
		read = readMemSample()
	}
	if trim == nil {
		trim = func(bool) { debug.FreeOSMemory() }
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &memTrimmer{stop: cancel}
	p := &trimPolicy{s: s}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		startup := true
		// A tick.Clock: a tick costs one thread switch, not the five
		// of a Go timer's (internal/tick).
		tick.Every(ctx, s.Tick, func(time.Time) bool {
			if p.next(read()) {
				trim(startup)
				startup = false
				p.trimmed(read())
			}
			return true
		})
	}()
	return t
}

// gcPercent is the daemon's GOGC unless its environment sets one. Go's
// default (100) lets the heap grow to twice what is live, and never below
// 4 MB, before collecting; the daemon's live heap is 1.5–2.5 MB and it
// allocates 70 KB a second in a PCMU call, 150 KB in an Opus one, so at
// 50 a collection runs every few seconds in a call instead of every half
// minute (each about a millisecond of CPU), and the heap's resident pages
// stay near 2–3 MB instead of 4.
const gcPercent = 50

// tuneGC sets gcPercent unless GOGC is in the environment; it returns
// the setting in force.
func tuneGC(getenv func(string) string) string {
	if v := getenv("GOGC"); v != "" {
		return v + " (GOGC)"
	}
	debug.SetGCPercent(gcPercent)
	return strconv.Itoa(gcPercent)
}

// daemonTrim is the daemon's trim: the free heap back to the kernel and,
// the first time, once start-up is over, the pages of the binary and the
// libraries that start-up touched and the daemon does not use again
// (releaseFilePages). Those were most of an idle daemon's resident
// memory: 14 MB of the binary's pages right after start-up, 3.4 MB once
// the idle daemon had touched again what it uses (BENCHMARKS.md, item 2).
// Only once: pages given back are read again when used, and a call's
// pages stay resident for the next call.
func daemonTrim(log *slog.Logger) func(startup bool) {
	return func(startup bool) {
		debug.FreeOSMemory()
		if !startup {
			return
		}
		before := residentBytes()
		covered, err := releaseFilePages()
		if err != nil {
			log.Warn("memory: could not give the start-up pages back", "err", err)
		}
		log.Info("memory: start-up pages given back", "mappings_mb", mb1(covered), "resident_before_mb", mb1(before), "resident_after_mb", mb1(residentBytes()))
	}
}

// mb1 is n bytes in MB with one decimal.
func mb1(n uint64) float64 { return float64(n*10/(1<<20)) / 10 }

// Close stops the trimmer and joins it; it is idempotent.
func (t *memTrimmer) Close() {
	t.stop()
	t.wg.Wait()
}

// readMemSample returns a reader of the runtime/metrics counters the
// trimmer needs (cheap: no stop-the-world, unlike runtime.ReadMemStats).
func readMemSample() func() memSample {
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	return func() memSample {
		metrics.Read(samples)
		m := memSample{at: time.Now()}
		if samples[0].Value.Kind() == metrics.KindUint64 {
			m.allocs = samples[0].Value.Uint64()
		}
		if samples[1].Value.Kind() == metrics.KindUint64 && samples[2].Value.Kind() == metrics.KindUint64 {
			m.retained = samples[1].Value.Uint64() - samples[2].Value.Uint64()
		}
		return m
	}
}
