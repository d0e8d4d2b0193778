package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/control"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// The control surface's promises on a shared desktop host (SECURITY.md),
// tried against the real daemon with real processes: a second local
// account, slow and stalled TCP clients, a squatter on the API's port.

// neighbourName is the second local account the tests act as.
const neighbourName = "softphone-neighbour"

// envSquatter makes the test binary a squatter: it listens on the address
// the variable names and prints what it receives (see TestMain).
const envSquatter = "SOFTPHONE_TEST_SQUATTER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(envSquatter); addr != "" {
		os.Exit(squat(addr))
	}
	code := m.Run()
	if squatterPath != "" {
		_ = os.RemoveAll(filepath.Dir(squatterPath))
	}
	os.Exit(code)
}

// squat listens on addr, prints "listening", then for every connection
// "accepted" and each chunk received as "got: <bytes>", until killed.
func squat(addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("squatter:", err)
		return 1
	}
	fmt.Println("listening")
	var mu sync.Mutex
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		mu.Lock()
		fmt.Println("accepted")
		mu.Unlock()
		go func() {
			defer c.Close()
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					mu.Lock()
					fmt.Printf("got: %q\n", buf[:n])
					mu.Unlock()
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// neighbour is the second account: created with useradd when missing
// (the tests run as root under make test).
type neighbour struct{ uid, gid uint32 }

var (
	neighbourOnce sync.Once
	neighbourAcct neighbour
	neighbourErr  error
)

func getNeighbour(t *testing.T) neighbour {
	t.Helper()
	testbed.Require(t, "useradd", "curl")
	if os.Geteuid() != 0 {
		t.Fatalf("acting as a second local account needs root (make test runs as root); running as uid %d", os.Geteuid())
	}
	neighbourOnce.Do(func() {
		u, err := user.Lookup(neighbourName)
		if err != nil {
			out, aerr := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", neighbourName).CombinedOutput()
			// 9: the name exists (another test process made it meanwhile).
			var ee *exec.ExitError
			if aerr != nil && !(errors.As(aerr, &ee) && ee.ExitCode() == 9) {
				neighbourErr = fmt.Errorf("useradd %s: %v: %s", neighbourName, aerr, out)
				return
			}
			if u, err = user.Lookup(neighbourName); err != nil {
				neighbourErr = err
				return
			}
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		neighbourAcct = neighbour{uint32(uid), uint32(gid)}
	})
	if neighbourErr != nil {
		t.Fatal(neighbourErr)
	}
	if neighbourAcct.uid == uint32(os.Geteuid()) {
		t.Fatal("the neighbour has the test's own uid")
	}
	return neighbourAcct
}

// command runs as the neighbour.
func (n neighbour) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: n.uid, Gid: n.gid}}
	cmd.Dir = "/"
	return cmd
}

// curl sends one request as uid n (or as the test's own user when n is
// nil) and returns the status.
func curlStatus(t *testing.T, n *neighbour, method, url, body string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method, "--max-time", "20"}
	if body != "" {
		args = append(args, "-H", "Content-Type: application/json", "--data", body)
	}
	args = append(args, url)
	var cmd *exec.Cmd
	if n != nil {
		cmd = n.command(ctx, "curl", args...)
	} else {
		cmd = exec.CommandContext(ctx, "curl", args...)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl %s %s: %v %s", method, url, err, out)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("curl %s %s: %q", method, url, out)
	}
	return code
}

var (
	squatterOnce sync.Once
	squatterPath string
	squatterErr  error
)

// squatterBinary is this test binary copied where the neighbour may run
// it (the build folder is private to root).
func squatterBinary(t *testing.T) string {
	t.Helper()
	squatterOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			squatterErr = err
			return
		}
		dir, err := os.MkdirTemp("", "softphone-squatter-")
		if err != nil {
			squatterErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			squatterErr = err
			return
		}
		b, err := os.ReadFile(self)
		if err != nil {
			squatterErr = err
			return
		}
		squatterPath = filepath.Join(dir, "squatter")
		squatterErr = os.WriteFile(squatterPath, b, 0o755)
	})
	if squatterErr != nil {
		t.Fatal(squatterErr)
	}
	return squatterPath
}

// squatter is the neighbour's process listening on an address.
type squatter struct {
	mu  sync.Mutex
	out bytes.Buffer
}

func (s *squatter) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// startSquatter runs the squatter as the neighbour on addr and waits until
// it listens.
func startSquatter(t *testing.T, n neighbour, addr string) *squatter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := n.command(ctx, squatterBinary(t))
	cmd.Env = append(os.Environ(), envSquatter+"="+addr)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &squatter{}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.out.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			select {
			case ready <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); pw.Close() })
	select {
	case l := <-ready:
		if l != "listening" {
			t.Fatalf("squatter: %s", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("squatter did not listen: %s", s.output())
	}
	return s
}

// secConfig is a daemon configuration without audio devices: loopback
// ports chosen now, a token file in its own folder, extra [control] lines.
func secConfig(t *testing.T, control string) (cfg, listen, tokenFile string) {
	t.Helper()
	sipPort := testbed.FreePort(t, 1)
	ctl := testbed.FreePort(t, 1)
	rtp := testbed.FreePort(t, 1)
	dir := t.TempDir()
	tokenFile = filepath.Join(dir, "token")
	listen = fmt.Sprintf("127.0.0.1:%d", ctl)
	cfg = writeConfig(t, fmt.Sprintf(`[policy.endpoint]
sip_address = 127.0.0.1
sip_port = %d
rtp_port_min = %d
rtp_port_max = %d

[control]
listen = %s
token_file = %s
%s

[system.audio]
backend = null

[system.log]
level = debug
`, sipPort, rtp-rtp%2+2, rtp-rtp%2+200, listen, tokenFile, control))
	return cfg, listen, tokenFile
}

// startSecDaemon starts the daemon on cfg and returns it with a TCP client.
func startSecDaemon(t *testing.T, cfg string) *daemon {
	t.Helper()
	return startDaemon(t, nil, cfg)
}

// TestSecurityNeighbourConnector: with connector_without_token = 1, the
// daemon's own user drives the token-less Connector routes, and a second
// local account gets 403 on each of them — it cannot read the session,
// mute, end calls or unregister — and 401 on /v1/. The start-up log says
// the routes are open; each request is logged with address and uid.
func TestSecurityNeighbourConnector(t *testing.T) {
	n := getNeighbour(t)
	cfg, listen, _ := secConfig(t, "connector_without_token = 1")
	d := startSecDaemon(t, cfg)
	if _, err := d.proc.WaitLine("connector routes are open without a token", 5*time.Second); err != nil {
		t.Error(err)
	}
	base := "http://" + listen
	if got := curlStatus(t, nil, "GET", base+"/session", ""); got != 200 {
		t.Errorf("own user GET /session: %d, want 200", got)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/session", ""},
		{"POST", "/audio", `{"microphone":{"muted":true}}`},
		{"DELETE", "/calls", ""},
		{"DELETE", "/register", ""},
		{"DELETE", "/session", ""},
	} {
		if got := curlStatus(t, &n, r.method, base+r.path, r.body); got != 403 {
			t.Errorf("neighbour %s %s: %d, want 403", r.method, r.path, got)
		}
	}
	if got := curlStatus(t, &n, "GET", base+"/v1/status", ""); got != 401 {
		t.Errorf("neighbour GET /v1/status: %d, want 401", got)
	}
	want := fmt.Sprintf("uid=%d", n.uid)
	line, err := d.proc.WaitLine("connector request refused", 5*time.Second)
	if err != nil || !strings.Contains(line, want) || !strings.Contains(line, "remote=127.0.0.1:") {
		t.Errorf("refusal log line %q (%v), want the neighbour's %s and address", line, err, want)
	}
	if got := curlStatus(t, nil, "DELETE", base+"/calls", ""); got != 200 {
		t.Errorf("own user DELETE /calls: %d, want 200", got)
	}
	line, err = d.proc.WaitLine(`msg="connector request" component=control method=DELETE path=/calls`, 5*time.Second)
	if err != nil || !strings.Contains(line, fmt.Sprintf("uid=%d", os.Geteuid())) || !strings.Contains(line, "auth=own-user") {
		t.Errorf("action log line %q (%v), want the own uid", line, err)
	}
}

// TestSecurityCLIRefusesSquatter: while the agent's daemon is down,
// another user listens on its port. The command line, on TCP (no unix
// socket configured), finds the listener is not the agent's and sends
// nothing; `softphone page` prints no token; the daemon does not start
// beside it. With the default unix socket the command line never tries
// the port at all.
func TestSecurityCLIRefusesSquatter(t *testing.T) {
	n := getNeighbour(t)
	cfg, listen, tokenFile := secConfig(t, "unix_socket = none")
	tok, err := control.LoadOrCreateToken(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	sq := startSquatter(t, n, listen)
	out, errOut, code := runCLI(t, nil, "status", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, fmt.Sprintf("served by uid %d", n.uid)) || !strings.Contains(errOut, "token was not sent") {
		t.Errorf("status beside a squatter: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, nil, "page", "-c", cfg)
	if code != 1 || strings.Contains(out, tok) || !strings.Contains(errOut, fmt.Sprintf("served by uid %d", n.uid)) {
		t.Errorf("page beside a squatter: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = runCLI(t, nil, "token", "rotate", "-c", cfg); code != 1 {
		t.Errorf("token rotate beside a squatter: exit %d\n%s%s", code, out, errOut)
	}
	p := testbed.Start(t, testbed.Dir(t, "daemon"), nil, testbed.SoftphoneBinary(t), "run", "-c", cfg)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon started beside the squatter")
	}
	if !strings.Contains(p.Log(), "address already in use") {
		t.Errorf("daemon log does not say why it stopped:\n%s", p.Log())
	}
	if strings.Contains(sq.output(), tok) || strings.Contains(sq.output(), "Authorization") {
		t.Fatalf("the squatter received the token:\n%s", sq.output())
	}
	if strings.Contains(sq.output(), "got:") {
		t.Errorf("the squatter received data:\n%s", sq.output())
	}

	// The default: the command line uses the unix socket, not the port.
	cfg2, _, tokenFile2 := secConfig(t, "")
	if _, err := control.LoadOrCreateToken(tokenFile2); err != nil {
		t.Fatal(err)
	}
	c2, _, _ := config.Load(cfg2)
	sq2 := startSquatter(t, n, c2.Control.Listen)
	if _, errOut, code := runCLI(t, nil, "status", "-c", cfg2); code != 1 || !strings.Contains(errOut, "api.sock") {
		t.Errorf("status with no daemon: exit %d %s", code, errOut)
	}
	if strings.Contains(sq2.output(), "accepted") {
		t.Errorf("the command line connected to the port although the unix socket is configured:\n%s", sq2.output())
	}
}

// TestSecurityPrivateFiles: start-up refuses a token or lock file that
// another user could read, replace or redirect, naming the fix; a lock
// file symlink leaves its target untouched. check-config and start-up
// refuse a listener beyond loopback without allow_remote, and a wildcard
// origin.
func TestSecurityPrivateFiles(t *testing.T) {
	n := getNeighbour(t)
	long := strings.Repeat("5a", 32)
	writeTok := func(t *testing.T, path, tok string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(tok+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, tokenFile string)
		want  []string
	}{
		{"token of another user", func(t *testing.T, tf string) {
			writeTok(t, tf, long, 0o600)
			if err := os.Chown(tf, int(n.uid), int(n.gid)); err != nil {
				t.Fatal(err)
			}
		}, []string{fmt.Sprintf("belongs to uid %d", n.uid), "rm TOKEN"}},
		{"token a symlink", func(t *testing.T, tf string) {
			writeTok(t, tf+".real", long, 0o600)
			if err := os.Symlink(tf+".real", tf); err != nil {
				t.Fatal(err)
			}
		}, []string{"is a symbolic link: remove it"}},
		{"token readable by others", func(t *testing.T, tf string) { writeTok(t, tf, long, 0o644) }, []string{"mode 0644", "chmod 600"}},
		{"token too short", func(t *testing.T, tf string) { writeTok(t, tf, "short", 0o600) }, []string{"want at least 43", "softphone token rotate"}},
		{"folder writable by others", func(t *testing.T, tf string) {
			writeTok(t, tf, long, 0o600)
			if err := os.Chmod(filepath.Dir(tf), 0o777); err != nil {
				t.Fatal(err)
			}
		}, []string{"writable by group or others", "chmod go-w"}},
		{"lock file a symlink", func(t *testing.T, tf string) {
			victim := filepath.Join(t.TempDir(), "precious")
			writeTok(t, victim, "precious", 0o600)
			if err := os.Symlink(victim, filepath.Join(filepath.Dir(tf), "softphone.lock")); err != nil {
				t.Fatal(err)
			}
		}, []string{"lock:", "is a symbolic link"}},
		{"lock file of another user", func(t *testing.T, tf string) {
			lock := filepath.Join(filepath.Dir(tf), "softphone.lock")
			writeTok(t, lock, "", 0o600)
			if err := os.Chown(lock, int(n.uid), int(n.gid)); err != nil {
				t.Fatal(err)
			}
		}, []string{"lock:", fmt.Sprintf("belongs to uid %d", n.uid)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, tf := secConfig(t, "")
			tc.setup(t, tf)
			_, errOut, code := runCLI(t, nil, "run", "-c", cfg)
			if code == 0 {
				t.Fatalf("the daemon ran:\n%s", errOut)
			}
			for _, w := range tc.want {
				w = strings.ReplaceAll(w, "TOKEN", tf)
				if !strings.Contains(errOut, w) {
					t.Errorf("start-up error lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	t.Run("lock symlink target untouched", func(t *testing.T) {
		cfg, _, tf := secConfig(t, "")
		writeTok(t, tf, long, 0o600)
		victim := filepath.Join(t.TempDir(), "precious")
		writeTok(t, victim, "precious", 0o600)
		if err := os.Symlink(victim, filepath.Join(filepath.Dir(tf), "softphone.lock")); err != nil {
			t.Fatal(err)
		}
		if _, errOut, code := runCLI(t, nil, "run", "-c", cfg); code == 0 || !strings.Contains(errOut, "symbolic link") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
			t.Errorf("the link's target now holds %q", b)
		}
	})
	t.Run("listen beyond loopback", func(t *testing.T) {
		port := testbed.FreePort(t, 1)
		cfg, _, _ := secConfig(t, "")
		body, _ := os.ReadFile(cfg)
		remote := strings.Replace(string(body), "listen = 127.0.0.1:", "listen = 0.0.0.0:", 1)
		bad := writeConfig(t, remote)
		for _, args := range [][]string{{"check-config", "-c", bad}, {"run", "-c", bad}} {
			if _, errOut, code := runCLI(t, nil, args...); code != 1 || !strings.Contains(errOut, "[control] listen") || !strings.Contains(errOut, "allow_remote = 1") {
				t.Errorf("%s: exit %d: %s", args[0], code, errOut)
			}
		}
		ok := writeConfig(t, strings.Replace(remote, "[control]\n", "[control]\nallow_remote = 1\n", 1))
		if out, errOut, code := runCLI(t, nil, "check-config", "-c", ok); code != 0 || !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "beyond this machine") {
			t.Errorf("allow_remote: exit %d: %s%s", code, out, errOut)
		}
		wild := writeConfig(t, strings.Replace(string(body), "[control]\n", fmt.Sprintf("[control]\nallowed_origins = http://*.example.com:%d\n", port), 1))
		if _, errOut, code := runCLI(t, nil, "check-config", "-c", wild); code != 1 || !strings.Contains(errOut, "wildcard") {
			t.Errorf("wildcard origin: exit %d: %s", code, errOut)
		}
	})
}

// rawRequest writes head to a new connection to addr and returns the
// connection.
func rawRequest(t *testing.T, addr, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestSecuritySlowClients: an unauthenticated request whose body never
// finishes gets its 401 at once and loses its connection; 100 stalled
// connections hold at most max_connections of the daemon's descriptors,
// the command line gets through the unix socket and a TCP client behind
// them is answered while they stall (they are shed). max_event_streams
// bounds the event streams.
func TestSecuritySlowClients(t *testing.T) {
	testbed.Require(t)
	const maxConns = 8
	cfg, listen, _ := secConfig(t, fmt.Sprintf("max_connections = %d\nmax_event_streams = 2", maxConns))
	d := startSecDaemon(t, cfg)
	pid := d.proc.Cmd.Process.Pid

	c := rawRequest(t, listen, fmt.Sprintf("POST /v1/calls HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"uri\":\"sip:", listen))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // hang guard: the read deadline is 10 s
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a token-less request with an unfinished body: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("status %d, want 401", resp.StatusCode)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Errorf("connection kept after the 401: %v, then %q", err, rest)
	}
	c.Close()

	before := openFDs(t, pid)
	var stalled []net.Conn
	for range 100 {
		stalled = append(stalled, rawRequest(t, listen, "GET / HTTP/1.1\r\nHost: "+listen+"\r\nX-Stalled: "))
	}
	// The CLI over the unix socket is served meanwhile; by then the daemon
	// has accepted what it will.
	if out, errOut, code := runCLI(t, nil, "status", "-c", cfg); code != 0 || !strings.Contains(out, "version") {
		t.Errorf("status during the flood: exit %d %s%s", code, out, errOut)
	}
	during := openFDs(t, pid)
	t.Logf("daemon descriptors: %d before, %d with 100 stalled clients (cap %d)", before, during, maxConns)
	if during > before+maxConns+4 {
		t.Errorf("%d descriptors with 100 stalled clients, %d before: the cap of %d did not hold", during, before, maxConns)
	}
	// A TCP client behind them is answered while they still stall: the
	// daemon sheds connections that wait for a header while it is full.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.client.Status(ctx); err != nil {
		t.Errorf("TCP API during the flood: %v", err)
	}
	for i, s := range stalled[:maxConns] {
		_ = s.SetReadDeadline(time.Now().Add(5 * time.Second)) // hang guard
		if _, err := io.ReadAll(s); err != nil {
			t.Errorf("stalled client %d kept its connection: %v", i, err)
		}
	}

	// Two event streams are served; a third is refused with 503.
	ectx, ecancel := context.WithCancel(context.Background())
	defer ecancel()
	first := make(chan struct{}, 2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			var once sync.Once
			done <- d.client.Events(ectx, func(phone.Event) { once.Do(func() { first <- struct{}{} }) })
		}()
		select {
		case <-first:
		case <-time.After(10 * time.Second):
			t.Fatal("event stream did not open")
		}
	}
	req, _ := http.NewRequest("GET", "http://"+listen+"/v1/events", nil)
	tok, _ := control.ReadToken(mustTokenFile(t, cfg))
	req.Header.Set("Authorization", "Bearer "+tok)
	r3, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	if r3.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third event stream: %d, want 503", r3.StatusCode)
	}
	ecancel()
	<-done
	<-done
}

func mustTokenFile(t *testing.T, cfg string) string {
	t.Helper()
	c, _, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.Control.TokenFile
}

// TestSecurityBrowserHardening against the daemon: nosniff and no-store,
// a cross-site request without Origin refused, a body that is not JSON
// refused.
func TestSecurityBrowserHardening(t *testing.T) {
	testbed.Require(t)
	cfg, listen, _ := secConfig(t, "")
	startSecDaemon(t, cfg)
	tok, err := control.ReadToken(mustTokenFile(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	send := func(method, path, body string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+listen+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := send("GET", "/v1/status", ""); r.StatusCode != 200 || r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("status: %d %v", r.StatusCode, r.Header)
	}
	if r := send("POST", "/v1/hangup", "{}", "Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"); r.StatusCode != 403 {
		t.Errorf("cross-site without Origin: %d, want 403", r.StatusCode)
	}
	if r := send("POST", "/v1/hangup", "{}", "Content-Type", "text/plain"); r.StatusCode != 415 {
		t.Errorf("text/plain body: %d, want 415", r.StatusCode)
	}
}

// TestSecurityTokenRotate: `softphone token rotate` against the running
// daemon: the old token fails at once, an event stream opened with it
// ends, the command line goes on with the new one. With the daemon
// stopped, the command rewrites the file itself.
func TestSecurityTokenRotate(t *testing.T) {
	testbed.Require(t)
	cfg, _, tokenFile := secConfig(t, "")
	d := startSecDaemon(t, cfg)
	old, err := control.ReadToken(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		var once sync.Once
		ended <- d.client.Events(context.Background(), func(phone.Event) { once.Do(func() { close(opened) }) })
	}()
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("event stream did not open")
	}
	out, errOut, code := runCLI(t, nil, "token", "rotate", "-c", cfg)
	if code != 0 || !strings.Contains(out, "rotated by the running daemon") {
		t.Fatalf("token rotate: exit %d %s%s", code, out, errOut)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, control.ErrStreamEnded) {
			t.Errorf("stream: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the event stream opened with the old token goes on")
	}
	ctx := context.Background()
	var ae *control.APIError
	if _, err := d.client.Status(ctx); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("old token: %v, want 401", err)
	}
	nt, err := control.ReadToken(tokenFile)
	if err != nil || nt == old {
		t.Fatalf("token file %q (%v)", nt, err)
	}
	if out, errOut, code := runCLI(t, nil, "status", "-c", cfg); code != 0 {
		t.Errorf("status with the new token: exit %d %s%s", code, out, errOut)
	}
	d.proc.Stop()
	out, errOut, code = runCLI(t, nil, "token", "rotate", "-c", cfg)
	if code != 0 || !strings.Contains(out, "no daemon running") {
		t.Fatalf("token rotate without a daemon: exit %d %s%s", code, out, errOut)
	}
	if again, _ := control.ReadToken(tokenFile); again == nt || len(again) != 64 {
		t.Errorf("token file after the offline rotation: %q", again)
	}
}

// TestCLIFlagsAnywhere (issue 10, part 6): -c and a command's flags are
// accepted before or after its arguments on every command.
func TestCLIFlagsAnywhere(t *testing.T) {
	testbed.Require(t)
	cfg, _, _ := secConfig(t, "")
	startSecDaemon(t, cfg)
	for _, args := range [][]string{
		{"reject", "--code", "480", "-c", cfg},
		{"reject", "-c", cfg, "c9", "--code", "480"},
		{"reject", "c9", "--code=480", "-c=" + cfg},
		{"dtmf", "5", "-c", cfg, "--call", "c9"},
		{"hangup", "c9", "-c", cfg},
	} {
		_, errOut, code := runCLI(t, nil, args...)
		if code != 1 || strings.Contains(errOut, "flag provided but not defined") || !strings.Contains(errOut, "call") {
			t.Errorf("%q: exit %d, %s (want the daemon's refusal: there is no call)", args, code, errOut)
		}
	}
	for _, args := range [][]string{
		{"status", "--json", "-c", cfg},
		{"calls", "-c", cfg, "--json"},
		{"check-config", "-c", cfg},
		{"devices", "--json", "-c", cfg},
	} {
		if out, errOut, code := runCLI(t, nil, args...); code != 0 {
			t.Errorf("%q: exit %d %s%s", args, code, out, errOut)
		}
	}
	if _, errOut, code := runCLI(t, nil, "check-config", "-c", cfg, "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("check-config with an argument: exit %d %s", code, errOut)
	}
}
