package phone

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestCallCloseCancelsJoinsOnce: Close cancels the call's context with
// the cause given, waits for the call's goroutines (a timer's included),
// refuses new ones, and a second Close changes nothing.
func TestCallCloseCancelsJoinsOnce(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	e := &call{mu: &mu}
	e.ctx, e.stop = context.WithCancelCause(context.Background())
	fired := make(chan struct{}, 1)
	e.after(time.Hour, func() { fired <- struct{}{} })
	watched := make(chan error, 1)
	e.g.Go(func() { <-e.ctx.Done(); watched <- context.Cause(e.ctx) })

	cause := errors.New("remote hangup")
	if err := e.Close(cause); err != nil {
		t.Fatal(err)
	}
	// Joined: the watcher has already seen the cause.
	select {
	case got := <-watched:
		if !errors.Is(got, cause) {
			t.Errorf("cause %v, want %v", got, cause)
		}
	default:
		t.Fatal("Close returned before the call's goroutines ended")
	}
	select {
	case <-fired:
		t.Error("the timer fired after Close")
	default:
	}
	if e.g.Go(func() {}) {
		t.Error("a goroutine started after Close")
	}
	if err := e.Close(errors.New("other")); err != nil {
		t.Fatal(err)
	}
	if got := context.Cause(e.ctx); !errors.Is(got, cause) {
		t.Errorf("a second Close changed the cause to %v", got)
	}
}
