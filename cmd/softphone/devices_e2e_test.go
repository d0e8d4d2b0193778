package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

const (
	jabra      = "Jabra Evolve2 65"
	jabraMic   = "Jabra Evolve2 65 Mic"
	plantro    = "Plantronics Blackwire 3220"
	plantroMic = "Plantronics Blackwire 3220 Mic"
)

// TestDevicesSeedTable checks every cell of the seed's "Combinations of
// settings" through `softphone devices --json`, on virtual headsets read
// through malgo, on PulseAudio and on PipeWire.
func TestDevicesSeedTable(t *testing.T) {
	testbed.EachSoundServer(t, testDevicesSeedTable)
}

func testDevicesSeedTable(t *testing.T, srv testbed.SoundServer) {
	pa := testbed.StartSoundServer(t, srv)
	// The Plantronics is plugged first, so it is the system default and the
	// fallback; the Jabra is the configured headset.
	pl := pa.AddHeadset(t, "plantronics_bw3220", plantro)
	jb := pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	pa.SetDefaultSink(t, pl.SinkName)
	pa.SetDefaultSource(t, pl.SourceName)
	env := pa.Env()

	type want struct {
		should     string
		code       int
		outgoing   bool
		blocked    bool
		headset    bool
		in, out    string
		inFallback bool
	}
	rows := []struct {
		name       string
		cfg        string
		jabraIn    bool // Jabra plugged for this row
		want       want
		wantStderr string
	}{
		{"use_headset=1 headset present auto_answer=1: answered automatically",
			"[policy.device]\nuse_headset=1\nheadset_name=Jabra\n[policy.session]\nauto_answer=1\n", true,
			want{should: "true", outgoing: true, headset: true, in: jabraMic, out: jabra}, ""},
		{"use_headset=1 headset present auto_answer=0: answered manually",
			"[policy.device]\nuse_headset=1\nheadset_name=Jabra\n[policy.session]\nauto_answer=0\n", true,
			want{should: "unknown", outgoing: true, headset: true, in: jabraMic, out: jabra}, ""},
		{"use_headset=1 headset absent reject=1: rejected, outgoing blocked, fallback still assigned",
			"[policy.device]\nuse_headset=1\nheadset_name=Jabra\n[policy.session]\nauto_answer=1\nreject_session_when_headset_na=1\nsip_code_when_headset_na=486\n", false,
			want{should: "false", code: 486, outgoing: false, blocked: true, in: plantroMic, out: plantro, inFallback: true}, ""},
		{"use_headset=1 headset absent reject=0: manual answer, no auto-answer, outgoing allowed",
			"[policy.device]\nuse_headset=1\nheadset_name=Jabra\n[policy.session]\nauto_answer=1\nreject_session_when_headset_na=0\n", false,
			want{should: "unknown", outgoing: true, blocked: true, in: plantroMic, out: plantro, inFallback: true}, ""},
		{"use_headset=1 headset absent code 700: 480 with a warning",
			"[policy.device]\nuse_headset=1\nheadset_name=Jabra\n[policy.session]\nreject_session_when_headset_na=1\nsip_code_when_headset_na=700\n", false,
			want{should: "false", code: 480, blocked: true, in: plantroMic, out: plantro, inFallback: true}, "700 is outside 400–699: 480 is used"},
		{"use_headset=1 regex entry in second place selects the Jabra",
			"[policy.device]\nuse_headset=1\nheadset_name=Sennheiser\nheadset_name=^jabra evolve2 [0-9]+\n[policy.session]\nauto_answer=1\n", true,
			want{should: "true", outgoing: true, headset: true, in: jabraMic, out: jabra}, ""},
		{"use_headset=0 configured mic and speaker auto_answer=1",
			"[policy.device]\nuse_headset=0\naudio_in_device=" + jabraMic + "\naudio_out_device=" + jabra + "\n[policy.session]\nauto_answer=1\n", true,
			want{should: "true", outgoing: true, headset: false, in: jabraMic, out: jabra}, ""},
		{"use_headset=0 auto_answer=0: manual",
			"[policy.device]\nuse_headset=0\naudio_in_device=" + jabraMic + "\naudio_out_device=" + jabra + "\n", true,
			want{should: "unknown", outgoing: true, in: jabraMic, out: jabra}, ""},
		{"use_headset=0 configured devices absent: fallback to the system default",
			"[policy.device]\nuse_headset=0\naudio_in_device=" + jabraMic + "\naudio_out_device=" + jabra + "\n[policy.session]\nauto_answer=1\n", false,
			want{should: "true", outgoing: true, in: plantroMic, out: plantro, inFallback: true}, ""},
		{"monitor only by exact name",
			"[policy.device]\naudio_in_device=Monitor of " + plantro + "\n", true,
			want{should: "unknown", outgoing: true, in: "Monitor of " + plantro, out: plantro}, ""},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.jabraIn {
				jb.Plug(t)
			} else {
				jb.Unplug(t)
			}
			v, stderr := devicesJSON(t, env, writeConfig(t, r.cfg))
			w := r.want
			if v.ShouldAnswer != w.should || v.RejectCode != w.code || v.OutgoingAllowed != w.outgoing ||
				v.AutoAnswerBlocked != w.blocked || v.HeadsetAvailable != w.headset {
				t.Errorf("verdict should_answer=%s code=%d outgoing=%v blocked=%v headset=%v; want %+v\nreason: %s",
					v.ShouldAnswer, v.RejectCode, v.OutgoingAllowed, v.AutoAnswerBlocked, v.HeadsetAvailable, w, v.Reason)
			}
			if v.inName() != w.in || v.outName() != w.out {
				t.Errorf("selected in=%q out=%q, want in=%q out=%q", v.inName(), v.outName(), w.in, w.out)
			}
			if v.Input != nil && v.Input.Fallback != w.inFallback {
				t.Errorf("input fallback = %v, want %v", v.Input.Fallback, w.inFallback)
			}
			if r.wantStderr != "" && !strings.Contains(stderr, r.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, r.wantStderr)
			}
			if v.Reason == "" {
				t.Error("empty reason")
			}
			if w.should == "false" && !strings.Contains(v.Reason, "present:") {
				t.Errorf("a rejection's reason must list the present devices: %s", v.Reason)
			}
		})
	}

	t.Run("no usable microphone blocks auto-answer (use_headset=0)", func(t *testing.T) {
		pa2 := testbed.StartSoundServer(t, srv)
		pa2.AddSink(t, "speaker_only", "Speaker Only")
		v, _ := devicesJSON(t, pa2.Env(), writeConfig(t, "[policy.session]\nauto_answer=1\n"))
		if v.ShouldAnswer != "unknown" || !v.AutoAnswerBlocked || v.Input != nil || v.outName() != "Speaker Only" {
			t.Errorf("got should=%s blocked=%v in=%v out=%q", v.ShouldAnswer, v.AutoAnswerBlocked, v.Input, v.outName())
		}
		for _, c := range v.Capture {
			if !strings.HasPrefix(c.Name, "Monitor of") {
				t.Errorf("unexpected capture device %q", c.Name)
			}
		}
	})

	t.Run("human output marks the selection and gives the reason", func(t *testing.T) {
		jb.Unplug(t)
		out, _, code := runCLI(t, env, "devices", "-c", writeConfig(t,
			"[policy.device]\nuse_headset=1\nheadset_name=Jabra\n[policy.session]\nreject_session_when_headset_na=1\nsip_code_when_headset_na=486\n"))
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		for _, s := range []string{"backend: pulseaudio", "* " + plantro, "should_answer: false", "verdict: a call now is rejected with 486", "present:"} {
			if !strings.Contains(out, s) {
				t.Errorf("output lacks %q:\n%s", s, out)
			}
		}
	})
}

// TestDaemonFollowsDevices runs the daemon on PulseAudio and on PipeWire
// and plugs, unplugs and changes the default device: after each step the
// verdict and the selected devices the agent sees (in the events and from
// the API) follow. How many change events the sound server emits for a
// step is its own business (PulseAudio may report a default-device change
// as an event of its own), so the number of "devices changed" log lines is
// not asserted.
func TestDaemonFollowsDevices(t *testing.T) {
	testbed.EachSoundServer(t, testDaemonFollowsDevices)
}

func testDaemonFollowsDevices(t *testing.T, srv testbed.SoundServer) {
	pa := testbed.StartSoundServer(t, srv)
	pl := pa.AddHeadset(t, "plantronics_bw3220", plantro)
	// The configured default source stays put whatever is plugged later
	// (wireplumber would otherwise choose one by itself).
	pa.SetDefaultSource(t, pl.SourceName)
	base, _ := daemonConfig(t)
	cfg := writeConfig(t, base+`
[policy.device]
use_headset = 1
headset_name = Jabra Evolve2
device_poll_interval = 100ms
[policy.session]
auto_answer = 1
reject_session_when_headset_na = 1
sip_code_when_headset_na = 486
`)
	d := startDaemon(t, pa.Env(), cfg)
	if _, err := d.proc.WaitLine("devices at start-up", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ev := d.events(t)

	// sees waits until the daemon's verdict is should_answer=should with
	// the input and output named, in an event or already in place, and
	// checks that the API gives the same.
	sees := func(step, should, in, out string) {
		t.Helper()
		match := func(v verdict) bool { return v.ShouldAnswer == should && v.inName() == in && v.outName() == out }
		api := func() (verdict, error) {
			raw, err := d.client.Devices(context.Background())
			if err != nil {
				return verdict{}, err
			}
			var v verdict
			err = json.Unmarshal(raw, &v)
			return v, err
		}
		if v, err := api(); err != nil || !match(v) {
			waitEvent(t, ev, "devices", 10*time.Second, func(data json.RawMessage) bool {
				var v verdict
				return json.Unmarshal(data, &v) == nil && match(v)
			})
		}
		v, err := api()
		if err != nil {
			t.Fatalf("%s: devices: %v", step, err)
		}
		if !match(v) {
			t.Fatalf("%s: the API gives should_answer=%s in=%q out=%q, want %s %q %q\nreason: %s",
				step, v.ShouldAnswer, v.inName(), v.outName(), should, in, out, v.Reason)
		}
		if should == "false" && v.RejectCode != 486 {
			t.Errorf("%s: reject code %d, want 486", step, v.RejectCode)
		}
	}
	sees("start-up", "false", plantroMic, plantro)

	// Plug the headset: answered automatically, on the Jabra.
	jb := pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	sees("headset plugged", "true", jabraMic, jabra)
	// The sink and the microphone may come in one listing or two; either
	// way a line names the microphone's arrival (slog quotes the message).
	if _, err := d.proc.WaitLine(`+capture \"Jabra Evolve2 65 Mic\"`, 5*time.Second); err != nil {
		t.Errorf("no log line for the plug: %v", err)
	}

	// Unplug it: rejected again, back on the Plantronics.
	jb.Unplug(t)
	sees("headset unplugged", "false", plantroMic, plantro)

	// A default-device change alters the fallback.
	pa.AddHeadset(t, "spare", "Spare Headset")
	pa.SetDefaultSink(t, "spare")
	sees("default sink changed to the spare", "false", plantroMic, "Spare Headset")
	pa.SetDefaultSource(t, "spare_mic")
	sees("default source changed to the spare", "false", "Spare Headset Mic", "Spare Headset")
	pa.SetDefaultSink(t, pl.SinkName)
	pa.SetDefaultSource(t, pl.SourceName)
	sees("defaults back on the Plantronics", "false", plantroMic, plantro)
	if !strings.Contains(d.proc.Log(), "devices changed") {
		t.Errorf("no 'devices changed' line in the log:\n%s", d.proc.Log())
	}
}

// TestNullBackend: with no sound server and no sound card the daemon and
// `devices` still work, on miniaudio's null device, and say so.
func TestNullBackend(t *testing.T) {
	testbed.Require(t)
	env := []string{"PULSE_SERVER=unix:/nonexistent/softphone-test", "XDG_RUNTIME_DIR=" + t.TempDir()}
	out, _, code := runCLI(t, env, "devices", "-c", writeConfig(t, "[policy.session]\nauto_answer=1\n"))
	if code != 0 {
		t.Fatalf("devices exit %d: %s", code, out)
	}
	if !strings.Contains(out, "no real audio devices") {
		t.Errorf("devices does not say there are no real devices:\n%s", out)
	}
	v, _ := devicesJSON(t, env, writeConfig(t, "[system.audio]\nbackend=null\n[policy.session]\nauto_answer=1\n"))
	if v.Input == nil || v.Output == nil || !v.Input.Fallback {
		t.Errorf("null backend: want the null devices selected as fallback: %+v", v)
	}

	base, _ := daemonConfig(t)
	d := startDaemon(t, env, writeConfig(t, base))
	if _, err := d.proc.WaitLine("no real audio devices", 10*time.Second); err != nil {
		t.Error(err)
	}
}

// TestCheckConfig checks the command's exit codes and messages.
func TestCheckConfig(t *testing.T) {
	out, _, code := runCLI(t, nil, "check-config", "-c", "../../configs/softphone.ini")
	if code != 0 || !strings.HasPrefix(out, "ok: ../../configs/softphone.ini: standalone") {
		t.Errorf("example config: exit %d, %q", code, out)
	}
	_, errOut, code := runCLI(t, nil, "check-config", "-c", writeConfig(t, "[policy.session]\nauto_anwser=1\nreject_session_when_headset_na=maybe\n"))
	if code == 0 {
		t.Error("a bad file exits 0")
	}
	for _, s := range []string{"auto_anwser: unknown key (did you mean auto_answer?)", `reject_session_when_headset_na: "maybe" is not a boolean`} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	out, errOut, code = runCLI(t, nil, "check-config", "-c", writeConfig(t, "[policy.device]\nuse_headset=1\nheadset_name=[bad\n"))
	if code != 0 || !strings.Contains(errOut, "not a valid regular expression") || !strings.HasPrefix(out, "ok:") {
		t.Errorf("regex warning: exit %d stdout %q stderr %q", code, out, errOut)
	}
	out, _, code = runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "softphone ") {
		t.Errorf("version: %d %q", code, out)
	}
	_, _, code = runCLI(t, nil, "devices", "-h")
	if code != 0 {
		t.Errorf("devices -h exit %d", code)
	}
}
