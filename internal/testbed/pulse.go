package testbed

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pulse is a headless sound server of its own speaking the PulseAudio
// protocol, reachable only through a unix socket in a temporary folder:
// PulseAudio itself (StartPulse) or PipeWire with its PulseAudio service
// (StartPipeWire). It starts without any headset; tests add virtual sinks,
// sources and headsets at run time through pactl, the same way on both.
type Pulse struct {
	// Server says which sound server runs.
	Server SoundServer
	// Dir holds the daemon's config, runtime folder, socket and log.
	Dir string
	// Socket is the path of the native-protocol unix socket.
	Socket string
	// RuntimeDir is used as XDG_RUNTIME_DIR and PULSE_RUNTIME_PATH.
	RuntimeDir string
	// Proc is the running process that serves the PulseAudio protocol
	// (pulseaudio, or pipewire-pulse); cleanup stops it. Stop ends the
	// whole sound server.
	Proc *Process

	cfg string    // PulseAudio: the daemon's configuration script
	pw  *pipeWire // PipeWire: its other processes
}

// StartPulse starts `pulseaudio -n -F cfg --daemonize=no` with only the
// native protocol module loaded (anonymous auth, socket in a temp folder),
// and waits until `pactl info` answers. The daemon is stopped at cleanup.
// It works as root: HOME points at the folder so no cookie from the real
// home is read or written.
func StartPulse(t TB) *Pulse {
	t.Helper()
	// A short folder: unix socket paths are limited to 107 bytes, and
	// t.TempDir() contains the (possibly long) test name.
	dir, err := os.MkdirTemp("", "tbpulse-")
	if err != nil {
		t.Fatalf("pulse: temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := &Pulse{
		Server:     PulseAudio,
		Dir:        dir,
		Socket:     filepath.Join(dir, "native"),
		RuntimeDir: filepath.Join(dir, "run"),
	}
	if err := os.MkdirAll(p.RuntimeDir, 0o700); err != nil {
		t.Fatalf("pulse: runtime dir: %v", err)
	}
	p.cfg = filepath.Join(dir, "testbed.pa")
	conf := "# headless test daemon: no devices until a test adds them\n" +
		"load-module module-native-protocol-unix auth-anonymous=1 socket=" + p.Socket + "\n"
	if err := os.WriteFile(p.cfg, []byte(conf), 0o644); err != nil {
		t.Fatalf("pulse: write config: %v", err)
	}
	p.launch(t)
	return p
}

// Restart stops the daemon if it runs and starts it again on the same
// socket, as a desktop restarts its sound server: the modules loaded
// before (sinks, sources, headsets) are gone.
func (p *Pulse) Restart(t TB) {
	t.Helper()
	p.Stop()
	_ = os.Remove(p.Socket)
	if p.Server == PipeWire {
		p.launchPipeWire(t)
		return
	}
	p.launch(t)
}

// Stop ends the sound server, as when it crashes: PulseAudio's daemon, or
// PipeWire's three processes (its session bus stays, as on a desktop).
// Restart starts it again.
func (p *Pulse) Stop() {
	if p.Server == PipeWire {
		p.stopPipeWire()
		return
	}
	p.Proc.Stop()
}

// launch starts the PulseAudio daemon and waits until it answers.
func (p *Pulse) launch(t TB) {
	t.Helper()
	dir := p.Dir
	env := append(p.Env(), "HOME="+dir)
	p.Proc = Start(t, dir, env, "pulseaudio", "-n", "-F", p.cfg,
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
}

// Env returns the variables a child process needs to talk to this daemon:
// XDG_RUNTIME_DIR, PULSE_SERVER and PULSE_RUNTIME_PATH.
func (p *Pulse) Env() []string {
	runtimePath := p.RuntimeDir
	if p.Server == PipeWire {
		runtimePath = filepath.Dir(p.Socket)
	}
	return []string{
		"XDG_RUNTIME_DIR=" + p.RuntimeDir,
		"PULSE_SERVER=unix:" + p.Socket,
		"PULSE_RUNTIME_PATH=" + runtimePath,
	}
}

// Setenv points this test process at the daemon (for in-process clients
// such as malgo, which read PULSE_SERVER from the environment). It uses
// t.Setenv, so tests calling it cannot run in parallel.
func (p *Pulse) Setenv(t TB) {
	t.Helper()
	for _, kv := range p.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Pid returns the process id of the process serving the PulseAudio
// protocol: pulseaudio, or pipewire-pulse.
func (p *Pulse) Pid() int { return p.Proc.Cmd.Process.Pid }

func (p *Pulse) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := append(p.Env(), "HOME="+p.Dir)
	return Run(ctx, p.Dir, env, "pactl", args...)
}

// Pactl runs pactl against this daemon and returns its output; an error
// fails t.
func (p *Pulse) Pactl(t TB, args ...string) string {
	t.Helper()
	out, err := p.run(args...)
	if err != nil {
		t.Fatalf("pulse: %v", err)
	}
	return out
}

// LoadModule loads a module and returns its index.
func (p *Pulse) LoadModule(t TB, name string, args ...string) int {
	t.Helper()
	out := p.Pactl(t, append([]string{"load-module", name}, args...)...)
	idx, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("pulse: load-module %s printed %q, not a module index", name, out)
	}
	return idx
}

// UnloadModule unloads the module with index idx.
func (p *Pulse) UnloadModule(t TB, idx int) {
	t.Helper()
	p.Pactl(t, "unload-module", strconv.Itoa(idx))
}

// AddSink creates a null sink named name whose description (the name apps
// show) is description, and returns its module index. Its monitor source is
// name+".monitor".
func (p *Pulse) AddSink(t TB, name, description string) int {
	t.Helper()
	return p.LoadModule(t, "module-null-sink", "sink_name="+name, "rate=48000", "channels=2",
		"sink_properties="+propDescription(description))
}

// AddSource creates a silent null source (a microphone that is not a
// monitor) and returns its module index. PipeWire's PulseAudio service has
// no module-null-source: there a null sink of media class
// Audio/Source/Virtual is the same device.
func (p *Pulse) AddSource(t TB, name, description string) int {
	t.Helper()
	if p.Server == PipeWire {
		return p.LoadModule(t, "module-null-sink", "media.class=Audio/Source/Virtual", "sink_name="+name,
			"rate=48000", "channels=1", "sink_properties="+propDescription(description))
	}
	return p.LoadModule(t, "module-null-source", "source_name="+name, "rate=48000", "channels=1",
		fmt.Sprintf("description=%q", description))
}

// SetDefaultSink makes the named sink the server's default.
func (p *Pulse) SetDefaultSink(t TB, name string) {
	t.Helper()
	p.setDefault(t, "sink", name)
}

// SetDefaultSource makes the named source the server's default.
func (p *Pulse) SetDefaultSource(t TB, name string) {
	t.Helper()
	p.setDefault(t, "source", name)
}

// setDefault sets the default sink or source (what) and returns once the
// server reports it. PipeWire's session manager has not taken a default
// set right after the device appeared in some loaded make test runs (the
// server kept the old one): it is asked every 100 ms, and the default set
// again each second, for up to 10 s.
func (p *Pulse) setDefault(t TB, what, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.Pactl(t, "set-default-"+what, name)
		for range 10 {
			if strings.TrimSpace(p.Pactl(t, "get-default-"+what)) == name {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's default %s is still %q, not %q", what, strings.TrimSpace(p.Pactl(t, "get-default-"+what)), name)
		}
		t.Logf("the server has not taken %q as its default %s: set again", name, what)
	}
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
func (p *Pulse) AddHeadset(t TB, sinkName, description string) *Headset {
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
func (h *Headset) Plug(t TB) {
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
func (h *Headset) Unplug(t TB) {
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

// Recording is a parec run recording a source (often a sink's
// ".monitor") as raw S16LE mono at a fixed rate.
type Recording struct {
	// File holds the raw samples.
	File string
	// Rate is the sample rate of the recording.
	Rate int
	proc *Process
}

// Record starts `parec` on the named source, recording S16LE mono at rate
// Hz into a file of its own, until Stop (or cleanup).
func (p *Pulse) Record(t TB, source string, rate int) *Recording {
	t.Helper()
	dir := Dir(t, "parec-"+source)
	r := &Recording{File: filepath.Join(dir, "rec.raw"), Rate: rate}
	env := append(p.Env(), "HOME="+p.Dir)
	r.proc = Start(t, dir, env, "parec", "-d", source, "--raw", "--format=s16le",
		"--channels=1", fmt.Sprintf("--rate=%d", rate), "--latency-msec=20", r.File)
	return r
}

// Stop ends the recording (parec writes what it has on SIGTERM) and
// returns the samples.
func (r *Recording) Stop(t TB) []int16 {
	t.Helper()
	r.proc.Stop()
	raw, err := os.ReadFile(r.File)
	if err != nil {
		t.Fatalf("pulse: read recording: %v\n%s", err, r.proc.Log())
	}
	out := make([]int16, len(raw)/2)
	for i := range out {
		out[i] = int16(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
	}
	return out
}

// Play starts `paplay` playing samples (S16LE mono at rate Hz) into the
// named sink and returns the running process; it ends by itself when the
// samples are played, or at cleanup.
func (p *Pulse) Play(t TB, sink string, samples []int16, rate int) *Process {
	t.Helper()
	dir := Dir(t, "paplay-"+sink)
	file := filepath.Join(dir, "play.raw")
	raw := make([]byte, 2*len(samples))
	for i, s := range samples {
		raw[2*i], raw[2*i+1] = byte(uint16(s)), byte(uint16(s)>>8)
	}
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatalf("pulse: write samples: %v", err)
	}
	env := append(p.Env(), "HOME="+p.Dir)
	return Start(t, dir, env, "paplay", "-d", sink, "--raw", "--format=s16le",
		"--channels=1", fmt.Sprintf("--rate=%d", rate), file)
}

// Tone returns n samples of a sine at freq Hz, sample rate rate, with
// peak amplitude amp (0..1).
func Tone(freq float64, rate, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// ToneLevel measures how strongly samples hold a tone at freq Hz (the
// Goertzel algorithm): the tone's amplitude relative to full scale, so a
// sine of amplitude 0.5 gives about 0.5 and silence or other tones about 0.
func ToneLevel(samples []int16, freq float64, rate int) float64 {
	if len(samples) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x)/32768 + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(len(samples))
}

// Dropouts cuts samples into blocks of length block and counts those
// whose level of a tone at hz is under frac of the median block's; it
// returns that count and the median level.
func Dropouts(samples []int16, rate int, hz float64, block time.Duration, frac float64) (int, float64) {
	size := int(int64(rate) * int64(block) / int64(time.Second))
	if size <= 0 || len(samples) < size {
		return 0, 0
	}
	levels := make([]float64, 0, len(samples)/size)
	for off := 0; off+size <= len(samples); off += size {
		levels = append(levels, ToneLevel(samples[off:off+size], hz, rate))
	}
	sorted := slices.Clone(levels)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	bad := 0
	for _, v := range levels {
		if v < frac*med {
			bad++
		}
	}
	return bad, med
}
