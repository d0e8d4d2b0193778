package media

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// webrtcPair makes an offerer and an answerer on loopback, runs the offer
// and the answer between them, and starts a Session on each.
func webrtcPair(t *testing.T, offerCodecs, answerCodecs []string, stripSSRC bool) (a, b *Session, wa, wb *WebRTC, na, nb Negotiated) {
	t.Helper()
	testbed.CheckLeaks(t)
	mk := func(codecs []string) *WebRTC {
		w, err := NewWebRTC(WebRTCConfig{Addr: mustAddr("127.0.0.1"), Codecs: codecs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}
	wa, wb = mk(offerCodecs), mk(answerCodecs)
	ctx := context.Background()
	offer, err := wa.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"UDP/TLS/RTP/SAVPF", "a=fingerprint:", "a=setup:actpass", "a=ice-ufrag:", "a=mid:", "a=rtcp-mux", "a=candidate:", "127.0.0.1", "a=end-of-candidates"} {
		if !strings.Contains(string(offer), want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	answer, nb, err := wb.Answer(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	// Both carry their default candidate in m= and c= (RFC 8839
	// §4.2.1.2), not the placeholders a gateway would take for a hold.
	for name, body := range map[string][]byte{"offer": offer, "answer": answer} {
		if strings.Contains(string(body), "c=IN IP4 0.0.0.0") || strings.Contains(string(body), "m=audio 9 ") ||
			!strings.Contains(string(body), "c=IN IP4 127.0.0.1") {
			t.Errorf("%s lacks its default candidate:\n%s", name, body)
		}
		if d, err := RemoteDirection(body); err != nil || d != SendRecv {
			t.Errorf("%s reads as %v (%v), want sendrecv", name, d, err)
		}
	}
	if stripSSRC {
		// As a gateway bridging a plain phone writes it: no a=ssrc, no
		// a=msid; the stream is still the one media section's.
		var kept []string
		for _, l := range strings.Split(string(answer), "\r\n") {
			if !strings.HasPrefix(l, "a=ssrc") && !strings.HasPrefix(l, "a=msid") {
				kept = append(kept, l)
			}
		}
		answer = []byte(strings.Join(kept, "\r\n"))
	}
	if na, err = wa.SetAnswer(ctx, answer); err != nil {
		t.Fatal(err)
	}
	start := func(w *WebRTC, n Negotiated) *Session {
		rtpc, rtcpc, ssrc := w.Conns()
		return startSessionWith(t, SessionOptions{RTP: rtpc, RTCP: rtcpc, Negotiated: n, SSRC: ssrc, RTCPInterval: 200 * time.Millisecond})
	}
	return start(wa, na), start(wb, nb), wa, wb, na, nb
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// sendTone sends hz from s for d, paced by the packet time.
func sendTone(ctx context.Context, s *Session, hz float64) {
	n := s.Negotiated()
	rate := float64(n.Codec.SampleRate)
	frame := int(rate) * int(ptimeOf(n).Milliseconds()) / 1000
	tk := time.NewTicker(ptimeOf(n))
	defer tk.Stop()
	phase := 0
	for {
		buf := make([]int16, frame)
		for i := range buf {
			buf[i] = int16(0.5 * 32767 * math.Sin(2*math.Pi*hz*float64(phase)/rate))
			phase++
		}
		if err := s.WriteFrame(buf); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}

// hears reads frames from s until hz is heard at level ≥ 0.2 or the
// timeout passes; it returns the best level seen.
func hears(s *Session, hz float64, timeout time.Duration) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	best := 0.0
	var acc []int16
	for {
		f, err := s.ReadFrame(ctx)
		if err != nil {
			return best
		}
		acc = append(acc, f...)
		rate := float64(s.Negotiated().Codec.SampleRate)
		if len(acc) >= int(rate/5) {
			best = max(best, ToneLevel(acc, rate, hz))
			acc = acc[:0]
			if best >= 0.2 {
				return best
			}
		}
	}
}

// TestWebRTCLoopbackTone: two WebRTC transports on loopback agree on a
// codec through a complete offer and answer (ICE, DTLS-SRTP, BUNDLE,
// rtcp-mux) and carry a tone each way through their Sessions, with RTCP
// reports both ways; PCMU and Opus, and with an answer that declares no
// a=ssrc (as a gateway bridging a plain SIP phone writes it).
func TestWebRTCLoopbackTone(t *testing.T) {
	for _, tc := range []struct {
		codec     string
		stripSSRC bool
	}{{"pcmu", false}, {"opus", false}, {"pcmu", true}} {
		codec := tc.codec
		name := codec
		if tc.stripSSRC {
			name += "/no-ssrc"
		}
		t.Run(name, func(t *testing.T) {
			a, b, wa, wb, na, nb := webrtcPair(t, []string{codec, "pcmu"}, []string{codec, "pcmu"}, tc.stripSSRC)
			if !strings.EqualFold(na.Codec.Name, codec) || !strings.EqualFold(nb.Codec.Name, codec) || na.DTMF == nil {
				t.Fatalf("agreed %v / %v (dtmf %v), want %s with telephone-event", na.Codec, nb.Codec, na.DTMF, codec)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go sendTone(ctx, a, 440)
			go sendTone(ctx, b, 1000)
			if lv := hears(b, 440, 10*time.Second); lv < 0.2 {
				t.Errorf("answerer hears 440 Hz at %.3f; stats a %+v\nb %+v", lv, a.Stats(), b.Stats())
			}
			if lv := hears(a, 1000, 10*time.Second); lv < 0.2 {
				t.Errorf("offerer hears 1000 Hz at %.3f", lv)
			}
			if !testbed.WaitFor(5*time.Second, func() bool { return a.Stats().RTCPReceived > 0 && b.Stats().RTCPReceived > 0 }) {
				t.Errorf("RTCP: offerer got %d, answerer %d", a.Stats().RTCPReceived, b.Stats().RTCPReceived)
			}
			pa, ra := wa.Path()
			pb, rb := wb.Path()
			if pa == "" || pb == "" || ra == rb || ra == "" || rb == "" {
				t.Errorf("paths %q (%s) and %q (%s): want a pair each and opposite DTLS roles", pa, ra, pb, rb)
			}
		})
	}
}

// TestWebRTCRefusesPlainOffer: a plain RTP offer to a WebRTC transport is
// not acceptable, and says what is missing.
func TestWebRTCRefusesPlainOffer(t *testing.T) {
	w, err := NewWebRTC(WebRTCConfig{Addr: mustAddr("127.0.0.1"), Codecs: []string{"pcmu"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	plain := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	_, _, err = w.Answer(context.Background(), []byte(plain))
	if !errors.Is(err, ErrNotAcceptable) || !strings.Contains(err.Error(), "UDP/TLS/RTP/SAVPF") {
		t.Fatalf("plain offer: %v, want not acceptable naming the profile", err)
	}
}

// TestWebRTCAnswersOfferWithoutBundle: a DTLS-SRTP offer without
// a=group:BUNDLE and without a=mid, as rtpengine and baresip write them,
// is answered with its stream accepted (not port 0) and the call connects.
func TestWebRTCAnswersOfferWithoutBundle(t *testing.T) {
	testbed.CheckLeaks(t)
	mk := func() *WebRTC {
		w, err := NewWebRTC(WebRTCConfig{Addr: mustAddr("127.0.0.1"), Codecs: []string{"pcmu"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}
	wa, wb := mk(), mk()
	ctx := context.Background()
	offer, err := wa.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(offer), "\r\n") {
		if !strings.HasPrefix(l, "a=group:") && !strings.HasPrefix(l, "a=mid:") {
			kept = append(kept, l)
		}
	}
	answer, _, err := wb.Answer(ctx, []byte(strings.Join(kept, "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(answer), "m=audio 0 ") || !strings.Contains(string(answer), "a=candidate:") {
		t.Fatalf("the stream was refused:\n%s", answer)
	}
	if _, err := wa.SetAnswer(ctx, answer); err != nil {
		t.Fatal(err)
	}
	if !testbed.WaitFor(10*time.Second, func() bool { p, _ := wa.Path(); q, _ := wb.Path(); return p != "" && q != "" }) {
		t.Fatal("ICE did not connect")
	}
}

// TestWebRTCFingerprintMismatch: an answer whose fingerprint does not
// match the certificate the peer shows fails the DTLS handshake, and the
// transport reports it once, saying so.
func TestWebRTCFingerprintMismatch(t *testing.T) {
	testbed.CheckLeaks(t)
	failed := make(chan error, 4)
	mk := func(onFailed func(error)) *WebRTC {
		w, err := NewWebRTC(WebRTCConfig{Addr: mustAddr("127.0.0.1"), Codecs: []string{"pcmu"}, OnFailed: onFailed})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return w
	}
	wa, wb := mk(func(err error) { failed <- err }), mk(nil)
	ctx := context.Background()
	offer, err := wa.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answer, _, err := wb.Answer(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(answer), "a=fingerprint:sha-256 ")
	if i < 0 {
		t.Fatalf("no fingerprint:\n%s", answer)
	}
	bad := []byte(string(answer))
	at := i + len("a=fingerprint:sha-256 ")
	if bad[at] == '0' {
		bad[at] = '1'
	} else {
		bad[at] = '0'
	}
	if _, err := wa.SetAnswer(ctx, bad); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failed:
		if !errors.Is(err, ErrWebRTC) || !strings.Contains(err.Error(), "DTLS handshake failed") {
			t.Errorf("failure %v, want the DTLS handshake named", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a fingerprint mismatch did not fail the transport")
	}
	if p, _ := wa.Path(); p != "" {
		t.Errorf("a failed transport reports a path: %q", p)
	}
}

// TestWebRTCCertificateKept: the DTLS certificate is made once, kept
// 0600, and the same one is read back (a stable fingerprint).
func TestWebRTCCertificateKept(t *testing.T) {
	p := filepath.Join(t.TempDir(), "dtls.pem")
	c1, err := LoadOrCreateCertificate(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("certificate file: %v %v", st, err)
	}
	c2, err := LoadOrCreateCertificate(p)
	if err != nil {
		t.Fatal(err)
	}
	f1, _ := c1.GetFingerprints()
	f2, _ := c2.GetFingerprints()
	if len(f1) == 0 || len(f2) == 0 || f1[0].Value != f2[0].Value {
		t.Fatalf("fingerprints %v and %v differ", f1, f2)
	}
}
