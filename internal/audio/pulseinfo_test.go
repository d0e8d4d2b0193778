package audio

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gen2brain/malgo"
)

// miniaudioHeader returns the miniaudio.h the build compiles: the one in
// the malgo module go.mod selects.
func miniaudioHeader(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gen2brain/malgo").Output()
	if err != nil {
		t.Fatalf("locate the malgo module: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "miniaudio.h"))
	if err != nil {
		t.Fatalf("read miniaudio.h: %v", err)
	}
	return string(b)
}

// block returns the text between the line that is exactly open and the
// next line that starts with close.
func block(t *testing.T, src, open, close string) string {
	t.Helper()
	i := strings.Index(src, "\n"+open+"\n")
	if i < 0 {
		t.Fatalf("miniaudio.h: %q not found", open)
	}
	rest := src[i+len(open)+2:]
	j := strings.Index(rest, "\n"+close)
	if j < 0 {
		t.Fatalf("miniaudio.h: end of %q not found", open)
	}
	return rest[:j]
}

// TestPulseGuardLayoutMatchesMiniaudio reads the miniaudio.h of the malgo
// version in go.mod and fails when the layout the guard writes into
// (pulseinfo.go) is no longer that of the code it is compiled against:
// after a malgo upgrade, this is the test that says the guard must be
// looked at again.
func TestPulseGuardLayoutMatchesMiniaudio(t *testing.T) {
	h := miniaudioHeader(t)
	count, ctxInfo, devInfo, pulse := guardLayout()

	// struct ma_backend_callbacks: the function pointers, in order.
	var callbacks []string
	for _, m := range regexp.MustCompile(`\(\*\s*(\w+)\)`).FindAllStringSubmatch(block(t, h, "struct ma_backend_callbacks", "};"), -1) {
		callbacks = append(callbacks, m[1])
	}
	if len(callbacks) != count {
		t.Fatalf("ma_backend_callbacks has %d callbacks %v; the guard assumes %d", len(callbacks), callbacks, count)
	}
	if callbacks[ctxInfo] != "onContextGetDeviceInfo" || callbacks[devInfo] != "onDeviceGetInfo" {
		t.Fatalf("ma_backend_callbacks[%d], [%d] = %s, %s; the guard assumes onContextGetDeviceInfo, onDeviceGetInfo",
			ctxInfo, devInfo, callbacks[ctxInfo], callbacks[devInfo])
	}

	// struct ma_context opens with the callbacks, then the backend.
	var fields []string
	for _, l := range strings.Split(block(t, h, "struct ma_context\n{", "};"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			fields = append(fields, strings.Join(strings.Fields(strings.SplitN(l, ";", 2)[0]), " "))
		}
		if len(fields) == 2 {
			break
		}
	}
	if len(fields) != 2 || fields[0] != "ma_backend_callbacks callbacks" || fields[1] != "ma_backend backend" {
		t.Fatalf("struct ma_context opens with %q; the guard assumes the callbacks, then the backend", fields)
	}

	// enum ma_backend: PulseAudio's value, in miniaudio and in malgo.
	enum := h[:strings.Index(h, "} ma_backend;")]
	enum = enum[strings.LastIndex(enum, "{")+1:]
	var backends []string
	for _, l := range strings.Split(enum, "\n") {
		if l = strings.TrimSpace(strings.SplitN(l, "/*", 2)[0]); l != "" {
			backends = append(backends, strings.TrimSuffix(l, ","))
		}
	}
	if pulse >= len(backends) || backends[pulse] != "ma_backend_pulseaudio" {
		t.Fatalf("ma_backend = %v; the guard assumes ma_backend_pulseaudio is %d", backends, pulse)
	}
	if int(malgo.BackendPulseaudio) != pulse {
		t.Fatalf("malgo.BackendPulseaudio = %d; the guard assumes %d", malgo.BackendPulseaudio, pulse)
	}

	// ma_device_init logs the device's name through ma_device_get_info,
	// which asks onDeviceGetInfo before the backend's lookup by ID (the
	// one that crashed); the guard relies on both.
	if !strings.Contains(block(t, h, "MA_API ma_result ma_device_init(ma_context* pContext, const ma_device_config* pConfig, ma_device* pDevice)", "}\n"), "ma_device_get_name(pDevice,") {
		t.Fatal("ma_device_init no longer looks up the device's name: see whether the guard is still needed")
	}
	get := block(t, h, "MA_API ma_result ma_device_get_info(ma_device* pDevice, ma_device_type type, ma_device_info* pDeviceInfo)", "}\n")
	own, lookup := strings.Index(get, "callbacks.onDeviceGetInfo("), strings.Index(get, "return ma_context_get_device_info(")
	if own < 0 || lookup < 0 || own > lookup {
		t.Fatalf("ma_device_get_info no longer asks onDeviceGetInfo before ma_context_get_device_info:\n%s", get)
	}
}

// TestContextsOnlyFromInitContext: every miniaudio context the package
// makes comes from initContext, the function that puts the guard on
// PulseAudio ones; a new malgo.InitContext call elsewhere fails here.
func TestContextsOnlyFromInitContext(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	calls := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, _ := d.(*ast.FuncDecl)
			ast.Inspect(d, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "InitContext" {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "malgo" {
					return true
				}
				calls++
				if fn == nil || fn.Name.Name != "initContext" {
					t.Errorf("%s: malgo.InitContext outside initContext: the context would miss the PulseAudio guard", fset.Position(sel.Pos()))
				}
				return true
			})
		}
	}
	if calls != 1 {
		t.Errorf("malgo.InitContext called %d times in the package, want once (in initContext)", calls)
	}
}

// openTestContext opens a context through initContext, as the package does,
// and frees it when the test ends.
func openTestContext(t *testing.T, mb malgo.Backend) (ctx *malgo.AllocatedContext, unguarded, untuned bool) {
	t.Helper()
	ctx, unguarded, untuned, err := initContext(mb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ctx.Uninit()
		ctx.Free()
	})
	return ctx, unguarded, untuned
}

// TestPulseContextsAreGuarded opens PulseAudio contexts and streams on a
// private sound server: initContext's context carries the guard, a null
// context is left alone, and opening a playback and a capture stream makes
// miniaudio call the guard once each, which shows it sits where miniaudio
// looks for it on the contexts streams open.
func TestPulseContextsAreGuarded(t *testing.T) {
	_, jabra, _ := startHeadsets(t)

	ctx, unguarded, _ := openTestContext(t, malgo.BackendPulseaudio)
	if unguarded || !pulseDeviceInfoGuarded(ctx) {
		t.Errorf("PulseAudio context: unguarded %v, guarded %v", unguarded, pulseDeviceInfoGuarded(ctx))
	}
	if !guardPulseDeviceInfo(ctx) {
		t.Error("guarding a guarded context again reports false")
	}
	null, unguarded, _ := openTestContext(t, malgoNull)
	if unguarded || pulseDeviceInfoGuarded(null) || guardPulseDeviceInfo(null) {
		t.Error("the guard touched a null-backend context")
	}

	s := openPulse(t)
	before := declinedDeviceInfoLookups()
	ps, err := s.OpenPlayback(Device{ID: jabra.SinkName, Kind: KindPlayback}, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	cs, err := s.OpenCapture(Device{ID: jabra.SourceName, Kind: KindCapture}, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if got := declinedDeviceInfoLookups() - before; got < 2 {
		t.Fatalf("miniaudio called the guard %d times for two streams, want 2: the PulseAudio lookup by name runs unguarded", got)
	}
}
