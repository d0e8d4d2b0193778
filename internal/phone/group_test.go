package phone

import (
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestGroupJoinsAndRefusesAfterClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	var g group
	var ran atomic.Int32
	release := make(chan struct{})
	for range 10 {
		if !g.Go(func() { <-release; ran.Add(1) }) {
			t.Fatal("Go refused before Close")
		}
	}
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	// Close must wait for the ten goroutines.
	select {
	case <-closed:
		t.Fatal("Close returned while goroutines ran")
	default:
	}
	close(release)
	<-closed
	if ran.Load() != 10 {
		t.Fatalf("%d goroutines ran, want 10", ran.Load())
	}
	if g.Go(func() { t.Error("ran after Close") }) {
		t.Error("Go accepted after Close")
	}
	g.Close() // idempotent
}
