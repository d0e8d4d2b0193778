package control

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// TestCurlPeer checks the API against a client that is not ours: curl
// dials, is refused without the token, and follows the event stream.
func TestCurlPeer(t *testing.T) {
	testbed.Require(t, "curl")
	f := newFakePhone()
	s, _ := startServer(t, f, Options{})
	dir := testbed.Dir(t, "curl")
	base := "http://" + s.Addr()
	auth := "Authorization: Bearer " + testToken
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	out, err := testbed.Run(ctx, dir, nil, "curl", "-sS", "-w", "\n%{http_code}",
		"-H", auth, "-H", "Content-Type: application/json",
		"-d", `{"uri":"sip:bob@example.com","connection":0}`, base+"/v1/calls")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "\n201") || !strings.Contains(out, `"id":"c2"`) {
		t.Errorf("dial with curl: %q", out)
	}
	if got := f.recorded(); len(got) != 1 || got[0] != "dial sip:bob@example.com 0" {
		t.Errorf("phone asked %q", got)
	}

	out, err = testbed.Run(ctx, dir, nil, "curl", "-sS", "-w", "\n%{http_code}", "-X", "POST", base+"/v1/answer")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out, "\n401") || !strings.Contains(out, `"code":"unauthorized"`) {
		t.Errorf("answer without token: %q", out)
	}

	p := testbed.Start(t, dir, nil, "curl", "-sSN", "-H", auth, base+"/v1/events")
	sub := waitSub(t, f)
	for i := uint64(1); i <= 3; i++ {
		if !sub.send(callEvent(i, "c1", "ringing")) {
			t.Fatalf("event %d refused", i)
		}
	}
	for _, want := range []string{"id: 1", "event: call", `data: {"seq":1,`, "id: 3", `data: {"seq":3,`} {
		if _, err := p.WaitLine(want, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	p.Stop()
	select {
	case <-sub.cancelled():
	case <-time.After(10 * time.Second):
		t.Error("subscription kept after curl left")
	}
}
