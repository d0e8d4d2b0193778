package testbed

import (
	"strings"
	"testing"
)

func TestPulseHeadsetPlugUnplug(t *testing.T) {
	Require(t, "pulseaudio", "pactl")
	p := StartPulse(t)
	if out := p.Pactl(t, "list", "short", "sinks"); strings.TrimSpace(out) != "" {
		t.Fatalf("fresh daemon has sinks, want none:\n%s", out)
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
	if desc := p.Pactl(t, "list", "sources"); !strings.Contains(desc, "Jabra Evolve2 65 Mic") {
		t.Errorf("microphone description missing:\n%s", desc)
	}
	p.SetDefaultSink(t, "jabra_evolve2_65")
	if info := p.Pactl(t, "info"); !strings.Contains(info, "Default Sink: jabra_evolve2_65") {
		t.Errorf("default sink not set:\n%s", info)
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
}
