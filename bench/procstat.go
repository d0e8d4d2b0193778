package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat;
// Linux fixes it at 100 for user space on every architecture we build for.
const clockTicks = 100

// ParseStatCPU returns utime+stime (in clock ticks) from the contents of
// /proc/<pid>/stat (proc(5): fields 14 and 15, counted after the command
// name in parentheses, which may itself hold spaces and parentheses).
func ParseStatCPU(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: no command name in stat", ErrBadProcStat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: %d fields after the name", ErrBadProcStat, len(f))
	}
	ut, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: utime: %v", ErrBadProcStat, err)
	}
	st, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stime: %v", ErrBadProcStat, err)
	}
	return ut + st, nil
}

// ParseStatusRSS returns VmRSS in kB from the contents of
// /proc/<pid>/status.
func ParseStatusRSS(status string) (int, error) { return ParseStatusKB(status, "VmRSS") }

// ParseStatusKB returns the kB figure of key (VmRSS, RssAnon, RssFile, …)
// from the contents of /proc/<pid>/status.
func ParseStatusKB(status, key string) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: %s line %q", ErrBadProcStat, key, sc.Text())
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrBadProcStat, key, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: no %s line", ErrBadProcStat, key)
}

// cpuTicks reads utime+stime of pid.
func cpuTicks(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: cpu of %d: %w", pid, err)
	}
	return ParseStatCPU(string(b))
}

// rssParts says what pid's resident memory is made of: anonymous
// (heaps, stacks) and file-backed (the binary, the libraries), in MB, and
// its thread count.
func rssParts(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", fmt.Errorf("bench: rss of %d: %w", pid, err)
	}
	anon, err := ParseStatusKB(string(b), "RssAnon")
	if err != nil {
		return "", err
	}
	file, err := ParseStatusKB(string(b), "RssFile")
	if err != nil {
		return "", err
	}
	threads := "?"
	if _, rest, ok := strings.Cut(string(b), "\nThreads:"); ok {
		if f := strings.Fields(rest); len(f) > 0 {
			threads = f[0]
		}
	}
	return fmt.Sprintf("anon %.1f file %.1f MB, %s threads", float64(anon)/1024, float64(file)/1024, threads), nil
}

// rssMB reads the resident set size of pid in MB (2^20 bytes).
func rssMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: rss of %d: %w", pid, err)
	}
	kb, err := ParseStatusRSS(string(b))
	return float64(kb) / 1024, err
}

// cpuMeter measures the share of one core a process used between Start
// and Stop.
type cpuMeter struct {
	pid     int
	ticks   uint64
	at      time.Time
	threads map[int]threadSample // with SOFTPHONE_BENCH_THREADS set
}

func startCPU(pid int) (*cpuMeter, error) {
	t, err := cpuTicks(pid)
	if err != nil {
		return nil, err
	}
	m := &cpuMeter{pid: pid, ticks: t, at: time.Now()}
	if os.Getenv("SOFTPHONE_BENCH_THREADS") != "" {
		m.threads = sampleThreads(pid)
	}
	return m, nil
}

// Threads is the per-thread account since start (threadAccount), or ""
// unless SOFTPHONE_BENCH_THREADS was set at start.
func (m *cpuMeter) Threads() string {
	if m.threads == nil {
		return ""
	}
	return threadAccount(m.pid, m.threads, time.Since(m.at))
}

// Percent returns the CPU used since start as a percentage of one core.
func (m *cpuMeter) Percent() (float64, error) {
	t, err := cpuTicks(m.pid)
	if err != nil {
		return 0, err
	}
	return CPUPercent(t-m.ticks, time.Since(m.at)), nil
}

// CPUPercent converts a tick delta over a wall-clock span into a
// percentage of one core.
func CPUPercent(ticks uint64, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * float64(ticks) / clockTicks / wall.Seconds()
}

// ParseHostStat reads the machine's busy and total time (ticks, all
// cores) from the first line of /proc/stat: user nice system idle iowait
// irq softirq steal (guest time is counted in user already); busy leaves
// out idle, iowait and steal.
func ParseHostStat(stat string) (busy, total uint64, err error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("%w: /proc/stat: %q", ErrBadProcStat, line)
	}
	for i, s := range f[1:min(len(f), 9)] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: /proc/stat: %v", ErrBadProcStat, err)
		}
		total += v
		if i != 3 && i != 4 && i != 7 {
			busy += v
		}
	}
	return busy, total, nil
}

func hostTicks() (busy, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("bench: host cpu: %w", err)
	}
	return ParseHostStat(string(b))
}

// hostMeter measures the whole machine's busy share between start and
// Percent, as cpuMeter does a process's.
type hostMeter struct{ busy, total uint64 }

func startHostCPU() (*hostMeter, error) {
	b, t, err := hostTicks()
	if err != nil {
		return nil, err
	}
	return &hostMeter{busy: b, total: t}, nil
}

// Percent returns the machine's busy share since start, 0-100 (all cores).
func (m *hostMeter) Percent() (float64, error) {
	b, t, err := hostTicks()
	if err != nil {
		return 0, err
	}
	if t <= m.total {
		return 0, fmt.Errorf("%w: /proc/stat did not move", ErrBadProcStat)
	}
	return 100 * float64(b-m.busy) / float64(t-m.total), nil
}
