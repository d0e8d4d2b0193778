package media

import (
	"errors"
	"runtime"
	"testing"
)

// TestSessionDefaultClock: a session on the real clock waits on a
// tick.Clock (on Linux the system's, not a Go timer), and Close ends a
// ReadFrame under way.
func TestSessionDefaultClock(t *testing.T) {
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	t.Cleanup(func() { _, _ = bRTP.Close(), bRTCP.Close() })
	s := startSession(t, aRTP, aRTCP, g711("PCMU", addrOf(bRTP), SendRecv))
	c, ok := s.playout.(playoutClock)
	if !ok {
		t.Fatalf("playout clock %T, want a tick.Clock", s.playout)
	}
	if runtime.GOOS == "linux" && c.OnGoTimer() {
		t.Error("the playout clock is a Go timer on Linux, want the timerfd")
	}
	for range 3 {
		f, err := s.ReadFrame(t.Context())
		if err != nil || len(f) != 160 {
			t.Fatalf("ReadFrame: %d samples, %v", len(f), err)
		}
	}
	got := make(chan error, 1)
	go func() {
		for {
			if _, err := s.ReadFrame(t.Context()); err != nil {
				got <- err
				return
			}
		}
	}()
	_ = s.Close()
	if err := <-got; !errors.Is(err, ErrSessionClosed) {
		t.Errorf("ReadFrame under Close: %v, want ErrSessionClosed", err)
	}
}
