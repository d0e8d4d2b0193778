package audio

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

func TestRing(t *testing.T) {
	r := newRing(8)
	if r.capacity() != 8 {
		t.Fatalf("capacity = %d, want 8", r.capacity())
	}
	tests := []struct {
		op   string // "w" writes in, "r" reads n
		in   []int16
		n    int
		want []int16 // what a read returns; for a write, want[0] is the count taken
	}{
		{op: "w", in: []int16{1, 2, 3, 4, 5}, want: []int16{5}},
		{op: "r", n: 3, want: []int16{1, 2, 3}},
		{op: "w", in: []int16{6, 7, 8, 9, 10, 11, 12}, want: []int16{6}}, // wraps; 2+6 = full
		{op: "w", in: []int16{13}, want: []int16{0}},                     // full: nothing taken
		{op: "r", n: 10, want: []int16{4, 5, 6, 7, 8, 9, 10, 11}},
		{op: "r", n: 4, want: []int16{}},
		{op: "w", in: []int16{14, 15}, want: []int16{2}},
		{op: "r", n: 1, want: []int16{14}},
	}
	for i, tt := range tests {
		switch tt.op {
		case "w":
			if got := r.write(tt.in); got != int(tt.want[0]) {
				t.Fatalf("step %d: write took %d, want %d", i, got, tt.want[0])
			}
		case "r":
			buf := make([]int16, tt.n)
			got := buf[:r.read(buf)]
			if !slices.Equal(got, tt.want) {
				t.Fatalf("step %d: read %v, want %v", i, got, tt.want)
			}
		}
		if r.readable()+r.writable() != r.capacity() {
			t.Fatalf("step %d: readable %d + writable %d != capacity", i, r.readable(), r.writable())
		}
	}
}

func TestStreamConfigDefaults(t *testing.T) {
	tests := []struct {
		name       string
		in         StreamConfig
		wantPeriod int // samples
		wantErr    bool
	}{
		{name: "zero value", in: StreamConfig{}, wantPeriod: 960},
		{name: "8 kHz 20 ms", in: StreamConfig{SampleRate: 8000}, wantPeriod: 160},
		{name: "stereo 10 ms", in: StreamConfig{Channels: 2, Period: 10 * time.Millisecond}, wantPeriod: 960},
		{name: "rate too low", in: StreamConfig{SampleRate: 100}, wantErr: true},
		{name: "three channels", in: StreamConfig{Channels: 3}, wantErr: true},
		{name: "negative channels", in: StreamConfig{Channels: -1}, wantErr: true},
		{name: "period too long", in: StreamConfig{Period: 2 * time.Second}, wantErr: true},
		{name: "one buffer period", in: StreamConfig{BufferPeriods: 1}, wantErr: true},
		{name: "negative timeout", in: StreamConfig{StopTimeout: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := tt.in.withDefaults()
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.name, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			if !errors.Is(err, ErrBadStreamConfig) {
				t.Errorf("%s: err = %v, want ErrBadStreamConfig", tt.name, err)
			}
			continue
		}
		if got.PeriodSamples() != tt.wantPeriod {
			t.Errorf("%s: PeriodSamples = %d, want %d", tt.name, got.PeriodSamples(), tt.wantPeriod)
		}
	}
}

func TestWatchdog(t *testing.T) {
	cfg := StreamConfig{StallTimeout: 300 * time.Millisecond, StartGrace: 3 * time.Second}
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		ms                  int
		frames              uint64
		wantArmed, wantLost bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"steady then stalled", []step{
			{100, 960, false, false}, {200, 1920, false, false}, {300, 2880, true, false},
			{400, 2880, false, false}, {500, 2880, false, false}, {600, 2880, false, true},
		}},
		{"null sink pause at start is allowed", []step{
			{100, 1800, false, false}, {1000, 1800, false, false}, {1600, 1800, false, false},
			{1700, 2760, false, false}, {1800, 3720, false, false}, {1900, 4680, true, false},
		}},
		{"never starts: lost after the grace", []step{
			{100, 0, false, false}, {2900, 0, false, false}, {3000, 0, false, true},
		}},
		{"slow start, then runs", []step{
			{100, 960, false, false}, {3000, 1920, false, false}, {3100, 2880, false, false},
			{3300, 3840, false, false}, {3500, 3840, false, false}, {3600, 3840, false, true},
		}},
	}
	for _, tt := range tests {
		w := watchdog{cfg: cfg, start: at(0), lastProgress: at(0)}
		for i, s := range tt.steps {
			armed, lost := w.check(at(s.ms), s.frames)
			if armed != s.wantArmed || lost != s.wantLost {
				t.Errorf("%s: step %d (%d ms): armed %v lost %v, want %v %v", tt.name, i, s.ms, armed, lost, s.wantArmed, s.wantLost)
			}
		}
	}
}

// countingCapture is a fake capture stream at 8 kHz, ticked by ticks,
// whose samples count 1, 2, 3...
func countingCapture(t *testing.T, ticks chan time.Time) *FakeStream {
	t.Helper()
	n := int16(0)
	cs, err := NewFakeCapture(StreamConfig{SampleRate: 8000}, FakeOptions{Ticks: ticks, Source: func(p []int16) {
		for i := range p {
			n++
			p[i] = n
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestFakeCaptureAndPlayback(t *testing.T) {
	ticks, playTicks := make(chan time.Time), make(chan time.Time)
	tickOn := func(ticks chan time.Time) {
		t.Helper()
		select {
		case ticks <- time.Now():
		case <-time.After(5 * time.Second):
			t.Fatal("fake did not take a tick")
		}
	}
	tick := func() { t.Helper(); tickOn(ticks) }
	cs := countingCapture(t, ticks)
	defer cs.Close()
	tick()
	tick()
	buf := make([]int16, 320)
	if _, err := cs.Read(buf); err != nil {
		t.Fatal(err)
	}
	if buf[0] != 1 || buf[319] != 320 {
		t.Errorf("read %d..%d, want 1..320", buf[0], buf[319])
	}
	if st := cs.Stats(); st.Frames != 320 || st.Callbacks != 2 {
		t.Errorf("stats %+v, want 320 frames in 2 callbacks", st)
	}
	if _, err := cs.Write(buf); err == nil {
		t.Error("Write on a capture stream succeeded")
	}

	played := make(chan []int16, 4)
	ps, err := NewFakePlayback(StreamConfig{SampleRate: 8000}, FakeOptions{Ticks: playTicks, Sink: func(p []int16) {
		played <- slices.Clone(p)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if _, err := ps.Write(buf[:160]); err != nil {
		t.Fatal(err)
	}
	tickOn(playTicks)
	tickOn(playTicks)
	if p := <-played; !slices.Equal(p, buf[:160]) {
		t.Errorf("first period played %v..., want what was written", p[:4])
	}
	if p := <-played; slices.ContainsFunc(p, func(v int16) bool { return v != 0 }) {
		t.Error("an empty ring must play silence")
	}
	if st := ps.Stats(); st.Underruns != 160 {
		t.Errorf("underruns = %d, want 160", st.Underruns)
	}
}

func TestFakeUnplugAndClose(t *testing.T) {
	lost := make(chan error, 1)
	var fs *FakeStream
	fs, err := NewFakeCapture(StreamConfig{OnLost: func(err error) {
		lost <- err
		// Closing from OnLost must not deadlock.
		if cerr := fs.Close(); cerr != nil {
			t.Errorf("Close from OnLost: %v", cerr)
		}
	}}, FakeOptions{Ticks: make(chan time.Time)})
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := fs.Read(make([]int16, 960))
		readErr <- err
	}()
	fs.Unplug()
	if err := <-lost; !errors.Is(err, ErrDeviceLost) {
		t.Fatalf("OnLost(%v), want ErrDeviceLost", err)
	}
	if err := <-readErr; !errors.Is(err, ErrDeviceLost) && !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("blocked Read returned %v, want ErrDeviceLost", err)
	}
	<-fs.Lost()
	if err := fs.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if !errors.Is(fs.Err(), ErrStreamClosed) {
		t.Errorf("Err after Close = %v, want ErrStreamClosed", fs.Err())
	}
	if _, err := fs.Read(make([]int16, 10)); !errors.Is(err, ErrStreamClosed) && !errors.Is(err, ErrDeviceLost) {
		t.Errorf("Read after Close = %v", err)
	}
}

func TestFakeTicksInRealTime(t *testing.T) {
	ps, err := NewFakePlayback(StreamConfig{Period: 5 * time.Millisecond}, FakeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Writing more than the ring holds only returns once the fake has
	// played periods: the writer is paced by the fake device.
	if _, err := ps.Write(make([]int16, 240*(DefaultBufferPeriods+3))); err != nil {
		t.Fatal(err)
	}
	if st := ps.Stats(); st.Callbacks < 3 {
		t.Errorf("callbacks = %d after writing 3 periods more than the ring holds", st.Callbacks)
	}
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Write(make([]int16, 1)); !errors.Is(err, ErrStreamClosed) && err != nil {
		t.Errorf("Write after Close = %v", err)
	}
}

func TestPlaybackMaxQueued(t *testing.T) {
	r := newRing(10)
	r.write([]int16{1, 2, 3, 4, 5, 6})
	if n := r.skip(4); n != 4 || r.readable() != 2 {
		t.Fatalf("skip(4) = %d, readable %d", n, r.readable())
	}
	if n := r.skip(9); n != 2 || r.readable() != 0 {
		t.Fatalf("skip past the end = %d, readable %d", n, r.readable())
	}

	tests := []struct {
		name      string
		maxQueued time.Duration
		queued    int // samples written before the callback
		want      []int16
		trimmed   uint64
		left      int
	}{
		// 8 kHz, 1 ms periods: 8 samples a callback; 2 ms bound = 16 samples.
		{"no bound keeps the backlog", 0, 40, []int16{0, 1, 2, 3, 4, 5, 6, 7}, 0, 32},
		{"within the bound", 2 * time.Millisecond, 24, []int16{0, 1, 2, 3, 4, 5, 6, 7}, 0, 16},
		{"backlog trimmed, oldest first", 2 * time.Millisecond, 40, []int16{16, 17, 18, 19, 20, 21, 22, 23}, 16, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := StreamConfig{SampleRate: 8000, Channels: 1, Period: time.Millisecond, BufferPeriods: 8, MaxQueued: tt.maxQueued}.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			c := newStreamCore(KindPlayback, cfg, nil)
			in := make([]int16, tt.queued)
			for i := range in {
				in[i] = int16(i)
			}
			c.ring.write(in)
			out := make([]int16, 8)
			c.onPlayback(out)
			if fmt.Sprint(out) != fmt.Sprint(tt.want) || c.Stats().Trimmed != tt.trimmed || c.ring.readable() != tt.left {
				t.Errorf("played %v trimmed %d left %d; want %v, %d, %d", out, c.Stats().Trimmed, c.ring.readable(), tt.want, tt.trimmed, tt.left)
			}
		})
	}
}

// TestReadReadyAndWriteWithin: ReadReady takes a whole buffer or nothing
// and never waits; WriteWithin queues what fits and waits no longer than
// it is told; both report a closed stream.
func TestReadReadyAndWriteWithin(t *testing.T) {
	ticks := make(chan time.Time)
	cs := countingCapture(t, ticks)
	buf := make([]int16, 240)
	if ok, err := cs.ReadReady(buf); ok || err != nil {
		t.Fatalf("ReadReady on an empty ring = %v, %v; want false, nil", ok, err)
	}
	select {
	case ticks <- time.Now(): // one period: 160 samples
	case <-time.After(5 * time.Second):
		t.Fatal("fake did not take a tick")
	}
	// The fake takes the tick before it delivers the period.
	if !testbed.WaitFor(5*time.Second, func() bool { return cs.Stats().Frames >= 160 }) {
		t.Fatal("fake did not deliver the period it took a tick for")
	}
	if ok, err := cs.ReadReady(buf); ok || err != nil {
		t.Fatalf("ReadReady with 160 of 240 samples = %v, %v; want false, nil", ok, err)
	}
	if ok, err := cs.ReadReady(buf[:160]); !ok || err != nil || buf[0] != 1 || buf[159] != 160 {
		t.Fatalf("ReadReady of a period = %v, %v, %d..%d; want true, nil, 1..160", ok, err, buf[0], buf[159])
	}
	if _, err := cs.WriteWithin(buf, 0); err == nil {
		t.Error("WriteWithin on a capture stream succeeded")
	}
	cs.Close()
	if ok, err := cs.ReadReady(buf[:1]); ok || !errors.Is(err, ErrStreamClosed) {
		t.Errorf("ReadReady after Close = %v, %v; want ErrStreamClosed", ok, err)
	}

	ps, err := NewFakePlayback(StreamConfig{SampleRate: 8000, BufferPeriods: 2}, FakeOptions{Ticks: make(chan time.Time)})
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if k, err := ps.WriteWithin(make([]int16, 400), 0); k != 320 || err != nil {
		t.Errorf("WriteWithin(400, 0) on a 320-sample ring = %d, %v; want 320, nil", k, err)
	}
	start := time.Now()
	if k, err := ps.WriteWithin(make([]int16, 10), 30*time.Millisecond); k != 0 || err != nil {
		t.Errorf("WriteWithin on a full ring = %d, %v; want 0, nil", k, err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("WriteWithin on a full ring returned after %s, before its 30 ms", d)
	}
}

// TestWatchdogSet: one goroutine watches every stream; a stream whose
// frame counter stops is declared lost, one that moves is not, and the
// goroutine ends when the last stream is closed.
func TestWatchdogSet(t *testing.T) {
	cfg := StreamConfig{SampleRate: 8000, Channels: 1, Period: 20 * time.Millisecond, BufferPeriods: 2,
		StallTimeout: 40 * time.Millisecond, StartGrace: 200 * time.Millisecond}
	moving := newStreamCore(KindCapture, cfg, slog.New(slog.DiscardHandler))
	stalled := newStreamCore(KindCapture, cfg, slog.New(slog.DiscardHandler))
	moving.startWatchdog()
	stalled.startWatchdog()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the moving stream's device: a period every 10 ms
		defer close(done)
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				moving.onCapture(make([]int16, 160))
			}
		}
	}()
	select {
	case <-stalled.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled stream was not declared lost")
	}
	if !errors.Is(stalled.Err(), ErrDeviceLost) {
		t.Errorf("stalled stream's error %v, want ErrDeviceLost", stalled.Err())
	}
	// Past the start grace and several stall timeouts: the moving one
	// must still run.
	if !testbed.WaitFor(5*time.Second, func() bool { return moving.Stats().Steady > 0 && moving.Stats().Frames >= 8000 }) {
		t.Fatalf("the moving stream did not run a second steadily: %+v", moving.Stats())
	}
	select {
	case <-moving.Lost():
		t.Fatal("a stream whose counter moves was declared lost")
	default:
	}
	if runtime.GOOS == "linux" {
		watchdogs.mu.Lock()
		onTimer := watchdogs.clock == nil || watchdogs.clock.OnGoTimer()
		watchdogs.mu.Unlock()
		if onTimer {
			t.Error("the watchdog goroutine waits on a Go timer, not on the system's clock")
		}
	}
	close(stop)
	<-done
	moving.shut()
	stalled.shut()
	if !testbed.WaitFor(5*time.Second, func() bool {
		watchdogs.mu.Lock()
		defer watchdogs.mu.Unlock()
		return watchdogs.clock == nil
	}) {
		t.Error("the watchdog goroutine still runs with no stream watched")
	}
}
