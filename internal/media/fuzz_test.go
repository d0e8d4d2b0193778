package media

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzSDP feeds arbitrary bodies to the offer/answer code in every SRTP
// mode, as a peer's INVITE, re-INVITE or 2xx would: nothing may panic, and
// an accepted offer gives an answer that parses back with a codec we
// offered.
func FuzzSDP(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.sdp"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("v=0\r\nm=audio 0 RTP/AVP\r\n"))
	f.Add([]byte("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 9 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mode := range []SRTPMode{SRTPOff, SRTPOptional, SRTPMandatory} {
			l := testLocal()
			l.SRTP = mode
			n, err := NewNegotiator(l)
			if err != nil {
				t.Fatal(err)
			}
			ans, neg, err := n.Answer(body, SendRecv)
			if err == nil {
				if _, perr := parseSDP(ans); perr != nil {
					t.Fatalf("our answer to %q does not parse: %v\n%s", body, perr, ans)
				}
				if neg.Codec.Name == "" {
					t.Fatalf("offer %q accepted without a codec", body)
				}
			}
			// The same body as the answer to our own offer.
			n2, _ := NewNegotiator(l)
			if _, err := n2.Offer(SendRecv); err != nil {
				t.Fatal(err)
			}
			_, _ = n2.SetAnswer(body)
		}
		if d, err := RemoteDirection(body); err == nil && d == DirectionUnknown {
			t.Fatalf("RemoteDirection(%q) gave no direction and no error", body)
		}
		_, _ = parseCrypto(string(body))
		_, _ = parseTelephoneEvent(body)
	})
}

// FuzzJitterBuffer plays arbitrary packet streams (sequence numbers,
// timestamps, payloads and arrival times from the input) through the
// jitter buffer and each codec's decoder: nothing may panic, and every
// frame popped has the frame's length.
func FuzzJitterBuffer(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 160, 10, 20, 0, 2, 0, 0, 1, 64, 10, 20})
	f.Add([]byte{255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 255, 1})
	codecs := []Codec{
		{Name: "PCMU", PayloadType: ptPCMU, ClockRate: 8000, SampleRate: 8000, Channels: 1},
		{Name: "G722", ClockRate: 8000, SampleRate: 16000, Channels: 1},
		{Name: "opus", ClockRate: 48000, SampleRate: 48000, Channels: 2, Fmtp: "useinbandfec=1;stereo=1"},
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, c := range codecs {
			coder, err := newCoder(c)
			if err != nil {
				t.Fatal(err)
			}
			j := newJitterBuffer(int(c.ClockRate), c.SampleRate, c.Channels, 20*time.Millisecond)
			now := time.Unix(1e9, 0)
			frame := c.SampleRate / 50 * c.Channels
			// Each record: seq (2), ts (4), payload length (1), arrival
			// step in ms (1); the payload is taken from the input itself.
			for i := 0; i+8 <= len(in); i += 8 {
				seq := binary.BigEndian.Uint16(in[i:])
				ts := binary.BigEndian.Uint32(in[i+2:])
				size := int(in[i+6])
				now = now.Add(time.Duration(in[i+7]) * time.Millisecond)
				payload := in[i:min(len(in), i+size)]
				j.push(0x1234, seq, ts, payload, now)
				out, _ := j.pop(now, coder, nil)
				if len(out) != frame {
					t.Fatalf("%s: popped %d samples, want %d", c.Name, len(out), frame)
				}
			}
		}
	})
}
