package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSippFailed means sipp ran but exited non-zero: a call failed (exit 1),
// sipp was stopped (97), no call ran (99) or sipp hit a fatal error (255,
// 254 for a socket it could not bind).
var ErrSippFailed = errors.New("testbed: sipp failed")

// SippOptions describes one sipp run. Only Scenario is required; a UAC also
// needs Target.
type SippOptions struct {
	// Scenario is a file name under internal/testbed/scenarios (for
	// example "invite_expect_200.xml"), a path to a scenario file, or the
	// name of a scenario built into sipp ("uac", "uas", ...) when it does
	// not end in ".xml".
	Scenario string
	// Target is the remote "host:port" ([remote_ip]:[remote_port]).
	Target string
	// Service is the user part of the request URI (-s, [service]).
	Service string
	// Transport is "udp" (default) or "tcp" (one socket: -t u1 / t1).
	Transport string
	// LocalPort is sipp's SIP port (-p); 0 picks a free one.
	LocalPort int
	// MediaPort is sipp's RTP port (-mp, [media_port]); 0 picks a free one.
	MediaPort int
	// Calls is the number of calls before sipp exits (-m); 0 means 1.
	Calls int
	// Rate is the call rate in calls per second (-r); 0 keeps sipp's
	// default (10).
	Rate int
	// Pause is the length of a scenario <pause/> without its own value
	// (-d); 0 keeps sipp's default of 0 (no pause).
	Pause time.Duration
	// AuthUser and AuthPass answer digest challenges (-au, -ap).
	AuthUser, AuthPass string
	// Vars are scenario variables, each passed as -set key value and read
	// in the scenario as [$key] (declared there with <Global variables>).
	Vars map[string]string
	// Extra arguments are passed to sipp before the target.
	Extra []string
	// Timeout ends sipp with a failure (-timeout, -timeout_error); 0 means
	// 30 s.
	Timeout time.Duration
}

// SippResult is what one sipp run left behind.
type SippResult struct {
	// ExitCode is sipp's exit status: 0 when every call succeeded.
	ExitCode int
	// Output is sipp's stdout and stderr (its final statistics screen).
	Output string
	// Messages is the message trace (-trace_msg): every SIP message sent
	// and received.
	Messages string
	// Errors is the error trace (-trace_err): unexpected messages and
	// failed calls.
	Errors string
	// Logs holds the lines written by the scenario's <log> actions
	// (-trace_logs).
	Logs string
	// Dir is the folder sipp ran in.
	Dir string
	// LocalPort and MediaPort are the ports sipp used.
	LocalPort, MediaPort int
}

// LogValue returns the value of the last "key=value" word written by a
// scenario <log> action, or "" when there is none. The reject scenario,
// for instance, logs "code=486".
func (r *SippResult) LogValue(key string) string {
	v := ""
	for _, f := range strings.Fields(r.Logs) {
		if s, ok := strings.CutPrefix(f, key+"="); ok {
			v = s
		}
	}
	return v
}

// ScenarioPath returns the path of a scenario file shipped in
// internal/testbed/scenarios.
func ScenarioPath(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "scenarios", name)
}

// RunSipp runs sipp to completion in a folder of its own with message and
// error traces on. It returns the result whenever sipp ran; the error is
// non-nil (wrapping ErrSippFailed, with the error trace) when sipp exited
// non-zero or did not finish within Timeout plus a grace period.
func RunSipp(t TB, o SippOptions) (*SippResult, error) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	pick := o.LocalPort == 0 && o.MediaPort == 0
	var (
		res *SippResult
		err error
	)
	for attempt := 1; ; attempt++ {
		oo := o
		var args []string
		res, args = prepareSipp(t, &oo)
		var out []byte
		out, err = runSippOnce(res.Dir, oo.Timeout+10*time.Second, args)
		res.Output = string(out)
		res.collect()
		// A port picked free may be taken before sipp binds it (see
		// StartSipp): sipp then exits 254 without sending anything.
		var ee *exec.ExitError
		if pick && attempt < 3 && errors.As(err, &ee) && ee.ExitCode() == 254 && sippBindFailed(res.Output) {
			t.Logf("sipp could not bind port %d or %d, trying fresh ports", res.LocalPort, res.MediaPort)
			continue
		}
		break
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		if ee.ExitCode() == -1 {
			return res, fmt.Errorf("%w: killed after %s: %v\n%s", ErrSippFailed, o.Timeout, err, res.Errors)
		}
		return res, fmt.Errorf("%w: %s exit %d\nerrors:\n%s\nlogs:\n%s", ErrSippFailed, o.Scenario, res.ExitCode, res.Errors, res.Logs)
	default:
		return res, fmt.Errorf("testbed: sipp: %w", err)
	}
}

// runSippOnce runs sipp in dir, killed after limit, and returns its output.
func runSippOnce(dir string, limit time.Duration, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// Sipp is a sipp running in the background, typically a UAS.
type Sipp struct {
	Proc *Process
	res  *SippResult
}

// StartSipp starts sipp in the background (for example the built-in "uas"
// scenario) and waits until its SIP port is bound. It is stopped at
// cleanup.
func StartSipp(t TB, o SippOptions) *Sipp {
	t.Helper()
	// Ports are picked free but not held, so another process may take one
	// before sipp binds it; sipp then exits at once and is started again
	// on fresh ports (only when the caller left the ports to be picked).
	pick := o.LocalPort == 0 && o.MediaPort == 0
	for attempt := 1; ; attempt++ {
		oo := o
		res, args := prepareSipp(t, &oo)
		s := &Sipp{res: res, Proc: Start(t, res.Dir, nil, "sipp", args...)}
		proto := "udp"
		if oo.Transport == "tcp" {
			proto = "tcp"
		}
		ok := WaitFor(5*time.Second, func() bool {
			select {
			case <-s.Proc.Done():
				return true
			default:
			}
			return portBound(proto, res.LocalPort)
		})
		select {
		case <-s.Proc.Done():
			if pick && attempt < 3 && sippBindFailed(s.Proc.Log()) {
				t.Logf("sipp could not bind port %d or %d, trying fresh ports", res.LocalPort, res.MediaPort)
				continue
			}
			t.Fatalf("sipp exited at start: %v\n%s", s.Proc.Err(), s.Proc.Log())
		default:
		}
		if !ok {
			t.Fatalf("sipp did not bind %s port %d\n%s", proto, res.LocalPort, s.Proc.Log())
		}
		return s
	}
}

// sippBindFailed reports whether sipp's output says it could not bind one
// of its sockets (errno 98, EADDRINUSE).
func sippBindFailed(out string) bool {
	return strings.Contains(out, "Unable to bind") || strings.Contains(out, "Address already in use")
}

// Addr is the sipp's SIP address, "127.0.0.1:port".
func (s *Sipp) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.res.LocalPort) }

// Port is the sipp's SIP port.
func (s *Sipp) Port() int { return s.res.LocalPort }

// WaitLog waits up to timeout for the running scenario's <log> actions to
// write a "key=value" word (sipp writes each line at once) and returns the
// value, or "" when none came.
func (s *Sipp) WaitLog(key string, timeout time.Duration) string {
	r := &SippResult{Dir: s.res.Dir}
	v := ""
	WaitFor(timeout, func() bool {
		r.Logs = r.read("logs.log")
		v = r.LogValue(key)
		return v != ""
	})
	return v
}

// Stop ends sipp (SIGTERM, then SIGKILL) and returns what it left behind.
func (s *Sipp) Stop() *SippResult {
	s.Proc.Stop()
	s.res.Output = s.Proc.Log()
	s.res.collect()
	return s.res
}

// Wait waits up to timeout for sipp to exit by itself (after -m calls)
// and returns its result; the error wraps ErrSippFailed on a non-zero exit
// or when it is still running.
func (s *Sipp) Wait(timeout time.Duration) (*SippResult, error) {
	select {
	case <-s.Proc.Done():
	case <-time.After(timeout):
		return s.Stop(), fmt.Errorf("%w: still running after %s", ErrSippFailed, timeout)
	}
	res := s.Stop()
	var ee *exec.ExitError
	if err := s.Proc.Err(); errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, fmt.Errorf("%w: exit %d\n%s", ErrSippFailed, res.ExitCode, res.Errors)
	} else if err != nil {
		return res, fmt.Errorf("testbed: sipp: %w", err)
	}
	return res, nil
}

func prepareSipp(t TB, o *SippOptions) (*SippResult, []string) {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Calls == 0 {
		o.Calls = 1
	}
	if o.LocalPort == 0 {
		o.LocalPort = FreePort(t, 1)
	}
	if o.MediaPort == 0 {
		o.MediaPort = FreePort(t, 4)
	}
	name := strings.TrimSuffix(filepath.Base(o.Scenario), ".xml")
	res := &SippResult{Dir: Dir(t, "sipp-"+name), LocalPort: o.LocalPort, MediaPort: o.MediaPort}
	var args []string
	if strings.HasSuffix(o.Scenario, ".xml") {
		p := o.Scenario
		if !filepath.IsAbs(p) && !strings.Contains(p, string(filepath.Separator)) {
			p = ScenarioPath(p)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("sipp: scenario: %v", err)
		}
		args = append(args, "-sf", p)
	} else {
		args = append(args, "-sn", o.Scenario)
	}
	switch o.Transport {
	case "", "udp":
		args = append(args, "-t", "u1")
	case "tcp":
		args = append(args, "-t", "t1")
	default:
		t.Fatalf("sipp: transport %q not supported (udp, tcp)", o.Transport)
	}
	args = append(args,
		"-i", "127.0.0.1", "-p", strconv.Itoa(o.LocalPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(o.MediaPort),
		"-m", strconv.Itoa(o.Calls),
		"-nostdin",
		"-trace_err", "-error_file", filepath.Join(res.Dir, "errors.log"),
		"-trace_msg", "-message_file", filepath.Join(res.Dir, "messages.log"),
		"-trace_logs", "-log_file", filepath.Join(res.Dir, "logs.log"),
		"-timeout", strconv.Itoa(int(o.Timeout.Seconds()+0.5))+"s", "-timeout_error",
	)
	if o.Service != "" {
		args = append(args, "-s", o.Service)
	}
	if o.Rate > 0 {
		args = append(args, "-r", strconv.Itoa(o.Rate))
	}
	if o.Pause > 0 {
		args = append(args, "-d", strconv.FormatInt(o.Pause.Milliseconds(), 10))
	}
	if o.AuthUser != "" {
		args = append(args, "-au", o.AuthUser, "-ap", o.AuthPass)
	}
	keys := make([]string, 0, len(o.Vars))
	for k := range o.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-set", k, o.Vars[k])
	}
	args = append(args, o.Extra...)
	if o.Target != "" {
		args = append(args, o.Target)
	}
	if err := os.WriteFile(filepath.Join(res.Dir, "command.txt"), []byte("sipp "+strings.Join(args, " ")+"\n"), 0o644); err != nil {
		t.Fatalf("sipp: %v", err)
	}
	return res, args
}

func (r *SippResult) collect() {
	r.Messages = r.read("messages.log")
	r.Errors = r.read("errors.log")
	r.Logs = r.read("logs.log")
}

// read returns a file of sipp's folder, "" when there is none (yet).
func (r *SippResult) read(name string) string {
	b, err := os.ReadFile(filepath.Join(r.Dir, name))
	if err != nil {
		return ""
	}
	return string(b)
}

// portBound reports whether a socket holds port for proto ("udp" or
// "tcp", listening) on any local address. It reads the kernel's socket
// tables instead of trying to bind the port: a trial bind would take the
// port for an instant and could make the very process being waited for
// fail its own bind.
func portBound(proto string, port int) bool {
	for _, table := range []string{proto, proto + "6"} {
		b, err := os.ReadFile("/proc/net/" + table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st ...
			fs := strings.Fields(line)
			if len(fs) < 4 {
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil || int(p) != port {
				continue
			}
			if proto == "tcp" && fs[3] != "0A" { // TCP_LISTEN
				continue
			}
			return true
		}
	}
	return false
}
