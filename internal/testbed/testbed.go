package testbed

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TB is what the test bed needs of the test, benchmark or program that
// starts a peer: the subset of testing.TB its helpers call. *testing.T and
// *testing.B satisfy it, and so does the bench harness, which runs the
// peers outside `go test` and turns Fatal into the failure of one figure.
type TB interface {
	// Helper marks the caller as a helper (testing.TB.Helper).
	Helper()
	// Cleanup registers f to run when the test or scope ends, last added
	// first (testing.TB.Cleanup); the peers are stopped this way.
	Cleanup(f func())
	Logf(format string, args ...any)
	Error(args ...any)
	Errorf(format string, args ...any)
	// Fatal and Fatalf must not return (testing.TB.FailNow).
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	// Skip must not return; Require calls it when the integration tests
	// are off.
	Skip(args ...any)
	// Setenv sets an environment variable until the cleanups run.
	Setenv(key, value string)
	// TempDir returns a fresh folder removed when the cleanups run.
	TempDir() string
}

// EnvIntegration is the variable that turns the integration tests on.
const EnvIntegration = "SOFTPHONE_INTEGRATION"

// Require skips t unless SOFTPHONE_INTEGRATION is set, and fails t when one
// of the named programs is not on PATH.
func Require(t TB, programs ...string) {
	t.Helper()
	if os.Getenv(EnvIntegration) == "" {
		t.Skip("SOFTPHONE_INTEGRATION is unset: integration test skipped")
	}
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("integration peer %q is not installed (make test installs it): %v", p, err)
		}
	}
}

// Integration reports whether the integration tests are turned on.
func Integration() bool { return os.Getenv(EnvIntegration) != "" }

var portMu sync.Mutex
var portsGiven = map[int]bool{}

// FreePort returns a port on 127.0.0.1 that is free for both UDP and TCP
// at the time of the call, and that this process has not handed out before,
// taken below the kernel's ephemeral port range.
// step > 1 asks for a run of step consecutive free ports (baresip binds
// TLS on port+1, for instance); the first is returned.
func FreePort(t TB, step int) int {
	t.Helper()
	if step < 1 {
		step = 1
	}
	portMu.Lock()
	defer portMu.Unlock()
	lo, hi := runRange()
	for try := 0; try < 200; try++ {
		// Ports are looked for below the kernel's ephemeral range: inside
		// it, any process's outgoing socket may take a port between this
		// pick and the peer's bind, and a machine busy with thousands of
		// connections seldom has a long run free.
		base := lo + rand.IntN(hi-lo-step)
		ok := true
		for p := base; p < base+step; p++ {
			if p > 65535 || portsGiven[p] || !portFree(p) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for p := base; p < base+step; p++ {
			portsGiven[p] = true
		}
		// Given back when the test ends (its peers are stopped by then:
		// cleanups run last-registered first): a long test binary would
		// otherwise run out of long free runs.
		t.Cleanup(func() {
			portMu.Lock()
			defer portMu.Unlock()
			for p := base; p < base+step; p++ {
				delete(portsGiven, p)
			}
		})
		return base
	}
	t.Fatalf("free port: no run of %d free ports found", step)
	return 0
}

// runRange is where FreePort looks for runs of ports: from 10000 up to
// the start of the kernel's ephemeral port range (32768 unless
// /proc/sys/net/ipv4/ip_local_port_range says otherwise).
func runRange() (lo, hi int) {
	lo, hi = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lo+1000 {
				hi = n
			}
		}
	}
	return lo, hi
}

func portFree(p int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	tl.Close()
	return true
}

// Dir makes a fresh folder for a peer under the test's temp dir.
func Dir(t TB, name string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// WaitFor polls cond every 20 ms until it returns true or the timeout ends;
// it reports whether cond became true. It is for waiting on other processes
// that offer no event to wait for (a port bound, a file written).
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Process is a peer started in the background. Its combined output is kept
// in Log and mirrored to a file in its folder.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Dir  string

	mu    sync.Mutex
	out   bytes.Buffer
	lines []chan string
	done  chan struct{}
	read  chan struct{} // closed when the output reader reached EOF
	err   error
}

// Start runs name with args in dir with extra environment, and stops it at
// cleanup (SIGTERM, then SIGKILL after 3 s). A process that reported a data
// race (a Go program built with -race, as SoftphoneBinary builds it with
// EnvRaceDaemon) fails t at cleanup with the report.
func Start(t TB, dir string, env []string, name string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	p := &Process{Name: name, Cmd: cmd, Dir: dir, done: make(chan struct{}), read: make(chan struct{})}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	pw.Close()
	logf, _ := os.Create(filepath.Join(dir, filepath.Base(name)+".log"))
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			if logf != nil {
				logf.WriteString(line + "\n")
			}
			for _, ch := range p.lines {
				select {
				case ch <- line:
				default:
				}
			}
			p.mu.Unlock()
		}
		pr.Close()
		if logf != nil {
			logf.Close()
		}
		close(p.read)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		// The reader ends at EOF, which a forked child may hold off for a
		// while: a race report comes before the process's exit, so a
		// bounded wait suffices.
		select {
		case <-p.read:
		case <-time.After(2 * time.Second):
		}
		if r := RaceReport(p.Log()); r != "" {
			t.Errorf("%s reported a data race (log in %s):\n%s", filepath.Base(name), dir, r)
		}
	})
	return p
}

// Stop ends the process (SIGTERM, then SIGKILL after 3 s) and waits for it.
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Signal(sigterm)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// RaceReport returns the first data race report (from the race
// detector's "WARNING: DATA RACE" to the end of its block) in a program's
// output, or "".
func RaceReport(out string) string {
	i := strings.Index(out, "WARNING: DATA RACE")
	if i < 0 {
		return ""
	}
	out = out[i:]
	if j := strings.Index(out, "\n=================="); j >= 0 {
		out = out[:j]
	}
	return strings.TrimSpace(out)
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, valid once Done is closed.
func (p *Process) Err() error { <-p.done; return p.err }

// Log returns everything the process printed so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// WaitLine waits until a line containing substr is printed (including lines
// printed before the call), or the timeout or exit ends the wait.
func (p *Process) WaitLine(substr string, timeout time.Duration) (string, error) {
	ch := make(chan string, 256)
	p.mu.Lock()
	for _, l := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(l, substr) {
			p.mu.Unlock()
			return l, nil
		}
	}
	p.lines = append(p.lines, ch)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		for i, c := range p.lines {
			if c == ch {
				p.lines = append(p.lines[:i], p.lines[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case l := <-ch:
			if strings.Contains(l, substr) {
				return l, nil
			}
		case <-p.done:
			return "", fmt.Errorf("%s exited (%v) before printing %q; output:\n%s", p.Name, p.err, substr, p.Log())
		case <-timer.C:
			return "", fmt.Errorf("%s did not print %q within %s; output:\n%s", p.Name, substr, timeout, p.Log())
		}
	}
}

// Run runs a command to completion with a timeout and returns its combined
// output.
func Run(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// ModuleRoot returns the folder holding go.mod, found upward from the
// calling test's source file.
func ModuleRoot(t TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	d := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			t.Fatal("go.mod not found above " + file)
		}
		d = parent
	}
}

var buildOnce sync.Once
var buildPath string
var buildErr error

// EnvRaceDaemon, when set, makes SoftphoneBinary build the daemon with
// -race (make test RACE_DAEMON=1), so that the end-to-end tests catch races
// in the daemon's own goroutines: Start fails a test whose process reported
// one. It is off by default: under the race detector the daemon needs
// several times the CPU, and on a loaded 2-core machine the audio-quality
// end-to-end tests then miss frames.
const EnvRaceDaemon = "SOFTPHONE_RACE_DAEMON"

// SoftphoneBinary builds cmd/softphone once per test process and returns the
// binary's path (with -race when EnvRaceDaemon is set).
func SoftphoneBinary(t TB) string {
	t.Helper()
	root := ModuleRoot(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "softphone-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "softphone")
		args := []string{"build", "-o", buildPath}
		if os.Getenv(EnvRaceDaemon) != "" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/softphone")...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}
