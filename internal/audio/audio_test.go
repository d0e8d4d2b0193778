package audio

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestKindString(t *testing.T) {
	tests := []struct {
		in      string
		want    Kind
		wantErr bool
	}{
		{"capture", KindCapture, false},
		{"playback", KindPlayback, false},
		{"unknown", KindUnknown, true},
		{"", KindUnknown, true},
		{"Capture", KindUnknown, true},
	}
	for _, tt := range tests {
		got, err := ParseKind(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseKind(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if got != tt.want {
			t.Errorf("ParseKind(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if !tt.wantErr && got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
	if Kind(0).String() != "unknown" || Kind(42).String() != "unknown" {
		t.Error("zero and out-of-range kinds must print unknown")
	}
}

func TestParseBackend(t *testing.T) {
	tests := []struct {
		in      string
		want    backend
		wantErr bool
	}{
		{"", backendAuto, false},
		{"auto", backendAuto, false},
		{"pulseaudio", backendPulse, false},
		{"alsa", backendALSA, false},
		{"null", backendNull, false},
		{"pulse", backendUnknown, true},
		{"NULL", backendUnknown, true},
		{"jack", backendUnknown, true},
	}
	for _, tt := range tests {
		got, err := parseBackend(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseBackend(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if tt.wantErr && !errors.Is(err, ErrUnknownBackend) {
			t.Errorf("parseBackend(%q) err = %v, want ErrUnknownBackend", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("parseBackend(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestOpenRejectsUnknownBackend(t *testing.T) {
	_, err := Open(Options{Backend: "oss"})
	if !errors.Is(err, ErrUnknownBackend) {
		t.Fatalf("Open(oss) err = %v, want ErrUnknownBackend", err)
	}
}

func TestDecodeID(t *testing.T) {
	pad := func(s string) []byte { b := make([]byte, 256); copy(b, s); return b }
	tests := []struct {
		b    backend
		raw  []byte
		want string
	}{
		{backendPulse, pad("jabra_evolve2_65"), "jabra_evolve2_65"},
		{backendPulse, pad("jabra.monitor"), "jabra.monitor"},
		{backendPulse, []byte("no_nul"), "no_nul"},
		{backendALSA, pad("hw:CARD=USB,DEV=0"), "hw:CARD=USB,DEV=0"},
		{backendNull, make([]byte, 256), "00"},
		{backendNull, []byte{1, 2, 0, 0}, "0102"},
	}
	for _, tt := range tests {
		if got := decodeID(tt.b, tt.raw); got != tt.want {
			t.Errorf("decodeID(%v, %q) = %q, want %q", tt.b, tt.raw[:8], got, tt.want)
		}
	}
}

func TestIsMonitor(t *testing.T) {
	tests := []struct {
		b        backend
		id, name string
		want     bool
	}{
		{backendPulse, "jabra.monitor", "Monitor of Jabra", true},
		{backendPulse, "odd_id", "Monitor of Something", true},
		{backendPulse, "x.monitor", "Renamed", true},
		{backendPulse, "jabra_mic", "Jabra Evolve2 65 Mic", false},
		{backendPulse, "monitor_speaker", "Monitor speaker", false},
		{backendALSA, "x.monitor", "Monitor of X", false},
	}
	for _, tt := range tests {
		if got := isMonitor(tt.b, tt.id, tt.name); got != tt.want {
			t.Errorf("isMonitor(%v, %q, %q) = %v, want %v", tt.b, tt.id, tt.name, got, tt.want)
		}
	}
}

func TestIsDummy(t *testing.T) {
	tests := []struct {
		b    backend
		id   string
		want bool
	}{
		{backendPulse, "auto_null", true},
		{backendPulse, "auto_null.monitor", true},
		{backendPulse, "auto_null_2", false},
		{backendPulse, "jabra", false},
		{backendALSA, "auto_null", false},
	}
	for _, tt := range tests {
		if got := isDummy(tt.b, tt.id); got != tt.want {
			t.Errorf("isDummy(%v, %q) = %v, want %v", tt.b, tt.id, got, tt.want)
		}
	}
}

func TestSnapshotEqual(t *testing.T) {
	mic := Device{Name: "Mic", ID: "mic", Kind: KindCapture}
	ear := Device{Name: "Ear", ID: "ear", Kind: KindPlayback, Default: true}
	base := Snapshot{Backend: "pulseaudio", Capture: []Device{mic}, Playback: []Device{ear}}
	micDefault := mic
	micDefault.Default = true
	tests := []struct {
		name string
		o    Snapshot
		want bool
	}{
		{"same", Snapshot{Backend: "pulseaudio", Capture: []Device{mic}, Playback: []Device{ear}}, true},
		{"other backend", Snapshot{Backend: "alsa", Capture: []Device{mic}, Playback: []Device{ear}}, false},
		{"null flag", Snapshot{Backend: "pulseaudio", Null: true, Capture: []Device{mic}, Playback: []Device{ear}}, false},
		{"device gone", Snapshot{Backend: "pulseaudio", Playback: []Device{ear}}, false},
		{"default moved", Snapshot{Backend: "pulseaudio", Capture: []Device{micDefault}, Playback: []Device{ear}}, false},
		{"order", Snapshot{Backend: "pulseaudio", Capture: []Device{mic, mic}, Playback: []Device{ear}}, false},
	}
	for _, tt := range tests {
		if got := base.Equal(tt.o); got != tt.want {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.want)
		}
		if got := tt.o.Equal(base); got != tt.want {
			t.Errorf("%s: reverse Equal = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !(Snapshot{Backend: "null"}).Equal(Snapshot{Backend: "null", Capture: []Device{}}) {
		t.Error("nil and empty device lists must be equal")
	}
	if d, ok := base.Default(KindPlayback); !ok || d.ID != "ear" {
		t.Errorf("Default(playback) = %v, %v; want ear", d, ok)
	}
	if _, ok := base.Default(KindCapture); ok {
		t.Error("Default(capture) found a default where none is flagged")
	}
	if _, ok := base.Default(KindUnknown); ok {
		t.Error("Default(unknown) found a device")
	}
}

func TestHasSoundCard(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		missing bool
		want    bool
		wantErr bool
	}{
		{name: "no /dev/snd", missing: true, want: false},
		{name: "empty", want: false},
		{name: "control and timer only", files: []string{"controlC0", "timer", "seq"}, want: false},
		{name: "playback pcm", files: []string{"controlC0", "pcmC0D0p"}, want: true},
		{name: "capture pcm", files: []string{"pcmC1D3c"}, want: true},
		{name: "not a pcm", files: []string{"pcmC0D0x", "pcmCxD0p"}, want: false},
	}
	for _, tt := range tests {
		dir := filepath.Join(t.TempDir(), "snd")
		if !tt.missing {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := hasSoundCard(dir)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.name, err, tt.wantErr)
		}
		if got != tt.want {
			t.Errorf("%s: hasSoundCard = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// fakeBackend stands in for miniaudio in the unit tests: it serves the
// snapshot or error it is set to, and can be made to hang.
type fakeBackend struct {
	mu      sync.Mutex
	snap    Snapshot
	err     error
	openErr map[backend]error
	hang    chan struct{} // when set, list blocks until it is closed
	opened  []backend
	closed  int
	lists   int
}

func (f *fakeBackend) set(s Snapshot, err error) {
	f.mu.Lock()
	f.snap, f.err = s, err
	f.mu.Unlock()
}

func (f *fakeBackend) open(b backend) (lister, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, b)
	if err := f.openErr[b]; err != nil {
		return nil, err
	}
	return &fakeLister{f: f, b: b}, nil
}

type fakeLister struct {
	f *fakeBackend
	b backend
}

func (l *fakeLister) list() (Snapshot, error) {
	l.f.mu.Lock()
	hang := l.f.hang
	l.f.mu.Unlock()
	if hang != nil {
		<-hang
	}
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	l.f.lists++
	s := l.f.snap
	s.Backend = l.b.String()
	s.Null = l.b == backendNull
	return s, l.f.err
}

func (l *fakeLister) close() error {
	l.f.mu.Lock()
	l.f.closed++
	l.f.mu.Unlock()
	return nil
}

// manualTicker lets a test decide when Watch polls.
type manualTicker struct{ c chan time.Time }

func newManualTicker() *manualTicker { return &manualTicker{c: make(chan time.Time)} }

func (m *manualTicker) factory(time.Duration) (<-chan time.Time, func()) { return m.c, func() {} }

func (m *manualTicker) tick(t *testing.T) {
	t.Helper()
	select {
	case m.c <- time.Now():
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not take a tick")
	}
}

func headsetSnap(ids ...string) Snapshot {
	var s Snapshot
	for i, id := range ids {
		s.Playback = append(s.Playback, Device{Name: id, ID: id, Kind: KindPlayback, Default: i == 0})
		s.Capture = append(s.Capture, Device{Name: id + " Mic", ID: id + "_mic", Kind: KindCapture, Default: i == 0})
	}
	return s
}

func recv(t *testing.T, ch <-chan Snapshot) Snapshot {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no snapshot reported")
		return Snapshot{}
	}
}

func TestWatchReportsOnlyChanges(t *testing.T) {
	fb := &fakeBackend{}
	fb.set(headsetSnap("jabra"), nil)
	tk := newManualTicker()
	s, err := Open(Options{Backend: "pulseaudio", open: fb.open, ticker: tk.factory, NoServerEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Snapshot, 16)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(sn Snapshot) { got <- sn }) }()

	first := recv(t, got)
	want := headsetSnap("jabra")
	want.Backend = "pulseaudio"
	if !first.Equal(want) {
		t.Fatalf("first snapshot = %+v", first)
	}
	// Polls without a change report nothing: the next report must be the
	// change made after them.
	tk.tick(t)
	tk.tick(t)
	fb.set(headsetSnap("jabra", "plantronics"), nil)
	tk.tick(t)
	second := recv(t, got)
	if len(second.Playback) != 2 || second.Playback[1].ID != "plantronics" {
		t.Fatalf("second snapshot = %+v, want two headsets", second)
	}
	// A default change alone is a change.
	changed := headsetSnap("jabra", "plantronics")
	changed.Playback[0].Default, changed.Playback[1].Default = false, true
	fb.set(changed, nil)
	tk.tick(t)
	if third := recv(t, got); !third.Playback[1].Default || third.Playback[0].Default {
		t.Fatalf("third snapshot = %+v, want plantronics default", third)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch returned %v after cancel, want nil", err)
	}
	if len(got) != 0 {
		t.Fatalf("%d extra snapshots reported", len(got))
	}
}

func TestWatchReportsErrorsAndEmpties(t *testing.T) {
	fb := &fakeBackend{}
	fb.set(headsetSnap("jabra"), nil)
	tk := newManualTicker()
	errs := make(chan error, 16)
	var logBuf syncBuffer
	s, err := Open(Options{
		Backend: "pulseaudio", open: fb.open, ticker: tk.factory, NoServerEvents: true,
		OnError: func(err error) { errs <- err },
		Logger:  slog.New(slog.NewTextHandler(&logBuf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Snapshot, 16)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(sn Snapshot) { got <- sn }) }()
	recv(t, got)

	boom := errors.New("audio: pulseaudio: connection refused")
	fb.set(Snapshot{}, boom)
	tk.tick(t)
	if err := <-errs; !errors.Is(err, boom) {
		t.Fatalf("OnError got %v, want %v", err, boom)
	}
	tk.tick(t)
	<-errs
	if empty := recv(t, got); !empty.empty() || empty.Backend != "pulseaudio" {
		t.Fatalf("after two failures got %+v, want an empty pulseaudio snapshot", empty)
	}
	// Recovery reports the devices again, and the failed contexts were
	// closed and reopened.
	fb.set(headsetSnap("jabra"), nil)
	tk.tick(t)
	if back := recv(t, got); len(back.Playback) != 1 {
		t.Fatalf("after recovery got %+v", back)
	}
	fb.mu.Lock()
	opened, closed := len(fb.opened), fb.closed
	fb.mu.Unlock()
	if opened != 3 || closed != 2 {
		t.Errorf("opened %d / closed %d contexts, want 3 / 2", opened, closed)
	}
	// Closing the System ends Watch with ErrClosed.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Watch after Close returned %v, want ErrClosed", err)
	}
	if !strings.Contains(logBuf.String(), "device listing failed") {
		t.Errorf("failure not logged:\n%s", logBuf.String())
	}
}

func TestHungBackendIsBounded(t *testing.T) {
	fb := &fakeBackend{}
	fb.set(headsetSnap("jabra"), nil)
	s, err := Open(Options{Backend: "pulseaudio", open: fb.open, CallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	fb.mu.Lock()
	fb.hang = release
	fb.mu.Unlock()
	if _, err := s.Snapshot(); !errors.Is(err, ErrBackendHung) {
		t.Fatalf("Snapshot on a hung backend = %v, want ErrBackendHung", err)
	}
	if _, err := s.Snapshot(); !errors.Is(err, ErrBackendHung) {
		t.Fatalf("Snapshot while the earlier call hangs = %v, want ErrBackendHung", err)
	}
	fb.mu.Lock()
	fb.hang = nil
	fb.mu.Unlock()
	close(release)
	// The stuck call's late reply is dropped; the next call works.
	if snap, err := s.Snapshot(); err != nil || len(snap.Playback) != 1 {
		t.Fatalf("Snapshot after release = %+v, %v", snap, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := s.Snapshot(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Snapshot after Close = %v, want ErrClosed", err)
	}
	if err := s.Watch(context.Background(), func(Snapshot) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Watch after Close = %v, want ErrClosed", err)
	}
}

func TestAutoFallbackOrder(t *testing.T) {
	refused := errors.New("connection refused")
	tests := []struct {
		name    string
		openErr map[backend]error
		card    bool
		want    string
		opened  []backend
		wantErr bool
	}{
		{"pulse first", nil, true, "pulseaudio", []backend{backendPulse}, false},
		{"alsa with a card", map[backend]error{backendPulse: refused}, true, "alsa", []backend{backendPulse, backendALSA}, false},
		{"no card: null, alsa untried", map[backend]error{backendPulse: refused}, false, "null", []backend{backendPulse, backendNull}, false},
		{"alsa fails: null", map[backend]error{backendPulse: refused, backendALSA: refused}, true, "null", []backend{backendPulse, backendALSA, backendNull}, false},
		{"nothing opens", map[backend]error{backendPulse: refused, backendNull: refused}, false, "", []backend{backendPulse, backendNull}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.card {
				if err := os.WriteFile(filepath.Join(dir, "pcmC0D0p"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fb := &fakeBackend{openErr: tt.openErr}
			var logBuf syncBuffer
			s, err := Open(Options{open: fb.open, soundDir: dir, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Open err = %v, wantErr %v", err, tt.wantErr)
			}
			if !equalBackends(fb.opened, tt.opened) {
				t.Errorf("opened %v, want %v", fb.opened, tt.opened)
			}
			if err != nil {
				return
			}
			defer s.Close()
			if s.Backend() != tt.want {
				t.Errorf("Backend() = %q, want %q", s.Backend(), tt.want)
			}
			snap, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if snap.Backend != tt.want || snap.Null != (tt.want == "null") {
				t.Errorf("snapshot backend %q null %v, want %q", snap.Backend, snap.Null, tt.want)
			}
			if tt.want == "null" && !strings.Contains(logBuf.String(), "using the null backend") {
				t.Errorf("fallback not logged:\n%s", logBuf.String())
			}
		})
	}
}

func TestForcedBackendFailureIsError(t *testing.T) {
	fb := &fakeBackend{openErr: map[backend]error{backendPulse: ErrNoBackend}}
	if _, err := Open(Options{Backend: "pulseaudio", open: fb.open}); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("Open = %v, want ErrNoBackend", err)
	}
	if !equalBackends(fb.opened, []backend{backendPulse}) {
		t.Errorf("opened %v, want only pulseaudio", fb.opened)
	}
}

func TestAutoRetriesRealBackendAfterFallback(t *testing.T) {
	fb := &fakeBackend{openErr: map[backend]error{backendPulse: ErrNoBackend}}
	s, err := Open(Options{open: fb.open, soundDir: t.TempDir(), retryInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if snap, err := s.Snapshot(); err != nil || !snap.Null {
		t.Fatalf("first snapshot = %+v, %v; want null", snap, err)
	}
	fb.mu.Lock()
	fb.openErr = nil
	fb.mu.Unlock()
	snap, err := s.Snapshot()
	if err != nil || snap.Backend != "pulseaudio" || snap.Null {
		t.Fatalf("snapshot after the server came up = %+v, %v; want pulseaudio", snap, err)
	}
}

func equalBackends(a, b []backend) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// syncBuffer is a bytes.Buffer safe for a logger on another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
