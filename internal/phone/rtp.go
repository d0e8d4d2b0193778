package phone

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/sip"
	"github.com/softphone/softphone/internal/tick"
)

// attachMedia connects a call's media events to the phone: DTMF received
// as RTP events becomes an event for the agent desktop.
func (p *Phone) attachMedia(e *call) {
	id := e.sip.ID()
	if s := p.sipSide(); s != nil {
		e.media.background = s.goBackground
	}
	e.media.onSession = func(*media.Session) {
		if s := p.sipSide(); s != nil {
			s.mu.Lock()
			p.maybeStartVoiceLocked(s, e)
			s.mu.Unlock()
		}
	}
	e.media.mu.Lock()
	e.media.onFailed = func(err error) {
		s := p.sipSide()
		if s == nil {
			return
		}
		s.mu.Lock()
		e.endReason = "webrtc: " + err.Error()
		e.ending = true
		s.mu.Unlock()
		p.log.Warn("ending call: its WebRTC transport failed", "call", id, "err", err)
		p.events.publish(EventMedia, map[string]string{"call": id, "event": "webrtc_failed", "reason": err.Error()})
		_ = e.sip.Hangup()
	}
	e.media.mu.Unlock()
	e.media.onDTMF = func(d rune) {
		p.log.Info("dtmf received", "call", id, "digit", string(d), "method", "rfc4733")
		p.events.publish(EventDTMF, map[string]string{"call": id, "digit": string(d), "direction": "received"})
	}
}

// watchRTP follows an answered call's media once a second: it raises the
// voice-quality alarm, and ends the call when its media stopped for
// rtp_timeout: RTP while both sides talk; on hold (either side) RTP or
// RTCP for at least RFC 3550 §6.3.5's five report intervals, and only for
// a peer that sends RTCP (media.Session.MediaTimedOut).
func (s *sipSide) watchRTP(p *Phone, e *call) {
	timeout := p.config().Session.RTPTimeout
	if e.media == nil {
		return
	}
	e.g.Go(func() {
		// A tick.Clock: a second's look costs the process one thread
		// switch, not the five of a Go timer's (internal/tick).
		tick.Every(e.ctx, time.Second, func(now time.Time) bool {
			sess := e.media.session()
			st := e.sip.State()
			if sess == nil || (st != sip.CallStateActive && st != sip.CallStateHeld) {
				return true
			}
			if st == sip.CallStateActive {
				p.checkQuality(s, e)
			}
			if timeout <= 0 {
				return true
			}
			if idle, out := sess.MediaTimedOut(now, timeout); out {
				s.mu.Lock()
				e.endReason = "rtp timeout: no media for " + idle.Truncate(time.Second).String()
				e.ending = true
				s.mu.Unlock()
				p.log.Warn("ending call: no media", "call", e.sip.ID(), "idle", idle)
				_ = e.sip.Hangup()
				return false
			}
			return true
		})
	})
}

// sendDTMF sends digits by the configured method; rfc4733 falls back to
// SIP INFO when the peer agreed no telephone-event.
func (p *Phone) sendDTMF(e *call, digits string) error {
	method := p.config().Session.DTMFMethod
	if method == "inband" {
		if ok, err := p.sendInbandDTMF(e, strings.ToUpper(digits)); ok {
			return err
		}
	}
	if method == "rfc4733" || method == "inband" {
		if sess := e.media.session(); sess != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(digits)+1)*time.Second)
			defer cancel()
			err := sess.SendDTMF(ctx, strings.ToUpper(digits))
			if err == nil {
				return nil
			}
			if !errors.Is(err, media.ErrNoDTMF) {
				return err
			}
			p.log.Info("peer has no telephone-event: sending dtmf by SIP INFO", "call", e.sip.ID())
		}
	}
	return mapErr(e.sip.SendDTMF(digits))
}

// dialTransport is the signalling transport an outgoing call will use.
func (p *Phone) dialTransport(target string, connection int) string {
	t := strings.ToLower(target)
	if strings.HasPrefix(t, "sips:") || strings.Contains(t, "transport=tls") {
		return "tls"
	}
	for _, c := range p.config().Connections {
		if c.Index == connection {
			return c.Protocol
		}
	}
	return "udp"
}
