package phone

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/testbed"
)

// startPhone runs a Phone on loopback with the null audio device and
// auto_answer=1, and returns it with its SIP address; it is stopped (and
// must have joined every goroutine of its own) at the end of the test.
func startPhone(t *testing.T, session string) (*Phone, string) {
	t.Helper()
	leaks := goleak.IgnoreCurrent()
	sipPort, rtp := testbed.FreePort(t, 1), testbed.FreePort(t, 1)
	rtp -= rtp % 2
	ini := fmt.Sprintf("[policy.endpoint]\nsip_address = 127.0.0.1\nsip_port = %d\nrtp_port_min = %d\nrtp_port_max = %d\n"+
		"[system.audio]\nbackend = null\n[policy.device]\nuse_headset = 0\n[policy.session]\nauto_answer = 1\nzip_tone = 0\n%s",
		sipPort, rtp+2, rtp+400, session)
	cfg, _, err := config.Parse("phone_test.ini", []byte(ini))
	if err != nil {
		t.Fatal(err)
	}
	sys, err := audio.Open(audio.Options{Backend: "null"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Config: cfg, Audio: sys})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return within 20 s of its context ending")
		}
		if err := sys.Close(); err != nil {
			t.Errorf("audio close: %v", err)
		}
		goleak.VerifyNone(t, leaks)
	})
	if !testbed.WaitFor(10*time.Second, func() bool { return len(p.Status().SIPListen) > 0 }) {
		t.Fatal("the phone did not start listening for SIP")
	}
	return p, "127.0.0.1:" + strconv.Itoa(sipPort)
}

// TestQueueCallsThenShutdown: calls back to back are each answered, none
// is left, and the phone's shutdown joins everything it started.
func TestQueueCallsThenShutdown(t *testing.T) {
	p, addr := startPhone(t, "")
	res, err := testbed.RunQueue(context.Background(), testbed.QueueOptions{Target: addr, User: "agent", Calls: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered != 100 {
		t.Errorf("%d of 100 answered", res.Answered)
	}
	if !testbed.WaitFor(5*time.Second, func() bool { return len(p.Calls()) == 0 }) {
		t.Errorf("calls left: %+v", p.Calls())
	}
}

// TestWaitingCallAnsweredWhenTheOtherEnds: a call arriving while another
// is up waits (no answer over the conversation); when the agent hangs the
// first one up, the waiting call is decided again and answered.
func TestWaitingCallAnsweredWhenTheOtherEnds(t *testing.T) {
	p, addr := startPhone(t, "call_waiting = 1\n")
	events, stop := p.Subscribe()
	defer stop()
	second := make(chan error, 1)
	hungUp := make(chan error, 1)
	onUp := func(first string) {
		// The second caller calls while the first call is up.
		go func() {
			res, err := testbed.RunQueue(context.Background(), testbed.QueueOptions{Target: addr, User: "agent", Calls: 1})
			if err == nil && res.Answered != 1 {
				err = fmt.Errorf("answered %d", res.Answered)
			}
			second <- err
		}()
		// It waits: ringing, not answered.
		for ev := range events {
			var ci CallInfo
			if ev.Kind() == EventCall && json.Unmarshal(ev.Data, &ci) == nil && ci.ID != first {
				if ci.State != "ringing" {
					hungUp <- fmt.Errorf("the second call is %s while the first is up, want ringing", ci.State)
					return
				}
				break
			}
		}
		// The agent ends the first call (its BYE is answered once this
		// returns: hang up beside it).
		go func() { hungUp <- p.Hangup(first) }()
	}
	if _, err := testbed.RunQueue(context.Background(), testbed.QueueOptions{Target: addr, User: "agent", Calls: 1,
		End: testbed.QueueAgentHangs, OnUp: onUp}); err != nil {
		t.Fatal(err)
	}
	if err := <-hungUp; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("the waiting call after the first ended: %v", err)
	}
}
