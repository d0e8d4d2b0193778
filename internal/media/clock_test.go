package media

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/tick"
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

// TestSessionAlignsPlayout: a session on the real clock moves its playout
// ticks to follow the packets, so that a packet waits the jitter buffer's
// target and not up to a frame more for the tick that plays it.
func TestSessionAlignsPlayout(t *testing.T) {
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	a := startSession(t, aRTP, aRTCP, g711("PCMU", addrOf(bRTP), SendRecv))
	b := startSession(t, bRTP, bRTCP, g711("PCMU", addrOf(aRTP), SendRecv))
	// The sender's packets leave 8 ms after a's ticks: played at the
	// tick after their playout instant, they would wait 12 ms more than
	// the target.
	send, err := tick.New(20 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer send.Stop()
	send.Phase(a.startedAt.Add(8 * time.Millisecond))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		frame := make([]int16, 160)
		for send.Wait(ctx) == nil {
			if b.WriteFrame(frame) != nil {
				return
			}
		}
	}()
	// Two seconds of playout; the least wait over the last half second.
	least := time.Hour
	for i := range 100 {
		if _, err := a.ReadFrame(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st := a.Stats(); i >= 75 && st.FramesDecoded > 0 {
			least = min(least, st.PlayoutDelay)
		}
	}
	cancel()
	<-sent
	st := a.Stats()
	if st.PlayoutMoves == 0 {
		t.Fatalf("the playout clock never moved (%d frames decoded, last wait %v)", st.FramesDecoded, st.PlayoutDelay)
	}
	// Aligned, a packet waits the target (20 ms) and alignLag; at the
	// first phase it waited 12 ms more.
	if limit := st.PlayoutTarget + alignLag + alignSlack + 3*time.Millisecond; least > limit {
		t.Errorf("packets waited at least %v in the jitter buffer (target %v), want at most %v", least, st.PlayoutTarget, limit)
	}
}

// TestAlignPlayoutMoves: the clock moves once per window of decoded
// frames whose least lag is more than alignSlack past alignLag, by that
// lag less alignLag and whole frames; never for a lag within the slack,
// a negative one, or one a whole frame over.
func TestAlignPlayoutMoves(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	now := time.Unix(1000, 0)
	for _, tt := range []struct {
		name string
		lags []time.Duration // one window: the least counts
		at   time.Duration   // where the next tick goes after now; 0: no move
	}{
		{"12 ms behind", []time.Duration{ms(14), ms(12), ms(13)}, ms(20 - 11)},
		{"within the slack", []time.Duration{ms(3), ms(2.5)}, 0},
		{"ahead", []time.Duration{ms(-4), ms(8)}, 0},
		{"a whole frame over", []time.Duration{ms(21.5), ms(22)}, 0},
		{"a frame and 9 ms over", []time.Duration{ms(30), ms(29)}, ms(20 - 8)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var moved []time.Time
			s := &Session{jb: newJitterBuffer(8000, 8000, 1, 20*time.Millisecond), phase: func(at time.Time) { moved = append(moved, at) }}
			for i := range alignFrames {
				s.alignPlayout(now, tt.lags[i%len(tt.lags)])
			}
			switch {
			case tt.at == 0 && len(moved) != 0:
				t.Errorf("moved to %v after now", moved[0].Sub(now))
			case tt.at != 0 && (len(moved) != 1 || moved[0].Sub(now) != tt.at):
				t.Errorf("moves %v, want one to %v after now", moved, tt.at)
			}
			if s.moves != uint64(len(moved)) {
				t.Errorf("counted %d moves, made %d", s.moves, len(moved))
			}
		})
	}
}
