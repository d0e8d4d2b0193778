package sip

import (
	"context"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestRemoteHoldOffers: a peer's re-INVITEs hold and resume an answered
// call as the media package reads their SDP (RFC 3264 §8.4), including the
// cases a reader of its own in this package used to get wrong: a zero
// IPv6 address and a zero IPv4 address with recvonly. Each re-INVITE moves
// the call one step, so each must bring exactly the next state event.
func TestRemoteHoldOffers(t *testing.T) {
	leakCheck(t)
	h := newRecHandler(answerWith(newFakeMedia()))
	p := newPeer(t)
	u := startUA(t, Options{Transports: []string{"udp"}}, h)
	inv, tx := p.invite(u.ListenAddr("udp"), offerSDP())
	res := next(t, tx, 200)
	p.ack(inv, res, nil)
	h.waitState(t, CallStateActive)

	const v4 = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
	const v6 = "v=0\r\no=- 1 2 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::\r\nt=0 0\r\n"
	const audio = "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	zero4 := strings.Replace(v4, "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1)
	steps := []struct {
		name string
		sdp  string
		want CallState
	}{
		{"c=:: holds", v6 + audio, CallStateHeld},
		{"sendrecv resumes", v4 + audio + "a=sendrecv\r\n", CallStateActive},
		{"c=0.0.0.0 with recvonly holds", zero4 + audio + "a=recvonly\r\n", CallStateHeld},
		{"recvonly resumes", v4 + audio + "a=recvonly\r\n", CallStateActive},
		{"inactive holds", v4 + audio + "a=inactive\r\n", CallStateHeld},
		{"no attribute resumes", v4 + audio, CallStateActive},
		{"c=0.0.0.0 holds", zero4 + audio, CallStateHeld},
		{"session-level sendrecv resumes", v4 + "a=sendrecv\r\n" + audio, CallStateActive},
		{"sendonly holds", v4 + audio + "a=sendonly\r\n", CallStateHeld},
	}
	seq := inv.CSeq().SeqNo
	for _, st := range steps {
		// The UA answers 491 until it has applied the previous offer (its
		// state event may come first): the peer then tries again, as RFC
		// 3261 §14.1 has it, here at once and a bounded number of times.
		var re *sip.Request
		var rres *sip.Response
		for try := 0; try < 20 && (rres == nil || rres.StatusCode == sip.StatusRequestPending); try++ {
			seq++
			re = p.inDialog(sip.INVITE, inv, res, seq, []byte(st.sdp), "application/sdp")
			rtx, err := p.client.TransactionRequest(context.Background(), re)
			if err != nil {
				t.Fatal(err)
			}
			rres = next(t, rtx, 200)
			rtx.Terminate()
		}
		if rres.StatusCode != 200 {
			t.Fatalf("%s: re-INVITE answered %d", st.name, rres.StatusCode)
		}
		p.ack(re, rres, nil)
		if e := recv(t, h.states, st.name); e.state != st.want {
			t.Fatalf("%s: call %s (%s), want %s", st.name, e.state, e.reason, st.want)
		}
	}
}
