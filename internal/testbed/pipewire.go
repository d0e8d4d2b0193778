package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SoundServer names a sound server the test bed can run. Both speak the
// PulseAudio protocol, so the softphone (through libpulse) and the tests
// (through pactl, parec and paplay) talk to either the same way.
type SoundServer int

// The sound servers, in the order EachSoundServer runs them.
const (
	// PulseAudio is pulseaudio 16 on its own, as on older desktops.
	PulseAudio SoundServer = iota + 1
	// PipeWire is pipewire with wireplumber (its session manager) and
	// pipewire-pulse (its PulseAudio service), as Debian 12's desktops run
	// it.
	PipeWire
)

// SoundServers lists every sound server the tests run on.
var SoundServers = []SoundServer{PulseAudio, PipeWire}

// String returns "pulseaudio" or "pipewire".
func (s SoundServer) String() string {
	switch s {
	case PulseAudio:
		return "pulseaudio"
	case PipeWire:
		return "pipewire"
	default:
		return "unknown"
	}
}

// Programs lists the programs the sound server's test bed runs.
func (s SoundServer) Programs() []string {
	if s == PipeWire {
		return []string{"pipewire", "wireplumber", "pipewire-pulse", "dbus-daemon", "pactl"}
	}
	return []string{"pulseaudio", "pactl"}
}

// StartSoundServer starts the named sound server (StartPulse or
// StartPipeWire) after checking, as Require does, that its programs are
// installed.
func StartSoundServer(t testing.TB, s SoundServer) *Pulse {
	t.Helper()
	Require(t, s.Programs()...)
	if s == PipeWire {
		return StartPipeWire(t)
	}
	return StartPulse(t)
}

// EachSoundServer runs f as a subtest named after each sound server in
// SoundServers, so one test body proves the same behaviour on both.
func EachSoundServer(t *testing.T, f func(t *testing.T, s SoundServer)) {
	t.Helper()
	for _, s := range SoundServers {
		t.Run(s.String(), func(t *testing.T) { f(t, s) })
	}
}

// pipeWire holds the processes of a PipeWire sound server besides its
// PulseAudio service (Pulse.Proc).
type pipeWire struct {
	bus         *Process // a D-Bus session bus of its own
	daemon      *Process // pipewire
	wireplumber *Process
	env         []string
}

// StartPipeWire starts a headless PipeWire sound server as Debian 12's
// desktops run it, but private to the test: a D-Bus session bus of its own
// (wireplumber will not run without one), then pipewire, wireplumber and
// pipewire-pulse on a runtime folder (XDG_RUNTIME_DIR) in a temporary
// folder, with HOME and the XDG config and state folders there too. The
// packages' own configuration is used, with wireplumber told to leave ALSA,
// Bluetooth and cameras alone, so a machine's real sound cards are never
// touched. It waits until pactl answers and wireplumber has chosen a
// default sink; everything is stopped at cleanup.
//
// Like any PipeWire desktop, pipewire-pulse keeps a "Dummy Output" sink
// (auto_null, from module-always-sink) while there is no other sink.
func StartPipeWire(t testing.TB) *Pulse {
	t.Helper()
	// A short folder: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "tbpw-")
	if err != nil {
		t.Fatalf("pipewire: temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	run := filepath.Join(dir, "run")
	p := &Pulse{
		Server:     PipeWire,
		Dir:        dir,
		RuntimeDir: run,
		Socket:     filepath.Join(run, "pulse", "native"),
	}
	conf := map[string]string{
		"wireplumber/main.lua.d/90-testbed.lua": "-- test bed: no real devices\n" +
			"alsa_monitor.enabled = false\nv4l2_monitor.enabled = false\nlibcamera_monitor.enabled = false\n",
		"wireplumber/bluetooth.lua.d/90-testbed.lua": "-- test bed: no Bluetooth\nbluez_monitor.enabled = false\n",
	}
	for name, text := range conf {
		f := filepath.Join(dir, "config", name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatalf("pipewire: config dir: %v", err)
		}
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatalf("pipewire: write config: %v", err)
		}
	}
	if err := os.MkdirAll(run, 0o700); err != nil {
		t.Fatalf("pipewire: runtime dir: %v", err)
	}
	bus := filepath.Join(run, "bus")
	p.pw = &pipeWire{env: []string{
		"HOME=" + dir,
		"XDG_RUNTIME_DIR=" + run,
		"PIPEWIRE_RUNTIME_DIR=" + run,
		"PULSE_RUNTIME_PATH=" + filepath.Dir(p.Socket),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"XDG_STATE_HOME=" + filepath.Join(dir, "state"),
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + bus,
		"DISPLAY=",
	}}
	p.pw.bus = Start(t, dir, p.pw.env, "dbus-daemon", "--session", "--nofork", "--nopidfile",
		"--address=unix:path="+bus)
	if !WaitFor(10*time.Second, func() bool { return exists(bus) || exited(p.pw.bus) }) || exited(p.pw.bus) {
		t.Fatalf("pipewire: the session bus did not start:\n%s", p.pw.bus.Log())
	}
	p.launchPipeWire(t)
	return p
}

// launchPipeWire starts pipewire, then wireplumber and pipewire-pulse, and
// waits until the PulseAudio service answers with a default sink.
func (p *Pulse) launchPipeWire(t testing.TB) {
	t.Helper()
	w := p.pw
	w.daemon = Start(t, p.Dir, w.env, "pipewire")
	sock := filepath.Join(p.RuntimeDir, "pipewire-0")
	if !WaitFor(10*time.Second, func() bool { return exists(sock) || exited(w.daemon) }) || exited(w.daemon) {
		t.Fatalf("pipewire: the daemon did not start:\n%s", w.daemon.Log())
	}
	w.wireplumber = Start(t, p.Dir, w.env, "wireplumber")
	p.Proc = Start(t, p.Dir, w.env, "pipewire-pulse")
	var info string
	ready := WaitFor(10*time.Second, func() bool {
		if exited(w.daemon) || exited(w.wireplumber) || exited(p.Proc) {
			return true
		}
		var err error
		info, err = p.run("info")
		// Until wireplumber runs, nothing chooses the default sink and
		// pipewire-pulse reports the placeholder "@DEFAULT_SINK@".
		return err == nil && strings.Contains(info, "Default Sink: ") && !strings.Contains(info, "Default Sink: @")
	})
	for _, pr := range []*Process{w.daemon, w.wireplumber, p.Proc} {
		if exited(pr) {
			t.Fatalf("pipewire: %s exited at start (%v):\n%s", pr.Name, pr.Err(), pr.Log())
		}
	}
	if !ready {
		t.Fatalf("pipewire: no default sink within 10 s:\n%s\npipewire:\n%s\nwireplumber:\n%s\npipewire-pulse:\n%s",
			info, w.daemon.Log(), w.wireplumber.Log(), p.Proc.Log())
	}
}

// stopPipeWire stops the PulseAudio service, the session manager and the
// daemon, in that order.
func (p *Pulse) stopPipeWire() {
	for _, pr := range []*Process{p.Proc, p.pw.wireplumber, p.pw.daemon} {
		if pr != nil {
			pr.Stop()
		}
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func exited(p *Process) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}
