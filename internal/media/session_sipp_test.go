package media

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// sipUAS is the least a UAS needs to take one call from sipp: it answers
// the INVITE with our Negotiator's SDP answer, and BYE with 200. SIP
// itself is the sip package's business; this only gets sipp's media going.
type sipUAS struct {
	conn *net.UDPConn
	neg  *Negotiator
}

// serve answers until BYE, sending the negotiation on negotiated and
// closing done at BYE. It is the test's goroutine; errors go to errs.
func (u *sipUAS) serve(negotiated chan<- Negotiated, done chan<- struct{}, errs chan<- error) {
	defer close(done)
	buf := make([]byte, 8192)
	var answer []byte
	for {
		if err := u.conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			errs <- err
			return
		}
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			errs <- fmt.Errorf("uas read: %w", err)
			return
		}
		msg := string(buf[:n])
		head, body, _ := strings.Cut(msg, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		method, _, _ := strings.Cut(lines[0], " ")
		var resp []string
		var respBody []byte
		switch method {
		case "INVITE":
			if answer == nil {
				a, neg, err := u.neg.Answer([]byte(body), SendRecv)
				if err != nil {
					errs <- fmt.Errorf("answer sipp's offer: %w", err)
					return
				}
				answer = a
				negotiated <- neg
			}
			respBody = answer
			resp = append(resp, "SIP/2.0 200 OK")
		case "BYE":
			resp = append(resp, "SIP/2.0 200 OK")
		default: // ACK
			continue
		}
		for _, l := range lines[1:] {
			name, _, _ := strings.Cut(l, ":")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "via", "from", "call-id", "cseq":
				resp = append(resp, l)
			case "to":
				if !strings.Contains(l, "tag=") {
					l += ";tag=uas1"
				}
				resp = append(resp, l)
			}
		}
		resp = append(resp, "Contact: <sip:uas@"+u.conn.LocalAddr().String()+">")
		if respBody != nil {
			resp = append(resp, "Content-Type: application/sdp")
		}
		resp = append(resp, fmt.Sprintf("Content-Length: %d", len(respBody)), "", "")
		out := append([]byte(strings.Join(resp, "\r\n")), respBody...)
		if _, err := u.conn.WriteToUDPAddrPort(out, from); err != nil {
			errs <- fmt.Errorf("uas write: %w", err)
			return
		}
		if method == "BYE" {
			return
		}
	}
}

// TestSippMedia takes a call from sipp, a real RTP peer: our SDP answer
// to its offer, RFC 2833 DTMF replayed from sipp's own capture (with its
// end packet sent three times under one sequence number), and a 1 kHz
// u-law tone streamed in real time through the jitter buffer.
func TestSippMedia(t *testing.T) {
	testbed.Require(t, "sipp", "sox")
	testbed.CheckLeaks(t)
	const dtmfPcap = "/usr/share/sip-tester/dtmf_2833_1.pcap"
	if _, err := os.Stat(dtmfPcap); err != nil {
		t.Fatalf("sipp's dtmf capture: %v", err)
	}
	dir := testbed.Dir(t, "media")
	wav := filepath.Join(dir, "tone1k_ulaw.wav")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := testbed.Run(ctx, dir, nil, "sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", wav,
		"synth", "1.5", "sine", "1000", "gain", "-6"); err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile(filepath.Join("testdata", "sipp_uac_media.xml"))
	if err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(dir, "sipp_uac_media.xml")
	text := strings.NewReplacer("@DTMF_PCAP@", dtmfPcap, "@TONE_WAV@", wav).Replace(string(tmpl))
	if err := os.WriteFile(scenario, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	sRTP, sRTCP := pair(t)
	neg, err := NewNegotiator(Local{Addr: loopback, Port: int(addrOf(sRTP).Port()), Codecs: []string{"pcmu", "pcma"}, DTMF: true})
	if err != nil {
		t.Fatal(err)
	}
	sipConn := rawPeer(t)
	uas := &sipUAS{conn: sipConn, neg: neg}
	negotiated := make(chan Negotiated, 1)
	bye := make(chan struct{})
	errs := make(chan error, 1)
	go uas.serve(negotiated, bye, errs)
	defer func() {
		// The UAS ends at BYE, or now that its socket is closed.
		sipConn.Close()
		<-bye
	}()

	sipp := testbed.StartSipp(t, testbed.SippOptions{Scenario: scenario, Target: addrOf(sipConn).String(), Service: "agent"})

	var n Negotiated
	select {
	case n = <-negotiated:
	case err := <-errs:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no INVITE from sipp")
	}
	if n.Codec.Name != "PCMU" || n.DTMF == nil || n.DTMF.PayloadType != 101 || !n.Remote.IsValid() {
		t.Fatalf("negotiated %+v", n)
	}
	digits := make(chan rune, 8)
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: n, OnDTMF: func(d rune) { digits <- d }})

	var frames [][]int16
	playing := true
	for playing {
		select {
		case <-bye:
			playing = false
		case err := <-errs:
			t.Fatal(err)
		default:
			f, err := s.ReadFrame(ctx)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, f)
		}
	}
	if res, err := sipp.Wait(20 * time.Second); err != nil {
		t.Fatalf("sipp: %v\n%s", err, res.Output)
	}

	select {
	case d := <-digits:
		if d != '1' {
			t.Errorf("dtmf %q, want '1'", d)
		}
	default:
		t.Error("no dtmf reported")
	}
	if len(digits) != 0 {
		t.Errorf("%d more digits reported, want the one event once", len(digits))
	}
	toneFrames := 0
	for _, f := range frames {
		if ToneLevel(f, 8000, 1000) > 0.35 {
			toneFrames++
		}
	}
	st := s.Stats()
	t.Logf("%d frames read, %d with the tone; stats: received %d lost %d late %d concealed %d jitter %v delay %v target %v mos %.2f",
		len(frames), toneFrames, st.PacketsReceived, st.PacketsLost, st.PacketsLate, st.FramesConcealed,
		st.Jitter, st.PlayoutDelay, st.PlayoutTarget, st.MOS)
	// 1.5 s of tone is 75 frames. A loaded machine that reads late loses
	// ticks (time.Ticker drops them) and the buffer skips to keep the
	// delay, so only two thirds are required.
	if toneFrames < 50 || toneFrames > 80 {
		t.Errorf("%d frames carry the 1 kHz tone, want about 75", toneFrames)
	}
	if st.PacketsLate > 2 || st.PlayoutTarget > 100*time.Millisecond {
		t.Errorf("late %d, playout target %v on loopback", st.PacketsLate, st.PlayoutTarget)
	}
	if st.DTMFReceived != 1 {
		t.Errorf("dtmf received %d, want 1", st.DTMFReceived)
	}
}
