package media

import (
	"errors"
	"testing"
)

// TestSessionDefaultClock: a session on the real clock waits on a
// timerfd, and Close ends a ReadFrame under way.
func TestSessionDefaultClock(t *testing.T) {
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	t.Cleanup(func() { _, _ = bRTP.Close(), bRTCP.Close() })
	s := startSession(t, aRTP, aRTCP, g711("PCMU", addrOf(bRTP), SendRecv))
	if _, ok := s.playout.(playoutClock); !ok {
		t.Fatalf("playout clock %T, want the timerfd", s.playout)
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
