package media

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, srtpKeyLen+srtpSaltLen) }

func TestParseCrypto(t *testing.T) {
	key := testKey(7)
	inline := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name    string
		value   string
		want    cryptoLine
		wantErr bool
	}{
		{"80", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline, cryptoLine{1, AESCM128HMACSHA180, key}, false},
		{"32 with lifetime", "2 AES_CM_128_HMAC_SHA1_32 inline:" + inline + "|2^31", cryptoLine{2, AESCM128HMACSHA132, key}, false},
		{"unpadded key", "3 AES_CM_128_HMAC_SHA1_80 inline:" + strings.TrimRight(inline, "="), cryptoLine{3, AESCM128HMACSHA180, key}, false},
		{"mki", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + "|2^20|1:4", cryptoLine{}, true},
		{"session parameter", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + " UNENCRYPTED_SRTP", cryptoLine{}, true},
		{"two keys", "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline + ";inline:" + inline, cryptoLine{}, true},
		{"short key", "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(key[:20]), cryptoLine{}, true},
		{"unknown suite", "1 AEAD_AES_256_GCM inline:" + inline, cryptoLine{}, true},
		{"bad tag", "x AES_CM_128_HMAC_SHA1_80 inline:" + inline, cryptoLine{}, true},
		{"not inline", "1 AES_CM_128_HMAC_SHA1_80 uri:" + inline, cryptoLine{}, true},
		{"too short", "1 AES_CM_128_HMAC_SHA1_80", cryptoLine{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCrypto(tt.value)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrSRTP) {
					t.Errorf("err %v does not wrap ErrSRTP", err)
				}
				return
			}
			if got.tag != tt.want.tag || got.suite != tt.want.suite || !bytes.Equal(got.key, tt.want.key) {
				t.Errorf("parsed %+v, want %+v", got, tt.want)
			}
			if again, err := parseCrypto(got.String()); err != nil || !bytes.Equal(again.key, key) {
				t.Errorf("String() %q does not parse back: %v", got.String(), err)
			}
		})
	}
}

func TestParseSRTPMode(t *testing.T) {
	tests := []struct {
		in      string
		want    SRTPMode
		wantErr bool
	}{
		{"off", SRTPOff, false},
		{"", SRTPOff, false},
		{"Optional", SRTPOptional, false},
		{" mandatory ", SRTPMandatory, false},
		{"always", SRTPOff, true},
	}
	for _, tt := range tests {
		got, err := ParseSRTPMode(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSRTPMode(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidSRTPMode) {
			t.Errorf("err %v does not wrap ErrInvalidSRTPMode", err)
		}
		if err == nil && got.String() != strings.ToLower(strings.TrimSpace(tt.in)) && tt.in != "" {
			t.Errorf("String() = %q for %q", got.String(), tt.in)
		}
	}
	if SRTPMode(9).String() != "unknown" || SRTPSuiteUnknown.String() != "unknown" {
		t.Errorf("unknown values print %q %q", SRTPMode(9), SRTPSuiteUnknown)
	}
}

// TestSRTPCall negotiates SRTP by SDES between two negotiators (mandatory
// offerer, optional answerer) and exchanges a tone and RTCP reports over
// SRTP/SRTCP.
func TestSRTPCall(t *testing.T) {
	clock := newFakeClock()
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	local := func(c *net.UDPConn, mode SRTPMode) Local {
		return Local{Addr: loopback, Port: int(addrOf(c).Port()), Codecs: []string{"pcmu"}, SRTP: mode}
	}
	na, err := NewNegotiator(local(aRTP, SRTPMandatory))
	if err != nil {
		t.Fatal(err)
	}
	nb, err := NewNegotiator(local(bRTP, SRTPOptional))
	if err != nil {
		t.Fatal(err)
	}
	offer, err := na.Offer(SendRecv)
	if err != nil {
		t.Fatal(err)
	}
	answer, negB, err := nb.Answer(offer, SendRecv)
	if err != nil {
		t.Fatal(err)
	}
	negA, err := na.SetAnswer(answer)
	if err != nil {
		t.Fatal(err)
	}
	if negA.SRTP == nil || negB.SRTP == nil || !bytes.Equal(negA.SRTP.LocalKey, negB.SRTP.RemoteKey) ||
		!bytes.Equal(negA.SRTP.RemoteKey, negB.SRTP.LocalKey) || negA.SRTP.Suite != AESCM128HMACSHA180 {
		t.Fatalf("keys do not cross: %+v / %+v", negA.SRTP, negB.SRTP)
	}
	aTick, bTick := newManualTicker(), newManualTicker()
	a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: negA, Now: clock.Now, PlayoutTicker: aTick.factory()})
	b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: negB, Now: clock.Now, PlayoutTicker: bTick.factory()})
	checkToneExchange(t, clock, a, b, aTick, bTick)
	if err := a.SendReport(); err != nil {
		t.Fatal(err)
	}
	if !waitStats(b, func(st Stats) bool { return st.RTCPReceived == 1 }) {
		t.Fatalf("srtcp report not received: %+v", b.Stats())
	}
	for _, s := range []*Session{a, b} {
		if st := s.Stats(); st.SRTPAuthFailed != 0 || st.SRTPReplayed != 0 || st.PacketsIgnored != 0 {
			t.Errorf("srtp failures: %+v", st)
		}
	}
}

// mitm forwards what a session sends, so the test can tamper and replay.
type mitm struct {
	rtp, rtcp *net.UDPConn
}

func (m mitm) read(t *testing.T, c *net.UDPConn) []byte {
	t.Helper()
	buf := make([]byte, 1500)
	if err := c.SetReadDeadline(time.Now().Add(hardTimeout)); err != nil {
		t.Fatal(err)
	}
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func forward(t *testing.T, from *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := from.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// TestSRTPTamperAndReplay: a tampered packet fails authentication, a
// replayed one is refused by replay protection; both are dropped and
// counted, for RTP and RTCP, with both suites.
func TestSRTPTamperAndReplay(t *testing.T) {
	tests := []struct {
		suite  SRTPSuite
		tagLen int
	}{{AESCM128HMACSHA180, 10}, {AESCM128HMACSHA132, 4}}
	for _, tt := range tests {
		t.Run(tt.suite.String(), func(t *testing.T) {
			m := mitm{rtp: rawPeer(t), rtcp: rawPeer(t)}
			aRTP, aRTCP := pair(t)
			bRTP, bRTCP := pair(t)
			na := g711("PCMU", addrOf(m.rtp), SendRecv)
			na.RemoteRTCP = addrOf(m.rtcp)
			na.SRTP = &SRTPKeys{Suite: tt.suite, Tag: 1, LocalKey: testKey(1), RemoteKey: testKey(2)}
			nb := g711("PCMU", addrOf(aRTP), SendRecv)
			nb.SRTP = &SRTPKeys{Suite: tt.suite, Tag: 1, LocalKey: testKey(2), RemoteKey: testKey(1)}
			a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: na})
			b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: nb})

			frame := tone(160, 8000, 1000, 0.5)
			if err := a.WriteFrame(frame); err != nil {
				t.Fatal(err)
			}
			pkt := m.read(t, m.rtp)
			if len(pkt) != 12+160+tt.tagLen {
				t.Errorf("srtp packet of %d bytes, want %d", len(pkt), 12+160+tt.tagLen)
			}
			if plain := mulawCoder.Encode(nil, frame); bytes.Contains(pkt, plain[:16]) {
				t.Error("payload sent in the clear")
			}
			tampered := append([]byte(nil), pkt...)
			tampered[20] ^= 0x01
			forward(t, m.rtp, addrOf(bRTP), tampered)
			if !waitStats(b, func(st Stats) bool { return st.SRTPAuthFailed == 1 }) {
				t.Fatalf("tampered packet not counted: %+v", b.Stats())
			}
			forward(t, m.rtp, addrOf(bRTP), pkt)
			if !waitStats(b, func(st Stats) bool { return st.PacketsReceived == 1 }) {
				t.Fatalf("genuine packet not received: %+v", b.Stats())
			}
			forward(t, m.rtp, addrOf(bRTP), pkt)
			if !waitStats(b, func(st Stats) bool { return st.SRTPReplayed == 1 }) {
				t.Fatalf("replayed packet not counted: %+v", b.Stats())
			}

			if err := a.SendReport(); err != nil {
				t.Fatal(err)
			}
			rtcpPkt := m.read(t, m.rtcp)
			bad := append([]byte(nil), rtcpPkt...)
			bad[len(bad)/2] ^= 0x80
			forward(t, m.rtcp, addrOf(bRTCP), bad)
			forward(t, m.rtcp, addrOf(bRTCP), rtcpPkt)
			forward(t, m.rtcp, addrOf(bRTCP), rtcpPkt)
			if !waitStats(b, func(st Stats) bool { return st.SRTPAuthFailed == 2 && st.SRTPReplayed == 2 }) {
				t.Fatalf("srtcp tamper/replay not counted: %+v", b.Stats())
			}
			st := b.Stats()
			if st.PacketsReceived != 1 || st.RTCPReceived != 1 {
				t.Errorf("accepted %d rtp and %d rtcp, want 1 each", st.PacketsReceived, st.RTCPReceived)
			}
		})
	}
}

// TestSRTPUpdateKeepsContexts: a re-INVITE with the same keys keeps the
// replay state; new keys replace the contexts.
func TestSRTPUpdateKeepsContexts(t *testing.T) {
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	n := g711("PCMU", addrOf(peer), SendRecv)
	n.SRTP = &SRTPKeys{Suite: AESCM128HMACSHA180, Tag: 1, LocalKey: testKey(1), RemoteKey: testKey(2)}
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: n})
	before := s.sec
	same := n
	same.SRTP = &SRTPKeys{Suite: AESCM128HMACSHA180, Tag: 1, LocalKey: testKey(1), RemoteKey: testKey(2)}
	if err := s.Update(same); err != nil {
		t.Fatal(err)
	}
	if s.sec != before {
		t.Error("same keys replaced the srtp contexts")
	}
	rekey := n
	rekey.SRTP = &SRTPKeys{Suite: AESCM128HMACSHA132, Tag: 2, LocalKey: testKey(3), RemoteKey: testKey(4)}
	if err := s.Update(rekey); err != nil {
		t.Fatal(err)
	}
	if s.sec == before || s.sec.keys.Suite != AESCM128HMACSHA132 {
		t.Error("new keys did not replace the contexts")
	}
	plain := n
	plain.SRTP = nil
	if err := s.Update(plain); err != nil || s.sec != nil {
		t.Errorf("update to plain rtp: err %v, contexts %v", err, s.sec)
	}
	// The next packet goes out plain and parses as RTP.
	if err := s.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	if p := readPacket(t, peer); len(p.Payload) != 160 {
		t.Errorf("plain payload of %d bytes", len(p.Payload))
	}
}

func BenchmarkSRTPProtect(b *testing.B) {
	sec, err := newSRTPContexts(&SRTPKeys{Suite: AESCM128HMACSHA180, Tag: 1, LocalKey: testKey(1), RemoteKey: testKey(1)})
	if err != nil {
		b.Fatal(err)
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: make([]byte, 160)}
	dst := make([]byte, 0, maxPacket+srtpOverhead)
	b.ReportAllocs()
	b.SetBytes(160)
	for b.Loop() {
		pkt.SequenceNumber++
		raw, err := pkt.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sec.enc.EncryptRTP(dst[:0], raw, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSRTPUnprotect(b *testing.B) {
	keys := &SRTPKeys{Suite: AESCM128HMACSHA180, Tag: 1, LocalKey: testKey(1), RemoteKey: testKey(1)}
	sec, err := newSRTPContexts(keys)
	if err != nil {
		b.Fatal(err)
	}
	const n = 4096
	pkts := make([][]byte, n)
	for i := range pkts {
		raw, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), SSRC: 5}, Payload: make([]byte, 160)}).Marshal()
		if err != nil {
			b.Fatal(err)
		}
		if pkts[i], err = sec.enc.EncryptRTP(nil, raw, nil); err != nil {
			b.Fatal(err)
		}
	}
	dst := make([]byte, 0, maxPacket)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == n {
			// A fresh context: replay protection would refuse a second pass.
			b.StopTimer()
			if sec, err = newSRTPContexts(keys); err != nil {
				b.Fatal(err)
			}
			i = 0
			b.StartTimer()
		}
		if _, err := sec.decRTP.DecryptRTP(dst[:0], pkts[i], nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
