package media

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// DTMF as RFC 4733 telephone events.

// DTMF event timing we send: each digit lasts dtmfToneDuration, then
// dtmfGap of nothing before the next one (RFC 4733 leaves both to the
// sender; these match common desk phones and are well above the 40 ms a
// DTMF receiver needs, ITU-T Q.24).
const (
	dtmfToneDuration = 100 * time.Millisecond
	dtmfGap          = 60 * time.Millisecond
	dtmfEndRepeats   = 3  // RFC 4733 §2.5.1.4: the final packet is sent three times
	dtmfVolume       = 10 // −10 dBm0 (RFC 4733 §2.3.4)
)

// dtmfPayloadLen is the size of a telephone-event payload (RFC 4733 §2.3).
const dtmfPayloadLen = 4

// dtmfEvents lists the DTMF characters by event code (RFC 4733 §3.2:
// 0-9, * = 10, # = 11, A-D = 12-15).
const dtmfEvents = "0123456789*#ABCD"

// dtmfEvent returns the event code of a DTMF character.
func dtmfEvent(r rune) (uint8, bool) {
	if r >= 'a' && r <= 'd' {
		r -= 'a' - 'A'
	}
	i := strings.IndexRune(dtmfEvents, r)
	if i < 0 {
		return 0, false
	}
	return uint8(i), true
}

// dtmfDigit returns the character of a DTMF event code, or 0.
func dtmfDigit(ev uint8) rune {
	if int(ev) < len(dtmfEvents) {
		return rune(dtmfEvents[ev])
	}
	return 0
}

// telephoneEvent is the payload of RFC 4733 §2.3:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	|     event     |E|R| volume    |          duration             |
//
// pion/rtp has no telephone-event codec, so it is coded here.
type telephoneEvent struct {
	event    uint8
	end      bool
	volume   uint8 // 0-63, −dBm0
	duration uint16
}

func (e telephoneEvent) marshal(dst []byte) []byte {
	b := [dtmfPayloadLen]byte{e.event, e.volume & 0x3F, 0, 0}
	if e.end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], e.duration)
	return append(dst, b[:]...)
}

func parseTelephoneEvent(p []byte) (telephoneEvent, error) {
	if len(p) < dtmfPayloadLen {
		return telephoneEvent{}, fmt.Errorf("media: telephone-event payload of %d bytes", len(p))
	}
	return telephoneEvent{
		event:    p[0],
		end:      p[1]&0x80 != 0,
		volume:   p[1] & 0x3F,
		duration: binary.BigEndian.Uint16(p[2:]),
	}, nil
}

// validDTMF checks every character of digits.
func validDTMF(digits string) error {
	if digits == "" {
		return fmt.Errorf("%w: empty", ErrInvalidDTMF)
	}
	for _, r := range digits {
		if _, ok := dtmfEvent(r); !ok {
			return fmt.Errorf("%w: %q", ErrInvalidDTMF, r)
		}
	}
	return nil
}

// dtmfReceiver reports each received event once (RFC 4733 §2.5.2: the
// packets of one event share its timestamp; updates and the repeated end
// packets carry the same one).
type dtmfReceiver struct {
	have bool
	ssrc uint32
	ts   uint32
}

// receive returns the digit to report for a packet, or 0 when the packet
// belongs to an event already reported or is no DTMF event.
func (d *dtmfReceiver) receive(ssrc, ts uint32, payload []byte) rune {
	ev, err := parseTelephoneEvent(payload)
	if err != nil {
		return 0
	}
	if d.have && d.ssrc == ssrc && d.ts == ts {
		return 0
	}
	d.have, d.ssrc, d.ts = true, ssrc, ts
	return dtmfDigit(ev.event)
}

// SendDTMF sends digits as RFC 4733 telephone events with the negotiated
// telephone-event payload type, one after the other, and returns when the
// last is sent, ctx ends (its cause is returned) or the session closes.
// Each event keeps the RTP timestamp of its start; packets every ptime
// carry the growing duration, the first with the marker bit, and the final
// packet with the end bit goes out three times (RFC 4733 §2.5.1). Audio
// written meanwhile is not sent; its timestamps go on so that the audio
// after the event is in step. Digits are 0-9, *, #, A-D (a-d).
func (s *Session) SendDTMF(ctx context.Context, digits string) error {
	if err := validDTMF(digits); err != nil {
		return err
	}
	s.mu.Lock()
	closed, ev, ptime := s.closed, s.neg.DTMF, ptimeOf(s.neg)
	s.mu.Unlock()
	if closed {
		return ErrSessionClosed
	}
	if ev == nil {
		return ErrNoDTMF
	}
	tk := s.opts.DTMFTicker(ptime)
	defer tk.Stop()
	for i, r := range digits {
		if i > 0 {
			for range max(int(dtmfGap/ptime), 1) {
				if err := s.waitTick(ctx, tk); err != nil {
					return err
				}
			}
		}
		code, _ := dtmfEvent(r)
		if err := s.sendEvent(ctx, tk, code); err != nil {
			return err
		}
	}
	return nil
}

// sendEvent sends one event's packets, paced by tk.
func (s *Session) sendEvent(ctx context.Context, tk Ticker, code uint8) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSessionClosed
	}
	if s.neg.DTMF == nil {
		s.mu.Unlock()
		return ErrNoDTMF
	}
	ptime := ptimeOf(s.neg)
	step := uint32(int64(s.neg.DTMF.ClockRate) * int64(ptime) / int64(time.Second))
	start := s.ts
	s.dtmfActive = true
	s.mu.Unlock()

	updates := max(int(dtmfToneDuration/ptime), 1)
	total := uint32(updates) * step
	defer func() {
		s.mu.Lock()
		s.dtmfActive = false
		if end := start + total; int32(end-s.ts) > 0 {
			s.ts = end
		}
		s.marker = true // audio resumes with a new talkspurt
		s.mu.Unlock()
	}()
	send := func(e telephoneEvent, marker bool) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			return ErrSessionClosed
		}
		if s.neg.DTMF == nil || !s.neg.LocalDirection.Sends() || !s.dest.IsValid() {
			return nil
		}
		payload := e.marshal(make([]byte, 0, dtmfPayloadLen))
		if err := s.sendRTP(s.neg.DTMF.PayloadType, marker, start, payload); err != nil {
			return err
		}
		return nil
	}
	for k := 1; k <= updates; k++ {
		if k > 1 {
			if err := s.waitTick(ctx, tk); err != nil {
				return err
			}
		}
		if err := send(telephoneEvent{event: code, volume: dtmfVolume, duration: uint16(uint32(k) * step)}, k == 1); err != nil {
			return err
		}
	}
	for range dtmfEndRepeats {
		if err := s.waitTick(ctx, tk); err != nil {
			return err
		}
		if err := send(telephoneEvent{event: code, end: true, volume: dtmfVolume, duration: uint16(total)}, false); err != nil {
			return err
		}
	}
	return nil
}

// waitTick waits for tk, ctx or Close.
func (s *Session) waitTick(ctx context.Context, tk Ticker) error {
	select {
	case <-tk.C():
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-s.done:
		return ErrSessionClosed
	}
}
