package audio

import (
	"testing"
	"time"
)

// TestMonoNowIsCsClock: monoNow (Go's clock set against C's once) reads
// the clock the C callbacks stamp their times with, within 1 ms.
func TestMonoNowIsCsClock(t *testing.T) {
	for range 100 {
		before := cMonoNow()
		got := monoNow()
		after := cMonoNow()
		if got < before-int64(time.Millisecond) || got > after+int64(time.Millisecond) {
			t.Fatalf("monoNow %d outside C's clock %d..%d by more than 1 ms", got, before, after)
		}
	}
}
