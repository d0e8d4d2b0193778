package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// Back-to-back queue calls: a contact centre's queue hands the agent the
// next call the instant the last one is over. With auto_answer=1 and the
// headset present, every call must be answered 200 at once (none left
// ringing because the previous call still looked active), and none may be
// left in /v1/calls. The caller is testbed.RunQueue, whose next INVITE
// leaves on the previous call's last response.

// queueCalls is how many calls each run places in a row.
const queueCalls = 1000

// startQueueDaemon starts the daemon on the headset bed with auto_answer=1
// and a wide RTP range (the ports of a call are freed once its devices
// closed, a little after the call).
func startQueueDaemon(t *testing.T) *callDaemon {
	t.Helper()
	testbed.Require(t, "pulseaudio", "pactl")
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	return startCallDaemon(t, "auto_answer=1\n", true)
}

// queueCheck checks the end of a run: no call left, and logs the set-up
// times seen.
func queueCheck(t *testing.T, cd *callDaemon, res *testbed.QueueResult) {
	t.Helper()
	last := res.CallIDs[len(res.CallIDs)-1]
	waitEvent(t, cd.ev, "call", 15*time.Second, func(d json.RawMessage) bool {
		var ci phone.CallInfo
		return json.Unmarshal(d, &ci) == nil && ci.ID == last && ci.State == "ended"
	})
	calls, err := cd.client.Calls(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Errorf("%d calls left in /v1/calls after the queue: %+v", len(calls), calls)
	}
	if n := len(res.Setup); n > 0 {
		s := slices.Clone(res.Setup)
		slices.Sort(s)
		t.Logf("%d calls answered, %d cancelled; INVITE → 200 p50 %s p99 %s max %s", res.Answered, res.Cancelled,
			s[n/2], s[n*99/100], s[n-1])
	}
}

// TestQueueCallsBackToBack: the caller hangs up each call and calls again
// the instant its BYE is answered.
func TestQueueCallsBackToBack(t *testing.T) {
	cd := startQueueDaemon(t)
	res, err := testbed.RunQueue(context.Background(), testbed.QueueOptions{Target: cd.sipAddr, User: "agent", Calls: queueCalls})
	if err != nil {
		t.Fatalf("%v\n%s", err, cd.proc.Log())
	}
	if res.Answered != queueCalls {
		t.Errorf("%d of %d calls answered", res.Answered, queueCalls)
	}
	queueCheck(t, cd, res)
}

// TestQueueCallsAgentHangsUp: the agent ends each call (the first few with
// `softphone hangup`, the rest through the API) and the next INVITE
// leaves as soon as our BYE is answered.
func TestQueueCallsAgentHangsUp(t *testing.T) {
	cd := startQueueDaemon(t)
	n := 0
	hangups := make(chan error, queueCalls)
	onUp := func(id string) {
		n++
		// The hang-up returns once our BYE is answered, which the
		// caller does after this returns: it runs beside the caller.
		if n <= 5 {
			go func() {
				_, errOut, code := cd.cli(t, "hangup", id)
				if code != 0 {
					hangups <- fmt.Errorf("softphone hangup %s: exit %d: %s", id, code, errOut)
					return
				}
				hangups <- nil
			}()
			return
		}
		go func() { hangups <- cd.client.Hangup(context.Background(), id) }()
	}
	res, err := testbed.RunQueue(context.Background(), testbed.QueueOptions{Target: cd.sipAddr, User: "agent", Calls: queueCalls,
		End: testbed.QueueAgentHangs, OnUp: onUp})
	if err != nil {
		for len(hangups) > 0 {
			if herr := <-hangups; herr != nil {
				t.Errorf("hangup: %v", herr)
			}
		}
		t.Fatalf("%v\n%s", err, cd.proc.Log())
	}
	for range n {
		if err := <-hangups; err != nil {
			t.Errorf("hangup: %v", err)
		}
	}
	if res.Answered != queueCalls {
		t.Errorf("%d of %d calls answered", res.Answered, queueCalls)
	}
	queueCheck(t, cd, res)
}

// TestQueueCallsCancelRace: each INVITE is followed at once by its
// CANCEL, racing the auto-answer; whichever wins, the call is over (487,
// or 200 then BYE) before the next one, and each next call is answered.
func TestQueueCallsCancelRace(t *testing.T) {
	cd := startQueueDaemon(t)
	res, err := testbed.RunQueue(context.Background(), testbed.QueueOptions{Target: cd.sipAddr, User: "agent", Calls: queueCalls,
		End: testbed.QueueCancelRace})
	if err != nil {
		t.Fatalf("%v\n%s", err, cd.proc.Log())
	}
	if res.Answered+res.Cancelled != queueCalls {
		t.Errorf("%d answered + %d cancelled of %d calls", res.Answered, res.Cancelled, queueCalls)
	}
	t.Logf("cancel race: %d answered first, %d cancelled first", res.Answered, res.Cancelled)
	// Then a plain call: the line is free and answered.
	after, err := testbed.RunQueue(context.Background(), testbed.QueueOptions{Target: cd.sipAddr, User: "agent", Calls: 1})
	if err != nil || after.Answered != 1 {
		t.Fatalf("the call after the cancel race: %v", err)
	}
	queueCheck(t, cd, after)
}
