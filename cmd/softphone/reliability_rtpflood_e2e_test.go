package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
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
	// The daemon says where the flood went: dropped as from another
	// address than the latched peer's (the well-formed half) or as not
	// RTP (the garbage half, unless it happened to look like RTP), the
	// latch never moved to the flooder. Loopback may drop part of a
	// flood, hence a quarter of it as the floor.
	ci := tc.mb.waitCall(t, "the flood counted", 5*time.Second, func(ci phone.CallInfo) bool {
		return ci.Media.PacketsForeignSource >= floodRTP/4
	})
	if ci.Media.Relatches != 0 {
		t.Errorf("media after the flood: %d packets from a foreign source (want ≥ %d), %d ignored, %d relatches (want 0)",
			ci.Media.PacketsForeignSource, floodRTP/4, ci.Media.PacketsIgnored, ci.Media.Relatches)
	}
	after := tc.toneGoesOn(t, "after the RTP flood", 2*time.Second)
	t.Logf("tone level before %.3f, during %.3f, after %.3f", tc.ref, during, after)
	tc.nextCallAnswered(t)
}
