package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Pulse is a headless PulseAudio daemon of its own, reachable only through
// a unix socket in a temporary folder. It starts without any device; tests
// add virtual sinks, sources and headsets at run time.
type Pulse struct {
	// Dir holds the daemon's config, runtime folder, socket and log.
	Dir string
	// Socket is the path of the native-protocol unix socket.
	Socket string
	// RuntimeDir is used as XDG_RUNTIME_DIR and PULSE_RUNTIME_PATH.
	RuntimeDir string
	// Proc is the running daemon; cleanup stops it.
	Proc *Process
}

// StartPulse starts `pulseaudio -n -F cfg --daemonize=no` with only the
// native protocol module loaded (anonymous auth, socket in a temp folder),
// and waits until `pactl info` answers. The daemon is stopped at cleanup.
// It works as root: HOME points at the folder so no cookie from the real
// home is read or written.
func StartPulse(t testing.TB) *Pulse {
	t.Helper()
	// A short folder: unix socket paths are limited to 107 bytes, and
	// t.TempDir() contains the (possibly long) test name.
	dir, err := os.MkdirTemp("", "tbpulse-")
	if err != nil {
		t.Fatalf("pulse: temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &Pulse{
		Dir:        dir,
		Socket:     filepath.Join(dir, "native"),
		RuntimeDir: filepath.Join(dir, "run"),
	}
	if err := os.MkdirAll(p.RuntimeDir, 0o700); err != nil {
		t.Fatalf("pulse: runtime dir: %v", err)
	}
	cfg := filepath.Join(dir, "testbed.pa")
	conf := "# headless test daemon: no devices until a test adds them\n" +
		"load-module module-native-protocol-unix auth-anonymous=1 socket=" + p.Socket + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatalf("pulse: write config: %v", err)
	}
	env := append(p.Env(), "HOME="+dir)
	p.Proc = Start(t, dir, env, "pulseaudio", "-n", "-F", cfg,
		"--daemonize=no", "--exit-idle-time=-1", "--log-target=stderr",
		"--use-pid-file=no", "--disallow-exit=yes")
	ready := WaitFor(10*time.Second, func() bool {
		select {
		case <-p.Proc.Done():
			return true
		default:
		}
		_, err := p.run("info")
		return err == nil
	})
	select {
	case <-p.Proc.Done():
		t.Fatalf("pulse: daemon exited at start (%v):\n%s", p.Proc.Err(), p.Proc.Log())
	default:
	}
	if !ready {
		t.Fatalf("pulse: pactl info did not answer within 10 s:\n%s", p.Proc.Log())
	}
	return p
}

// Env returns the variables a child process needs to talk to this daemon:
// XDG_RUNTIME_DIR, PULSE_SERVER and PULSE_RUNTIME_PATH.
func (p *Pulse) Env() []string {
	return []string{
		"XDG_RUNTIME_DIR=" + p.RuntimeDir,
		"PULSE_SERVER=unix:" + p.Socket,
		"PULSE_RUNTIME_PATH=" + p.RuntimeDir,
	}
}

// Setenv points this test process at the daemon (for in-process clients
// such as malgo, which read PULSE_SERVER from the environment). It uses
// t.Setenv, so tests calling it cannot run in parallel.
func (p *Pulse) Setenv(t testing.TB) {
	t.Helper()
	for _, kv := range p.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Pid returns the daemon's process id.
func (p *Pulse) Pid() int { return p.Proc.Cmd.Process.Pid }

func (p *Pulse) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := append(p.Env(), "HOME="+p.Dir)
	return Run(ctx, p.Dir, env, "pactl", args...)
}

// Pactl runs pactl against this daemon and returns its output; an error
// fails t.
func (p *Pulse) Pactl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := p.run(args...)
	if err != nil {
		t.Fatalf("pulse: %v", err)
	}
	return out
}

// LoadModule loads a module and returns its index.
func (p *Pulse) LoadModule(t testing.TB, name string, args ...string) int {
	t.Helper()
	out := p.Pactl(t, append([]string{"load-module", name}, args...)...)
	idx, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("pulse: load-module %s printed %q, not a module index", name, out)
	}
	return idx
}

// UnloadModule unloads the module with index idx.
func (p *Pulse) UnloadModule(t testing.TB, idx int) {
	t.Helper()
	p.Pactl(t, "unload-module", strconv.Itoa(idx))
}

// AddSink creates a null sink named name whose description (the name apps
// show) is description, and returns its module index. Its monitor source is
// name+".monitor".
func (p *Pulse) AddSink(t testing.TB, name, description string) int {
	t.Helper()
	return p.LoadModule(t, "module-null-sink", "sink_name="+name, "rate=48000", "channels=2",
		"sink_properties="+propDescription(description))
}

// AddSource creates a silent null source (a microphone that is not a
// monitor) and returns its module index.
func (p *Pulse) AddSource(t testing.TB, name, description string) int {
	t.Helper()
	return p.LoadModule(t, "module-null-source", "source_name="+name, "rate=48000", "channels=1",
		fmt.Sprintf("description=%q", description))
}

// SetDefaultSink makes the named sink the server's default.
func (p *Pulse) SetDefaultSink(t testing.TB, name string) {
	t.Helper()
	p.Pactl(t, "set-default-sink", name)
}

// SetDefaultSource makes the named source the server's default.
func (p *Pulse) SetDefaultSource(t testing.TB, name string) {
	t.Helper()
	p.Pactl(t, "set-default-source", name)
}

// Headset is a virtual headset: a null sink (the earpiece) and a
// microphone remapped from the sink's monitor, so it is a real source and
// not a monitor.
type Headset struct {
	p *Pulse
	// SinkName and Description name the earpiece.
	SinkName, Description string
	// SourceName and MicDescription name the microphone
	// (SinkName+"_mic", Description+" Mic").
	SourceName, MicDescription string

	sinkMod, micMod int
	plugged         bool
}

// AddHeadset plugs a new virtual headset in.
func (p *Pulse) AddHeadset(t testing.TB, sinkName, description string) *Headset {
	t.Helper()
	h := &Headset{
		p:              p,
		SinkName:       sinkName,
		Description:    description,
		SourceName:     sinkName + "_mic",
		MicDescription: description + " Mic",
	}
	h.Plug(t)
	return h
}

// Plug loads the headset's modules (sink, then microphone); plugging a
// headset that is plugged in does nothing.
func (h *Headset) Plug(t testing.TB) {
	t.Helper()
	if h.plugged {
		return
	}
	h.sinkMod = h.p.AddSink(t, h.SinkName, h.Description)
	h.micMod = h.p.LoadModule(t, "module-remap-source", "source_name="+h.SourceName,
		"master="+h.SinkName+".monitor",
		"source_properties="+propDescription(h.MicDescription))
	h.plugged = true
}

// Unplug unloads the headset's modules (microphone, then sink); unplugging
// a headset that is not plugged in does nothing.
func (h *Headset) Unplug(t testing.TB) {
	t.Helper()
	if !h.plugged {
		return
	}
	h.p.UnloadModule(t, h.micMod)
	h.p.UnloadModule(t, h.sinkMod)
	h.plugged = false
}

// Plugged reports whether the headset is plugged in.
func (h *Headset) Plugged() bool { return h.plugged }

// propDescription quotes a device.description for a *_properties= module
// argument: single quotes around the proplist, double quotes around the
// value (PulseAudio's modargs and proplist parsers each strip one level).
func propDescription(d string) string {
	return `'device.description="` + d + `"'`
}
