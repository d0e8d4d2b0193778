package testbed

import (
	"strings"
	"testing"
	"time"
)

// withoutDummy drops PipeWire's "Dummy Output" (auto_null), which
// pipewire-pulse keeps while there is no other sink, from pactl's short
// listing.
func withoutDummy(list string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
		if l != "" && !strings.Contains(l, "auto_null") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestPulseHeadsetPlugUnplug(t *testing.T) {
	EachSoundServer(t, func(t *testing.T, srv SoundServer) {
		p := StartSoundServer(t, srv)
		if p.Server != srv {
			t.Fatalf("Server = %v, want %v", p.Server, srv)
		}
		if out := withoutDummy(p.Pactl(t, "list", "short", "sinks")); out != "" {
			t.Fatalf("fresh daemon has sinks, want none:\n%s", out)
		}
		if info := p.Pactl(t, "info"); srv == PipeWire && !strings.Contains(info, "on PipeWire") {
			t.Fatalf("pactl info does not name PipeWire:\n%s", info)
		}
		h := p.AddHeadset(t, "jabra_evolve2_65", "Jabra Evolve2 65")
		sinks := p.Pactl(t, "list", "short", "sinks")
		sources := p.Pactl(t, "list", "short", "sources")
		if !strings.Contains(sinks, "jabra_evolve2_65") {
			t.Errorf("sink missing after AddHeadset:\n%s", sinks)
		}
		for _, want := range []string{"jabra_evolve2_65.monitor", "jabra_evolve2_65_mic"} {
			if !strings.Contains(sources, want) {
				t.Errorf("source %q missing after AddHeadset:\n%s", want, sources)
			}
		}
		desc := p.Pactl(t, "list", "sources")
		for _, want := range []string{"Description: Jabra Evolve2 65 Mic", "Description: Monitor of Jabra Evolve2 65"} {
			if !strings.Contains(desc, want) {
				t.Errorf("%q missing:\n%s", want, desc)
			}
		}
		p.AddSource(t, "null_mic", "Null Mic")
		if desc := p.Pactl(t, "list", "sources"); !strings.Contains(desc, "Description: Null Mic") {
			t.Errorf("AddSource's microphone missing:\n%s", desc)
		}
		p.SetDefaultSink(t, "jabra_evolve2_65")
		if !WaitFor(5*time.Second, func() bool { return strings.Contains(p.Pactl(t, "info"), "Default Sink: jabra_evolve2_65") }) {
			t.Errorf("default sink not set:\n%s", p.Pactl(t, "info"))
		}
		h.Unplug(t)
		if h.Plugged() {
			t.Error("Plugged() = true after Unplug")
		}
		if out := p.Pactl(t, "list", "short", "sources"); strings.Contains(out, "jabra") {
			t.Errorf("sources left after Unplug:\n%s", out)
		}
		h.Plug(t)
		if out := p.Pactl(t, "list", "short", "sinks"); !strings.Contains(out, "jabra_evolve2_65") {
			t.Errorf("sink missing after Plug:\n%s", out)
		}
		for _, kv := range p.Env() {
			if !strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") && !strings.HasPrefix(kv, "PULSE_SERVER=unix:") &&
				!strings.HasPrefix(kv, "PULSE_RUNTIME_PATH=") {
				t.Errorf("unexpected Env entry %q", kv)
			}
		}
		// A restarted server comes back without the modules loaded before.
		p.Restart(t)
		if out := withoutDummy(p.Pactl(t, "list", "short", "sinks")); out != "" {
			t.Errorf("restarted daemon has sinks, want none:\n%s", out)
		}
		p.AddHeadset(t, "jabra_evolve2_65", "Jabra Evolve2 65")
	})
}
