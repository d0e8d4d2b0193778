package phone

import (
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestHubNeverDropsForASlowReader(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHub(time.Now)
	ch, cancel := h.subscribe()
	const n = 5000
	for i := 1; i <= n; i++ {
		h.publish(EventCall, map[string]int{"i": i}) // nobody reads yet: must queue, not block or drop
	}
	for i := 1; i <= n; i++ {
		ev, ok := <-ch
		if !ok {
			t.Fatalf("channel closed after %d events", i-1)
		}
		var d map[string]int
		if err := json.Unmarshal(ev.Data, &d); err != nil || d["i"] != i || ev.Seq != uint64(i) || ev.Type != "call" {
			t.Fatalf("event %d = %+v", i, ev)
		}
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Error("channel open after cancel")
	}
	cancel() // idempotent
}

func TestHubCloseEndsSubscriptions(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHub(time.Now)
	a, cancelA := h.subscribe()
	b, cancelB := h.subscribe()
	h.publish(EventDevices, "x")
	if ev := <-a; ev.Type != "devices" {
		t.Errorf("a got %+v", ev)
	}
	h.close()
	for _, ch := range []<-chan Event{a, b} {
		for range ch { // drains what was queued, then closed
		}
	}
	cancelA()
	cancelB()
	late, cancelLate := h.subscribe()
	if _, ok := <-late; ok {
		t.Error("subscription after close is open")
	}
	cancelLate()
	h.publish(EventCall, 1) // after close: no panic, nobody to tell
}
