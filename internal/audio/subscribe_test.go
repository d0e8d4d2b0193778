package audio

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		line    string
		want    serverEvent
		affects bool
		wantErr bool
	}{
		{"Event 'new' on sink #3", serverEvent{"new", "sink"}, true, false},
		{"Event 'remove' on source #12", serverEvent{"remove", "source"}, true, false},
		{"Event 'change' on server", serverEvent{"change", "server"}, true, false},
		{"Event 'change' on sink #0\r", serverEvent{"change", "sink"}, true, false},
		{"Event 'new' on sink-input #7", serverEvent{"new", "sink-input"}, false, false},
		{"Event 'remove' on source-output #2", serverEvent{"remove", "source-output"}, false, false},
		{"Event 'new' on module #25", serverEvent{"new", "module"}, false, false},
		{"Event 'change' on card #1", serverEvent{"change", "card"}, false, false},
		{"Event 'new' on client #9", serverEvent{"new", "client"}, false, false},
		{"Event 'odd' on sink #1", serverEvent{"odd", "sink"}, false, false},
		{"", serverEvent{}, false, true},
		{"Connection failure: Connection refused", serverEvent{}, false, true},
		{"Event 'new'", serverEvent{}, false, true},
		{"Event '' on sink #1", serverEvent{}, false, true},
		{"Event 'new' on ", serverEvent{}, false, true},
	}
	for _, tt := range tests {
		got, err := parseEvent(tt.line)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseEvent(%q) err = %v, wantErr %v", tt.line, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("parseEvent(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
		if got.affectsDevices() != tt.affects {
			t.Errorf("parseEvent(%q).affectsDevices() = %v, want %v", tt.line, got.affectsDevices(), tt.affects)
		}
	}
}

// eventFeed stands in for `pactl subscribe`: Watch runs `cat FIFO`, and
// the test writes event lines into the FIFO.
type eventFeed struct {
	path string
	w    *os.File
}

func newEventFeed(t *testing.T) *eventFeed {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return &eventFeed{path: path}
}

func (f *eventFeed) argv() []string { return []string{"cat", f.path} }

// send writes lines; the first call waits until cat has opened the FIFO.
func (f *eventFeed) send(t *testing.T, lines ...string) {
	t.Helper()
	if f.w == nil {
		w, err := os.OpenFile(f.path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.w = w
	}
	if _, err := f.w.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// hangUp closes the FIFO: cat exits, as pactl does when the server goes.
func (f *eventFeed) hangUp() {
	if f.w != nil {
		f.w.Close()
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func (f *fakeBackend) listCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

func TestWatchFollowsServerEvents(t *testing.T) {
	fb := &fakeBackend{}
	fb.set(headsetSnap("jabra"), nil)
	tk := newManualTicker() // never ticks unless told: every listing below comes from an event
	feed := newEventFeed(t)
	var logBuf syncBuffer
	s, err := Open(Options{
		Backend: "pulseaudio", open: fb.open, ticker: tk.factory, subscribeArgv: feed.argv(),
		Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Snapshot, 16)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(sn Snapshot) { got <- sn }) }()
	recv(t, got)

	// Stream events do not list; a burst of device events lists once.
	feed.send(t, "Event 'new' on sink-input #4", "Event 'change' on client #2")
	fb.set(headsetSnap("jabra", "plantronics"), nil)
	feed.send(t, "Event 'new' on sink #1", "Event 'new' on source #2", "Event 'new' on source #3")
	if sn := recv(t, got); len(sn.Playback) != 2 {
		t.Fatalf("after the sink event got %+v, want two headsets", sn.Playback)
	}
	if n := fb.listCount(); n != 2 {
		t.Errorf("%d listings after the first snapshot and one burst, want 2", n)
	}
	fb.set(headsetSnap("plantronics"), nil)
	feed.send(t, "Event 'change' on server")
	if sn := recv(t, got); len(sn.Playback) != 1 || sn.Playback[0].ID != "plantronics" {
		t.Fatalf("after the server event got %+v", sn.Playback)
	}

	// The child ends: Watch says so and polls at the fast interval.
	s.mu.Lock()
	var pid int
	for sub := range s.subs {
		pid = sub.pid()
	}
	s.mu.Unlock()
	fb.set(headsetSnap("jabra"), nil)
	feed.hangUp()
	// Watch lists at once when the child ends (the server may be gone).
	if sn := recv(t, got); sn.Playback[0].ID != "jabra" {
		t.Fatalf("listing after the child ended got %+v", sn.Playback)
	}
	fb.set(headsetSnap("jabra", "plantronics"), nil)
	tk.tick(t)
	if sn := recv(t, got); len(sn.Playback) != 2 {
		t.Fatalf("polling after the child ended got %+v", sn.Playback)
	}
	if !strings.Contains(logBuf.String(), "pactl subscribe ended") {
		t.Errorf("the end of the subscription is not logged:\n%s", logBuf.String())
	}
	if pid == 0 || alive(pid) {
		t.Errorf("subscription child %d not reaped", pid)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Watch = %v, want nil", err)
	}
}

func TestWatchReapsChild(t *testing.T) {
	for _, how := range []string{"cancel", "close"} {
		t.Run(how, func(t *testing.T) {
			fb := &fakeBackend{}
			fb.set(headsetSnap("jabra"), nil)
			feed := newEventFeed(t)
			s, err := Open(Options{Backend: "pulseaudio", open: fb.open, ticker: newManualTicker().factory, subscribeArgv: feed.argv()})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan Snapshot, 4)
			done := make(chan error, 1)
			go func() { done <- s.Watch(ctx, func(sn Snapshot) { got <- sn }) }()
			recv(t, got)
			feed.send(t, "Event 'change' on client #1") // cat is running
			s.mu.Lock()
			var pid int
			for sub := range s.subs {
				pid = sub.pid()
			}
			s.mu.Unlock()
			if pid == 0 || !alive(pid) {
				t.Fatalf("no running subscription child (pid %d)", pid)
			}
			var want error
			if how == "cancel" {
				cancel()
			} else {
				want = ErrClosed
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				// Close itself reaps the child, before Watch returns.
				if alive(pid) {
					t.Errorf("child %d alive after Close", pid)
				}
			}
			if err := <-done; !errors.Is(err, want) {
				t.Fatalf("Watch = %v, want %v", err, want)
			}
			if alive(pid) {
				t.Errorf("child %d alive after Watch returned", pid)
			}
		})
	}
}

func TestWatchWithoutPactlPolls(t *testing.T) {
	fb := &fakeBackend{}
	fb.set(headsetSnap("jabra"), nil)
	tk := newManualTicker()
	var logBuf syncBuffer
	s, err := Open(Options{
		Backend: "pulseaudio", open: fb.open, ticker: tk.factory,
		subscribeArgv: []string{"softphone-no-such-program"},
		Logger:        slog.New(slog.NewTextHandler(&logBuf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Snapshot, 4)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, func(sn Snapshot) { got <- sn }) }()
	recv(t, got)
	fb.set(headsetSnap("jabra", "plantronics"), nil)
	tk.tick(t)
	if sn := recv(t, got); len(sn.Playback) != 2 {
		t.Fatalf("polling without pactl got %+v", sn.Playback)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logBuf.String(), "no sound server events") {
		t.Errorf("the fallback to polling is not logged:\n%s", logBuf.String())
	}
}

func TestWatchNullBackendDoesNotSubscribe(t *testing.T) {
	fb := &fakeBackend{}
	s, err := Open(Options{Backend: "null", open: fb.open, ticker: newManualTicker().factory, subscribeArgv: []string{"cat"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Watch(ctx, func(Snapshot) {
		s.mu.Lock()
		n := len(s.subs)
		s.mu.Unlock()
		if n != 0 {
			t.Errorf("%d subscriptions on the null backend", n)
		}
	}); err != nil {
		t.Fatal(err)
	}
}
