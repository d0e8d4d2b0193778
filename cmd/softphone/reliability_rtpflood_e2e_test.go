package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestReliabilityRTPFlood: while a call carries a 440 Hz tone, its RTP
// port gets garbage and packets of a foreign SSRC from another address
// (well-formed PCMU of a stream the call never negotiated). The tone keeps
// coming out of the headset: RFC 4961 §4 (symmetric RTP) — once the
// peer's address is latched, packets from elsewhere are not the call's
// audio — and the next call is answered.
func TestReliabilityRTPFlood(t *testing.T) {
	tc := startToneCall(t)
	rtpPort := daemonRTPPort(t, tc.mb)
	flood := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(3, 4))
		flood <- blast(fmt.Sprintf("127.0.0.1:%d", rtpPort), floodRTP, func(i int) []byte {
			p := make([]byte, 12+160)
			for j := range p {
				p[j] = byte(rng.UintN(256))
			}
			if i%2 == 0 {
				// A well-formed RTP header (RFC 3550 §5.1), PCMU.
				p[0], p[1] = 0x80, 0
				binary.BigEndian.PutUint16(p[2:], uint16(i))
				binary.BigEndian.PutUint32(p[4:], uint32(i)*160)
				binary.BigEndian.PutUint32(p[8:], 0xbadc0de0+uint32(i%7))
			}
			return p
		})
	}()
	during := tc.toneGoesOn(t, "during the RTP flood", 3*time.Second)
	if err := <-flood; err != nil {
		t.Fatal(err)
	}
	after := tc.toneGoesOn(t, "after the RTP flood", 2*time.Second)
	t.Logf("tone level before %.3f, during %.3f, after %.3f", tc.ref, during, after)
	tc.nextCallAnswered(t)
}
