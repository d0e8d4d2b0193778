package main

import (
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestTrimPolicy(t *testing.T) {
	const mb = 1 << 20
	s := trimSettings{Tick: time.Second, Quiet: 2 * mb, Floor: 24 * mb, Gap: time.Second, MaxGap: 4 * time.Second}
	t0 := time.Unix(1000, 0)
	type step struct {
		sec      int
		allocs   uint64 // cumulative, MB
		retained uint64 // MB
		after    uint64 // retained after the trim, MB (when one is expected)
		want     bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first sample never trims", []step{{0, 1, 10, 0, false}}},
		{"start-up trim on the first quiet tick", []step{{0, 1, 10, 0, false}, {1, 1, 10, 9, true}, {2, 1, 10, 0, false}}},
		{"no start-up trim while busy", []step{{0, 1, 10, 0, false}, {1, 9, 10, 0, false}, {2, 9, 10, 9, true}}},
		{"below the floor nothing after start-up", []step{{0, 1, 10, 0, false}, {1, 1, 10, 9, true}, {5, 1, 23, 0, false}}},
		{"burst: no trim while allocating, trim once quiet", []step{
			{0, 1, 10, 0, false}, {1, 1, 10, 9, true},
			{2, 50, 100, 0, false}, {3, 150, 190, 0, false}, {4, 151, 190, 120, true}, {5, 151, 120, 30, true}}},
		{"gap respected", []step{
			{0, 1, 10, 0, false}, {1, 1, 10, 9, true},
			{10, 1, 100, 90, true}, {10, 1, 100, 0, false}}},
		{"gap doubles while trims give little back", []step{
			{0, 1, 10, 0, false}, {1, 1, 10, 9, true},
			{10, 1, 40, 39, true}, {11, 1, 40, 0, false}, {12, 1, 40, 39, true},
			{13, 1, 40, 0, false}, {15, 1, 40, 0, false}, {16, 1, 40, 39, true},
			{19, 1, 40, 0, false}, {20, 1, 40, 39, true}, {23, 1, 40, 0, false}, {24, 1, 40, 39, true}}},
		{"busy tick resets the gap", []step{
			{0, 1, 10, 0, false}, {1, 1, 10, 9, true},
			{10, 1, 40, 39, true}, {12, 1, 40, 39, true}, {13, 20, 60, 0, false}, {14, 20, 60, 30, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &trimPolicy{s: s}
			for i, st := range tt.steps {
				at := t0.Add(time.Duration(st.sec) * time.Second)
				got := p.next(memSample{at: at, allocs: st.allocs * mb, retained: st.retained * mb})
				if got != st.want {
					t.Fatalf("step %d (t=%ds): trim = %v, want %v", i, st.sec, got, st.want)
				}
				if got {
					p.trimmed(memSample{at: at, allocs: st.allocs * mb, retained: st.after * mb})
				}
			}
		})
	}
}

func TestTrimmerRunsAndStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var trims atomic.Int32
	done := make(chan struct{})
	read := func() memSample { return memSample{at: time.Now(), allocs: 1, retained: 1} }
	var startups atomic.Int32
	tr := startTrimmer(trimSettings{Tick: time.Millisecond, Quiet: 1 << 20, Floor: 1 << 30, Gap: time.Millisecond, MaxGap: time.Millisecond}, read, func(startup bool) {
		if startup {
			startups.Add(1)
		}
		if trims.Add(1) == 1 {
			close(done)
		}
	})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no start-up trim")
	}
	tr.Close()
	tr.Close() // idempotent
	n := trims.Load()
	if n != 1 || startups.Load() != 1 {
		t.Fatalf("trims = %d (start-up %d), want 1 start-up trim (memory is below the floor)", n, startups.Load())
	}
}

func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	if got := tuneGC(func(string) string { return "" }); got != "50" {
		t.Errorf("tuneGC without GOGC = %q, want 50", got)
	}
	if p := debug.SetGCPercent(100); p != gcPercent {
		t.Errorf("GC percent after tuneGC = %d, want %d", p, gcPercent)
	}
	env := func(k string) string {
		if k == "GOGC" {
			return "200"
		}
		return ""
	}
	if got := tuneGC(env); got != "200 (GOGC)" {
		t.Errorf("tuneGC with GOGC=200 = %q, want the environment's", got)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent after tuneGC with GOGC set = %d, want it untouched (100)", p)
	}
}
