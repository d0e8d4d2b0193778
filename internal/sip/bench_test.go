package sip

import (
	"context"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// BenchmarkIncomingCall measures one whole incoming call on loopback UDP:
// INVITE → 100/200 (SDP answer) → ACK → BYE → 200, against an in-process peer.
func BenchmarkIncomingCall(b *testing.B) {
	h := newRecHandler(answerWith(newFakeMedia()))
	h.states = make(chan stateEvent, 1<<16)
	p := newPeer(b)
	u, err := New(Options{Host: "127.0.0.1", Transports: []string{"udp"}}, h)
	if err != nil {
		b.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = u.Close(context.Background()) }()
	addr := u.ListenAddr("udp")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := p.request(sip.INVITE, addr, offerSDP(), "application/sdp")
		tx, err := p.client.TransactionRequest(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		var res *sip.Response
		for res == nil {
			select {
			case r := <-tx.Responses():
				if r.StatusCode >= 200 {
					res = r
				}
			case <-tx.Done():
				b.Fatal(tx.Err())
			}
		}
		tx.Terminate()
		if res.StatusCode != 200 {
			b.Fatalf("answered %d", res.StatusCode)
		}
		if err := p.client.WriteRequest(p.inDialog(sip.ACK, req, res, req.CSeq().SeqNo, nil, "")); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		bres, err := p.client.Do(ctx, p.inDialog(sip.BYE, req, res, req.CSeq().SeqNo+1, nil, ""))
		if err != nil || bres.StatusCode != 200 {
			b.Fatalf("BYE: %v %v", bres, err)
		}
		<-h.incoming
	}
}

// BenchmarkAutoAnswerHeaders measures the auto-answer header scan done for
// every incoming INVITE.
func BenchmarkAutoAnswerHeaders(b *testing.B) {
	req := msgWith("Alert-Info", "<http://x/ring>", "Call-Info", "<sip:127.0.0.1>;answer-after=2")
	for i := 0; i < b.N; i++ {
		if _, ok := autoAnswer(req); !ok {
			b.Fatal("no auto answer")
		}
	}
}
