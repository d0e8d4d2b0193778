package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// threadSample is one thread's running time and context switches, read
// from /proc/<pid>/task/<tid>/schedstat (nanoseconds on the CPU) and
// status (voluntary and involuntary switches).
type threadSample struct {
	name              string
	runNS, vol, invol uint64
}

// sampleThreads reads every thread of pid.
func sampleThreads(pid int) map[int]threadSample {
	out := map[int]threadSample{}
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, d := range dirs {
		tid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		var s threadSample
		if b, err := os.ReadFile(d + "/comm"); err == nil {
			s.name = strings.TrimSpace(string(b))
		}
		if b, err := os.ReadFile(d + "/schedstat"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				s.runNS, _ = strconv.ParseUint(f[0], 10, 64)
			}
		}
		if b, err := os.ReadFile(d + "/status"); err == nil {
			st := string(b)
			if v, err := ParseStatusCount(st, "voluntary_ctxt_switches"); err == nil {
				s.vol = v
			}
			if v, err := ParseStatusCount(st, "nonvoluntary_ctxt_switches"); err == nil {
				s.invol = v
			}
		}
		out[tid] = s
	}
	return out
}

// ParseStatusCount returns the number after key in /proc/<pid>/status.
func ParseStatusCount(status, key string) (uint64, error) {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
		}
	}
	return 0, fmt.Errorf("%w: no %s line", ErrBadProcStat, key)
}

// threadAccount says, per thread of pid since before, the share of a core
// it ran and its switches a second (voluntary/involuntary), the busiest
// first: where a process's CPU goes.
func threadAccount(pid int, before map[int]threadSample, wall time.Duration) string {
	after := sampleThreads(pid)
	type line struct {
		tid  int
		name string
		pct  float64
		v, i float64
	}
	var lines []line
	var total, tv, ti float64
	for tid, a := range after {
		b := before[tid]
		l := line{tid: tid, name: a.name,
			pct: 100 * float64(a.runNS-b.runNS) / float64(wall.Nanoseconds()),
			v:   float64(a.vol-b.vol) / wall.Seconds(), i: float64(a.invol-b.invol) / wall.Seconds()}
		total, tv, ti = total+l.pct, tv+l.v, ti+l.i
		if l.pct < 0.005 && l.v+l.i < 1 {
			continue
		}
		lines = append(lines, l)
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].pct > lines[j].pct })
	var sb strings.Builder
	fmt.Fprintf(&sb, "pid %d: %.2f %% core, %.0f/%.0f switches/s (voluntary/involuntary)", pid, total, tv, ti)
	for _, l := range lines {
		fmt.Fprintf(&sb, "\n  %-16s %6d %6.2f %% %6.0f/%-5.0f", l.name, l.tid, l.pct, l.v, l.i)
	}
	return sb.String()
}
