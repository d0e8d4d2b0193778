package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/control"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// Impl names the phone under test.
type Impl int

// The phones the harness compares.
const (
	ImplUnknown Impl = iota
	ImplOurs
	ImplBaresip
)

// String returns "ours", "baresip" or "unknown".
func (i Impl) String() string {
	switch i {
	case ImplOurs:
		return "ours"
	case ImplBaresip:
		return "baresip"
	default:
		return "unknown"
	}
}

// order returns the two phones in the order run n measures them: A B on
// even runs, B A on odd ones, so neither always goes first on a warm
// machine.
func order(n int) [2]Impl {
	if n%2 == 0 {
		return [2]Impl{ImplOurs, ImplBaresip}
	}
	return [2]Impl{ImplBaresip, ImplOurs}
}

// Options are the harness settings; Full and Tiny give the two presets.
type Options struct {
	// Softphone is the daemon binary to measure (bin/softphone).
	Softphone string `json:"softphone"`
	// Runs is how many times each phone is measured per figure (A B A B …).
	Runs int `json:"runs"`
	// SetupCalls is the number of calls per run of figure 1; SetupRate
	// their rate (calls/s, one call at a time).
	SetupCalls int `json:"setup_calls"`
	SetupRate  int `json:"setup_rate"`
	// SetupCallsBaresip is baresip's count: each of its answers waits for
	// a new PulseAudio stream to start (about 2 s on a null sink).
	SetupCallsBaresip int `json:"setup_calls_baresip"`
	// RejectRates are the call rates of figure 2's ramp, each held for
	// RejectStep; RejectSettle is the wait for the transaction timers
	// before the resident memory is read again. RejectRuns repeats it.
	RejectRates  []int         `json:"reject_rates"`
	RejectStep   time.Duration `json:"reject_step"`
	RejectSettle time.Duration `json:"reject_settle"`
	RejectRuns   int           `json:"reject_runs"`
	// CPUWindow is the length of one CPU measurement of figure 3 (each
	// codec and phone gets CPURuns of them).
	CPUWindow time.Duration `json:"cpu_window"`
	CPURuns   int           `json:"cpu_runs"`
	// LatencyBursts is the number of tone bursts per direction and run of
	// figure 4.
	LatencyBursts int `json:"latency_bursts"`
	// HotplugCycles is the number of unplug+plug cycles per run of figure 5.
	HotplugCycles int `json:"hotplug_cycles"`
	// SwitchCycles is the number of unplug+plug cycles (two device
	// switches each) per run of figure 7; SwitchCalibration the number of
	// fresh null sinks its PulseAudio calibration starts per run.
	SwitchCycles      int `json:"switch_cycles"`
	SwitchCalibration int `json:"switch_calibration"`
	// IdleWindow is how long the idle CPU and memory of figures 5 and 6
	// are watched.
	IdleWindow time.Duration `json:"idle_window"`
	// WebRTCCalls is the number of calls of each kind (WebRTC, plain)
	// per run of figure 8.
	WebRTCCalls int `json:"webrtc_calls"`
	// AgentLevels are the numbers of agents figure 9 runs at once, in
	// rising order; AgentWindow is how much of each call it listens to;
	// AgentRuns how many times it climbs the levels.
	AgentLevels []int         `json:"agent_levels"`
	AgentWindow time.Duration `json:"agent_window"`
	AgentRuns   int           `json:"agent_runs"`
	// Figures limits the run to these figure numbers ("1".."9"); empty
	// means all.
	Figures []string `json:"figures,omitempty"`
}

// Full is the setting of `make bench` (about 20 minutes on 2 cores, half
// of it figure 9).
// Figure 3 measures each phone 2 × 20 s per codec (the baresip variant
// with a generated source once).
func Full() Options {
	return Options{
		Runs: 3, SetupCalls: 200, SetupRate: 50, SetupCallsBaresip: 15,
		RejectRates: []int{100, 200, 400, 700, 1000, 1400, 2000, 2800}, RejectStep: 2 * time.Second,
		RejectSettle: 6 * time.Second, RejectRuns: 2,
		CPUWindow: 20 * time.Second, CPURuns: 2,
		LatencyBursts: 5, HotplugCycles: 10, IdleWindow: 8 * time.Second,
		SwitchCycles: 5, SwitchCalibration: 3, WebRTCCalls: 20,
		AgentLevels: []int{1, 4, 8, 12, 16, 20, 24, 32, 48, 64}, AgentWindow: 10 * time.Second, AgentRuns: 2,
	}
}

// Tiny is the setting `make test` uses to prove the harness works (about
// a minute and a half).
func Tiny() Options {
	return Options{
		Runs: 1, SetupCalls: 5, SetupRate: 20, SetupCallsBaresip: 2,
		RejectRates: []int{20, 50}, RejectStep: time.Second, RejectSettle: time.Second, RejectRuns: 1,
		CPUWindow: 2 * time.Second, CPURuns: 1,
		LatencyBursts: 1, HotplugCycles: 1, IdleWindow: time.Second,
		SwitchCycles: 1, SwitchCalibration: 1, WebRTCCalls: 2,
		AgentLevels: []int{1, 2}, AgentWindow: 2 * time.Second, AgentRuns: 1,
	}
}

func (o Options) validate() error {
	switch {
	case o.Softphone == "":
		return fmt.Errorf("%w: no softphone binary", ErrBadOptions)
	case o.Runs < 1 || o.RejectRuns < 1 || o.CPURuns < 1 || o.AgentRuns < 1:
		return fmt.Errorf("%w: runs must be at least 1", ErrBadOptions)
	case o.SetupCalls < 1 || o.SetupCallsBaresip < 1 || o.SetupRate < 1 || o.LatencyBursts < 1 || o.HotplugCycles < 1 ||
		o.SwitchCycles < 1 || o.SwitchCalibration < 1 || o.WebRTCCalls < 1:
		return fmt.Errorf("%w: counts must be at least 1", ErrBadOptions)
	case len(o.RejectRates) == 0 || o.RejectStep <= 0 || o.CPUWindow <= 0 || o.IdleWindow <= 0 ||
		len(o.AgentLevels) == 0 || o.AgentWindow <= 0:
		return fmt.Errorf("%w: empty ramp or window", ErrBadOptions)
	}
	if _, err := os.Stat(o.Softphone); err != nil {
		return fmt.Errorf("%w: softphone binary: %v", ErrBadOptions, err)
	}
	return nil
}

func (o Options) wants(fig string) bool {
	if len(o.Figures) == 0 {
		return true
	}
	for _, f := range o.Figures {
		if f == fig {
			return true
		}
	}
	return false
}

// Names of the virtual devices.
const (
	headsetSink = "jabra_evolve2_65"
	headsetName = "Jabra Evolve2 65"
	// absentHeadset is a headset_name no device matches (figure 2).
	absentHeadset = "Absent Headset 9000"
	// rejectCode is the code both phones answer with in figure 2
	// (baresip's busy answer is 486, RFC 3261 §21.4.24).
	rejectCode = 486
)

// harness holds what lives for the whole run: the PulseAudio daemon with
// the virtual headset every figure answers through.
type harness struct {
	opts  Options
	log   *slog.Logger
	root  *runTB
	pa    *testbed.Pulse
	jabra *testbed.Headset
	cal   map[string]Side
}

// Run measures every figure and returns the report. The peers it starts
// are stopped before it returns, whatever happened.
func Run(ctx context.Context, opts Options, log *slog.Logger) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	// the daemon runs in folders of its own: a relative path would not
	// resolve there
	abs, err := filepath.Abs(opts.Softphone)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOptions, err)
	}
	opts.Softphone = abs
	// Run the daemon as it runs once installed: read from disk. A binary
	// the Go linker has just written sits in the page cache in the large
	// folios of the linker's writes, which the kernel maps whole on a
	// fault: the daemon's resident memory then counts up to 5 MB more of
	// its binary than the same daemon started from disk (figures 3 and 6;
	// BENCHMARKS.md, item 2). baresip is an installed package, read from
	// disk. Giving the file's cached pages back (POSIX_FADV_DONTNEED) has
	// the first start read it again, as after a boot.
	if err := evictPageCache(abs); err != nil {
		log.Warn("bench: could not evict the daemon's binary from the page cache; its resident memory may read high", "err", err)
	}
	start := time.Now()
	h := &harness{opts: opts, log: log, root: newRunTB(log.With("scope", "bench")), cal: map[string]Side{}}
	defer h.root.Close()
	rep := &Report{Date: start, Machine: probeMachine(), Options: opts}
	err = guard(func() error {
		h.pa = testbed.StartPulse(h.root)
		h.pa.AddHeadset(h.root, "plantronics_bw3220", "Plantronics Blackwire 3220")
		h.jabra = h.pa.AddHeadset(h.root, headsetSink, headsetName)
		h.pa.SetDefaultSink(h.root, headsetSink)
		h.pa.SetDefaultSource(h.root, headsetSink+"_mic")
		return nil
	})
	if err != nil {
		return nil, err
	}
	figs := []struct {
		id  string
		run func(ctx context.Context) []*Row
	}{
		{"6", h.figIdle}, {"1", h.figSetup}, {"2", h.figReject}, {"3", h.figCPU}, {"4", h.figLatency}, {"5", h.figHotplug},
		{"7", h.figSwitch}, {"8", h.figWebRTC}, {"9", h.figAgents},
	}
	byID := map[string][]*Row{}
	for _, f := range figs {
		if !opts.wants(f.id) || ctx.Err() != nil {
			continue
		}
		log.Info("figure " + f.id + ": start")
		t0 := time.Now()
		byID[f.id] = f.run(ctx)
		log.Info("figure "+f.id+": done", "took", time.Since(t0).Round(time.Millisecond))
	}
	for _, id := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"} {
		for _, r := range byID[id] {
			r.finish()
			rep.Rows = append(rep.Rows, *r)
		}
	}
	for k, s := range h.cal {
		s.finish()
		if rep.Calibration == nil {
			rep.Calibration = map[string]Side{}
		}
		rep.Calibration[k] = s
	}
	rep.Duration = time.Since(start).Round(time.Second).String()
	return rep, ctx.Err()
}

// scope runs f with a testbed.TB of its own whose peers are stopped when
// f returns; a Fatal inside f becomes the returned error.
func (h *harness) scope(name string, f func(tb *runTB) error) error {
	tb := newRunTB(h.log.With("scope", name))
	defer tb.Close()
	err := guard(func() error { return f(tb) })
	if err != nil {
		h.log.Warn(name+": failed", "error", oneLine(err.Error()))
	}
	return err
}

// measure runs one phone's measurement of one run and files the value
// (or the reason there is none) under side.
func (h *harness) measure(name string, side *Side, f func(tb *runTB) (float64, error)) {
	var v float64
	err := h.scope(name, func(tb *runTB) error {
		var err error
		v, err = f(tb)
		return err
	})
	if err != nil {
		side.fail(err)
		return
	}
	side.add(v)
}

// daemonOpts are the parts of a daemon's configuration a figure chooses.
type daemonOpts struct {
	// Headset is the headset_name (use_headset=1 always); MoreHeadsets
	// are further entries, in priority order after it.
	Headset      string
	MoreHeadsets []string
	// Session is the [policy.session] body.
	Session string
	// Account, when set, is the [connectivity.0] body.
	Account string
	// Pulse is the sound server the daemon uses; nil means the
	// harness's.
	Pulse *testbed.Pulse
	// NullAudio runs the daemon on miniaudio's null backend with no
	// headset required (use_headset = 0): a figure about the network
	// path, without a sound server's stream start-up in it.
	NullAudio bool
}

// moreHeadsets renders further headset_name entries, one line each (the
// key is a list: it may be given more than once).
func moreHeadsets(names []string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString("headset_name = " + n + "\n")
	}
	return b.String()
}

// daemon is a running `softphone run`.
type daemon struct {
	proc    *testbed.Process
	client  *control.Client
	sipAddr string
	// lastCPU is figure 8's CPU of the last call held on connection 0
	// (WebRTC) and 1 (plain RTP).
	lastCPU [2]float64
}

func (d *daemon) pid() int { return d.proc.Cmd.Process.Pid }

// startDaemon writes a configuration for o and starts the daemon on the
// harness's PulseAudio; it returns once the process runs (not yet
// listening: see waitReady).
func (h *harness) startDaemon(tb *runTB, o daemonOpts) *daemon {
	dir := testbed.Dir(tb, "softphone")
	sipPort := testbed.FreePort(tb, 1)
	ctl := testbed.FreePort(tb, 1)
	rtp := testbed.FreePort(tb, 1)
	rtp -= rtp % 2
	token := filepath.Join(dir, "token")
	cfg := fmt.Sprintf(`[policy.endpoint]
sip_address = 127.0.0.1
sip_port = %d
rtp_port_min = %d
rtp_port_max = %d

[control]
listen = 127.0.0.1:%d
token_file = %s

[policy.device]
use_headset = 1
headset_name = %s
%s
[policy.session]
; The transport figures are compared with baresip, which runs without
; echo cancellation and noise suppression (and a steady test tone is
; noise to the suppressor); the stage's own cost is dsp.BenchmarkStage's.
echo_cancellation = 0
noise_suppression = 0
%s
`, sipPort, rtp+2, rtp+400, ctl, token, o.Headset, moreHeadsets(o.MoreHeadsets), o.Session)
	if o.NullAudio {
		cfg = strings.Replace(cfg, "use_headset = 1\n", "use_headset = 0\n", 1) + "\n[system.audio]\nbackend = null\n"
	}
	if o.Account != "" {
		cfg += "\n[connectivity.0]\n" + o.Account + "\n"
	}
	path := filepath.Join(dir, "softphone.ini")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		tb.Fatalf("bench: daemon config: %v", err)
	}
	pa := h.pa
	if o.Pulse != nil {
		pa = o.Pulse
	}
	env := append(pa.Env(), "HOME="+dir)
	p := testbed.Start(tb, dir, env, h.opts.Softphone, "run", "-c", path)
	c, _, err := config.Load(path)
	if err != nil {
		tb.Fatalf("bench: daemon config: %v", err)
	}
	d := &daemon{proc: p, sipAddr: "127.0.0.1:" + strconv.Itoa(sipPort)}
	d.client = control.NewClient("http://"+c.Control.Listen, "")
	if !testbed.WaitFor(20*time.Second, func() bool {
		tok, err := control.ReadToken(c.Control.TokenFile)
		if err != nil {
			return false
		}
		d.client = control.NewClient("http://"+c.Control.Listen, tok)
		return true
	}) {
		tb.Fatalf("bench: daemon wrote no token\n%s", p.Log())
	}
	return d
}

// waitReady waits until the daemon listens for SIP and for its API.
func (d *daemon) waitReady(tb *runTB) {
	if _, err := d.proc.WaitLine("sip listening", 30*time.Second); err != nil {
		tb.Fatal(err)
	}
	if _, err := d.proc.WaitLine("control API listening", 30*time.Second); err != nil {
		tb.Fatal(err)
	}
}

// events is a subscription to the daemon's event stream, owned by the
// scope that opened it: its goroutine stops and is joined at cleanup.
type events struct {
	ch chan phone.Event
}

// subscribe opens the event stream in the background, retrying every 2 ms
// while the API is not up yet (and after the stream ends); the stream
// opens with a "status" event holding the current state.
func (d *daemon) subscribe(tb *runTB) *events {
	ctx, cancel := context.WithCancel(context.Background())
	e := &events{ch: make(chan phone.Event, 4096)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			_ = d.client.Events(ctx, func(ev phone.Event) {
				select {
				case e.ch <- ev:
				case <-ctx.Done():
				}
			})
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	tb.Cleanup(func() { cancel(); wg.Wait() })
	return e
}

// wait returns the first event of type typ that match accepts.
func (e *events) wait(typ string, timeout time.Duration, match func(json.RawMessage) bool) (phone.Event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-e.ch:
			if ev.Type == typ && (match == nil || match(ev.Data)) {
				return ev, nil
			}
		case <-deadline.C:
			return phone.Event{}, fmt.Errorf("%w: no matching %q event within %s", ErrFigureFailed, typ, timeout)
		}
	}
}

// headsetAvailable matches a devices (or status) verdict by
// headset_available.
func headsetAvailable(want bool) func(json.RawMessage) bool {
	return func(d json.RawMessage) bool {
		var v struct {
			HeadsetAvailable *bool `json:"headset_available"`
		}
		return json.Unmarshal(d, &v) == nil && v.HeadsetAvailable != nil && *v.HeadsetAvailable == want
	}
}

// baresipSUT starts baresip as the phone under test: it answers through
// the same PulseAudio virtual headset as our daemon, configured as its
// users do (baresip 1.0 has no PulseAudio module of its own): ALSA's
// pulse plugin for playback and capture, the devices opened at the
// codec's rate and channels (no ausrc_srate/ausrc_channels), so the
// sound server converts. With capture false it sends a generated sine
// instead (PulseAudio for playback only).
func (h *harness) baresipSUT(tb *runTB, o testbed.BaresipOptions, capture bool) *testbed.Baresip {
	if o.User == "" {
		o.User = "agent"
	}
	o.PulseEnv = append(h.pa.Env(), "HOME="+h.pa.Dir, "PULSE_SINK="+headsetSink, "PULSE_SOURCE="+headsetSink+"_mic")
	if capture {
		o.AudioSource = "alsa,pulse"
	}
	return testbed.StartBaresip(tb, o)
}

// baresipPid finds the pid of the baresip whose configuration folder is
// dir: the helper keeps its process to itself.
func baresipPid(dir string) (int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) >= 3 && filepath.Base(args[0]) == "baresip" && args[1] == "-f" && args[2] == dir {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("%w: no baresip process for %s", ErrFigureFailed, dir)
}

// pkgVersion asks dpkg for an installed package's version.
func pkgVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
