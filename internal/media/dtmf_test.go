package media

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"unicode"

	"github.com/softphone/softphone/internal/testbed"
)

func TestDTMFEventCodes(t *testing.T) {
	tests := []struct {
		r    rune
		code uint8
		ok   bool
	}{
		{'0', 0, true}, {'9', 9, true}, {'*', 10, true}, {'#', 11, true},
		{'A', 12, true}, {'d', 15, true}, {'E', 0, false}, {'x', 0, false}, {' ', 0, false},
	}
	for _, tt := range tests {
		code, ok := dtmfEvent(tt.r)
		if code != tt.code || ok != tt.ok {
			t.Errorf("dtmfEvent(%q) = %d %v, want %d %v", tt.r, code, ok, tt.code, tt.ok)
		}
		if tt.ok && dtmfDigit(code) != unicode.ToUpper(tt.r) {
			t.Errorf("dtmfDigit(%d) = %q", code, dtmfDigit(code))
		}
	}
	if dtmfDigit(16) != 0 {
		t.Errorf("flash (16) is not a DTMF digit")
	}
}

func TestTelephoneEvent(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    telephoneEvent
		wantErr bool
	}{
		{"start of 5", []byte{5, 10, 0, 160}, telephoneEvent{event: 5, volume: 10, duration: 160}, false},
		{"end of #", []byte{11, 0x80 | 10, 3, 32}, telephoneEvent{event: 11, end: true, volume: 10, duration: 800}, false},
		{"reserved bit ignored", []byte{1, 0x40 | 7, 0, 1}, telephoneEvent{event: 1, volume: 7, duration: 1}, false},
		{"short", []byte{1, 2, 3}, telephoneEvent{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTelephoneEvent(tt.payload)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parsed %+v, want %+v", got, tt.want)
			}
			if err == nil && tt.payload[1]&0x40 == 0 {
				if b := got.marshal(nil); string(b) != string(tt.payload) {
					t.Errorf("marshal %v, want %v", b, tt.payload)
				}
			}
		})
	}
}

// TestDTMFReceiverOnce: updates and the repeated end packets of one event
// report its digit once; a new timestamp is a new event.
func TestDTMFReceiverOnce(t *testing.T) {
	var d dtmfReceiver
	ev := func(code uint8, end bool, dur uint16) []byte {
		return telephoneEvent{event: code, end: end, volume: 10, duration: dur}.marshal(nil)
	}
	steps := []struct {
		ssrc, ts uint32
		payload  []byte
		want     rune
	}{
		{1, 100, ev(1, false, 160), '1'},
		{1, 100, ev(1, false, 320), 0},
		{1, 100, ev(1, true, 800), 0},
		{1, 100, ev(1, true, 800), 0},
		{1, 2000, ev(1, true, 800), '1'}, // same digit again, start packets lost
		{1, 4000, ev(11, false, 160), '#'},
		{2, 4000, ev(12, false, 160), 'A'}, // new source
		{2, 6000, []byte{1}, 0},            // malformed
	}
	for i, s := range steps {
		if got := d.receive(s.ssrc, s.ts, s.payload); got != s.want {
			t.Errorf("step %d: got %q, want %q", i, got, s.want)
		}
	}
}

// dtmfNegotiated is PCMU with telephone-event 101 at 8 kHz.
func dtmfNegotiated(remote netip.AddrPort) Negotiated {
	n := g711("PCMU", remote, SendRecv)
	n.DTMF = &Codec{Name: "telephone-event", PayloadType: ptEvent8, ClockRate: 8000, SampleRate: 8000, Channels: 1, Fmtp: "0-16"}
	return n
}

// TestSendDTMFPackets checks the packets of two digits (RFC 4733 §2.5.1).
func TestSendDTMFPackets(t *testing.T) {
	peer := rawPeer(t)
	sRTP, sRTCP := pair(t)
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: dtmfNegotiated(addrOf(peer)), DTMFTicker: newInstantTicker})
	if err := s.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	audio := readPacket(t, peer)
	ctx, cancel := context.WithTimeout(context.Background(), hardTimeout)
	defer cancel()
	if err := s.SendDTMF(ctx, "1#"); err != nil {
		t.Fatal(err)
	}
	const perEvent = 5 + dtmfEndRepeats // 100 ms of 20 ms updates, then the end three times
	prevSeq := audio.SequenceNumber
	var eventTS []uint32
	for digit, code := range []uint8{1, 11} {
		for k := range perEvent {
			p := readPacket(t, peer)
			if p.SequenceNumber != prevSeq+1 {
				t.Errorf("digit %d packet %d: seq %d after %d", digit, k, p.SequenceNumber, prevSeq)
			}
			prevSeq = p.SequenceNumber
			ev, err := parseTelephoneEvent(p.Payload)
			if err != nil || p.PayloadType != ptEvent8 || p.SSRC != audio.SSRC {
				t.Fatalf("digit %d packet %d: pt %d ssrc %d payload %v: %v", digit, k, p.PayloadType, p.SSRC, p.Payload, err)
			}
			if k == 0 {
				eventTS = append(eventTS, p.Timestamp)
			}
			wantDur := uint16(min(k+1, 5) * 160)
			wantEnd := k >= 5
			if ev.event != code || ev.end != wantEnd || ev.duration != wantDur || ev.volume != dtmfVolume ||
				p.Timestamp != eventTS[digit] || p.Marker != (k == 0) {
				t.Errorf("digit %d packet %d: %+v marker %v ts %d, want event %d end %v duration %d marker %v ts %d",
					digit, k, ev, p.Marker, p.Timestamp, code, wantEnd, wantDur, k == 0, eventTS[digit])
			}
		}
	}
	if eventTS[0] != audio.Timestamp+160 || int32(eventTS[1]-eventTS[0]) < 800 {
		t.Errorf("event timestamps %v after audio at %d", eventTS, audio.Timestamp)
	}
	// Audio resumes after the last event, as a new talkspurt.
	if err := s.WriteFrame(make([]int16, 160)); err != nil {
		t.Fatal(err)
	}
	p := readPacket(t, peer)
	if p.PayloadType != ptPCMU || !p.Marker || int32(p.Timestamp-eventTS[1]) < 800 {
		t.Errorf("audio after dtmf: pt %d marker %v ts %d (event at %d)", p.PayloadType, p.Marker, p.Timestamp, eventTS[1])
	}
}

// TestDTMFBetweenSessions: every digit sent is reported once by the peer.
func TestDTMFBetweenSessions(t *testing.T) {
	aRTP, aRTCP := pair(t)
	bRTP, bRTCP := pair(t)
	got := make(chan rune, 64)
	a := startSessionWith(t, SessionOptions{RTP: aRTP, RTCP: aRTCP, Negotiated: dtmfNegotiated(addrOf(bRTP)), DTMFTicker: newInstantTicker})
	b := startSessionWith(t, SessionOptions{RTP: bRTP, RTCP: bRTCP, Negotiated: dtmfNegotiated(addrOf(aRTP)),
		OnDTMF: func(d rune) { got <- d }})
	const digits = "0123456789*#ABCD"
	ctx, cancel := context.WithTimeout(context.Background(), hardTimeout)
	defer cancel()
	if err := a.SendDTMF(ctx, digits); err != nil {
		t.Fatal(err)
	}
	var recv []rune
	for range digits {
		select {
		case d := <-got:
			recv = append(recv, d)
		case <-ctx.Done():
			t.Fatalf("received %q, want %q", string(recv), digits)
		}
	}
	if string(recv) != digits {
		t.Errorf("received %q, want %q", string(recv), digits)
	}
	want := uint64(len(digits) * (5 + dtmfEndRepeats))
	if !waitStats(b, func(st Stats) bool { return st.PacketsReceived == want }) {
		t.Fatalf("b received %d packets, want %d", b.Stats().PacketsReceived, want)
	}
	if st := b.Stats(); st.DTMFReceived != uint64(len(digits)) || st.PacketsLost != 0 || st.FramesDecoded != 0 {
		t.Errorf("b stats: dtmf %d lost %d decoded %d", st.DTMFReceived, st.PacketsLost, st.FramesDecoded)
	}
	select {
	case d := <-got:
		t.Errorf("digit %q reported twice", d)
	default:
	}
}

func TestSendDTMFErrors(t *testing.T) {
	sRTP, sRTCP := pair(t)
	peer := rawPeer(t)
	never := newManualTicker()
	s := startSessionWith(t, SessionOptions{RTP: sRTP, RTCP: sRTCP, Negotiated: dtmfNegotiated(addrOf(peer)), DTMFTicker: never.factory()})
	plain := startSession(t, rawPeerPair(t), nil, g711("PCMU", addrOf(peer), SendRecv))
	cancelled, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("caller gave up")
	cancel(stop)
	tests := []struct {
		name    string
		s       *Session
		ctx     context.Context
		digits  string
		wantErr error
	}{
		{"bad digit", s, context.Background(), "12x", ErrInvalidDTMF},
		{"empty", s, context.Background(), "", ErrInvalidDTMF},
		{"not negotiated", plain, context.Background(), "1", ErrNoDTMF},
		{"context ends while pacing", s, cancelled, "1", stop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.SendDTMF(tt.ctx, tt.digits); !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// rawPeerPair binds an RTP socket without RTCP for a session.
func rawPeerPair(t *testing.T) *net.UDPConn {
	t.Helper()
	c, r := pair(t)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitStats waits until cond holds for s's stats.
func waitStats(s *Session, cond func(Stats) bool) bool {
	return testbed.WaitFor(hardTimeout, func() bool { return cond(s.Stats()) })
}
