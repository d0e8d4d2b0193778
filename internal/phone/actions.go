package phone

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/softphone/softphone/internal/policy"
	"github.com/softphone/softphone/internal/sip"
)

// The agent's actions on calls, as the control API and the agent
// desktop's remote requests ask for them.

// RemoteControl carries out the agent desktop's remote requests (NOTIFY
// Event: talk / hold): manual actions, allowed whenever the verdict is not
// false.
func (h *handler) RemoteControl(c *sip.Call, ev sip.RemoteEvent) {
	p := h.p
	dec := p.Decision()
	if dec.ShouldAnswer == policy.AnswerFalse {
		p.log.Info("remote "+ev.String()+" refused: "+dec.Reason, "call", c.ID())
		return
	}
	var err error
	switch ev {
	case sip.RemoteTalk:
		switch c.State() {
		case sip.CallStateRinging:
			if e, ferr := p.find(c.ID()); ferr == nil {
				err = p.answer(e)
			} else {
				err = c.Answer(p.mediaOf(c))
			}
		case sip.CallStateHeld:
			err = c.Resume()
		}
	case sip.RemoteHold:
		if c.State() == sip.CallStateActive {
			err = c.Hold()
		}
	}
	if err != nil {
		p.log.Warn("remote "+ev.String()+" failed", "call", c.ID(), "err", err)
	}
}

func (p *Phone) mediaOf(c *sip.Call) *callMedia {
	s := p.sipSide()
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.calls[c.ID()]; e != nil {
		return e.media
	}
	return nil
}

// find returns the call named by id, or the only call when id is "".
func (p *Phone) find(id string) (*call, error) { return p.findBesides(id, "") }

// findBesides is find where id "" names the only call other than besides.
func (p *Phone) findBesides(id, besides string) (*call, error) {
	s := p.sipSide()
	if s == nil {
		return nil, ErrNoSuchCall
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" {
		if e := s.calls[id]; e != nil {
			return e, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrNoSuchCall, id)
	}
	var found *call
	for k, e := range s.calls {
		if k == besides {
			continue
		}
		if found != nil {
			return nil, ErrAmbiguousCall
		}
		found = e
	}
	if found == nil {
		return nil, ErrNoSuchCall
	}
	return found, nil
}

// mapErr turns the SIP layer's refusals into the phone's.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sip.ErrInvalidState), errors.Is(err, sip.ErrPending):
		return fmt.Errorf("%w: %w", ErrInvalidState, err)
	case errors.Is(err, sip.ErrInvalidTarget), errors.Is(err, sip.ErrInvalidCode), errors.Is(err, sip.ErrUnknownAccount):
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return err
}

// refused is mapErr for an action on call e that says why the SIP layer
// refused it: the state the call is in, or the re-INVITE in progress.
func refused(action string, e *call, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sip.ErrPending):
		return fmt.Errorf("%w: %s: a re-INVITE of call %s is in progress: %w", ErrInvalidState, action, e.sip.ID(), err)
	case errors.Is(err, sip.ErrInvalidState):
		return fmt.Errorf("%w: %s: call %s is %s: %w", ErrInvalidState, action, e.sip.ID(), e.sip.State(), err)
	}
	return mapErr(err)
}

// findRinging returns the incoming call named by id, or when id is "" the
// one incoming call that rings, whatever other calls are up.
func (p *Phone) findRinging(id string) (*call, error) {
	return p.findIn(id, "ringing", func(e *call) bool {
		return e.sip.Direction() == sip.Incoming && e.state == sip.CallStateRinging
	})
}

// findHeld is findRinging for the call on hold.
func (p *Phone) findHeld(id string) (*call, error) {
	return p.findIn(id, "on hold", func(e *call) bool { return e.state == sip.CallStateHeld })
}

// findIn returns the call named by id, or when id is "" the one call for
// which match holds (what names it in errors).
func (p *Phone) findIn(id, what string, match func(*call) bool) (*call, error) {
	if id != "" {
		return p.find(id)
	}
	s := p.sipSide()
	if s == nil {
		return nil, ErrNoSuchCall
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *call
	for _, e := range s.calls {
		if !match(e) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: several calls are %s", ErrAmbiguousCall, what)
		}
		found = e
	}
	if found == nil {
		return nil, fmt.Errorf("%w: no call is %s", ErrNoSuchCall, what)
	}
	return found, nil
}

// holdOthers puts every call that is up, other than keep, on hold
// (re-INVITE sendonly, RFC 3264 §8.4; its audio leaves the devices), so
// that the agent's microphone reaches keep only. A call that cannot be
// held refuses the action that needed it.
func (p *Phone) holdOthers(action string, keep *call) error {
	s := p.sipSide()
	if s == nil {
		return nil
	}
	s.mu.Lock()
	var up []*call
	for _, e := range s.sorted() {
		if e != keep && !e.ending && e.state == sip.CallStateActive {
			up = append(up, e)
		}
	}
	s.mu.Unlock()
	for _, e := range up {
		if err := e.sip.Hold(); err != nil && e.sip.State() != sip.CallStateEnded {
			return fmt.Errorf("%w: %s: call %s could not be put on hold first: %w", ErrInvalidState, action, e.sip.ID(), err)
		}
		p.log.Info("call put on hold for another", "call", e.sip.ID(), "for", keep.sip.ID(), "action", action)
	}
	return nil
}

// Answer answers a ringing incoming call (the agent's manual answer); id
// "" is the one call that rings, whatever other calls are up. A call that
// is up is put on hold first: the agent talks to one caller at a time.
func (p *Phone) Answer(id string) error {
	e, err := p.findRinging(id)
	if err != nil {
		return err
	}
	return p.answer(e)
}

func (p *Phone) answer(e *call) error {
	if e.sip.Direction() != sip.Incoming || e.sip.State() != sip.CallStateRinging {
		return refused("answer", e, sip.ErrInvalidState)
	}
	if err := p.holdOthers("answer", e); err != nil {
		return err
	}
	return refused("answer", e, e.sip.Answer(e.media))
}

// Reject refuses a ringing incoming call; code 0 means 486 Busy Here.
func (p *Phone) Reject(id string, code int) error {
	if code == 0 {
		code = 486
	}
	if code < 400 || code > 699 {
		return fmt.Errorf("%w: reject code %d is not 400-699", ErrInvalidArgument, code)
	}
	e, err := p.find(id)
	if err != nil {
		return err
	}
	return refused("reject", e, e.sip.Reject(code, "rejected by the agent"))
}

// Hangup ends a call: CANCEL before an answer, BYE after.
func (p *Phone) Hangup(id string) error {
	e, err := p.find(id)
	if err != nil {
		return err
	}
	return refused("hangup", e, p.hangup(e))
}

// hangup ends a call from our side. The call counts as ending from now
// on: a call arriving before our BYE is answered does not wait behind it.
func (p *Phone) hangup(e *call) error {
	if s := p.sipSide(); s != nil {
		s.mu.Lock()
		e.ending = true
		s.mu.Unlock()
	}
	err := e.sip.Hangup()
	if err != nil && e.sip.State() != sip.CallStateEnded {
		// Refused (a re-INVITE pending, say): the call goes on.
		if s := p.sipSide(); s != nil {
			s.mu.Lock()
			e.ending = false
			s.mu.Unlock()
		}
	}
	return err
}

// Hold puts an active call on hold.
func (p *Phone) Hold(id string) error {
	e, err := p.find(id)
	if err != nil {
		return err
	}
	return refused("hold", e, e.sip.Hold())
}

// Resume takes a call off hold (id "": the one call on hold); a call that
// is up is put on hold first, so resuming one call of two swaps them.
func (p *Phone) Resume(id string) error {
	e, err := p.findHeld(id)
	if err != nil {
		return err
	}
	if e.sip.State() != sip.CallStateHeld {
		return refused("resume", e, sip.ErrInvalidState)
	}
	if err := p.holdOthers("resume", e); err != nil {
		return err
	}
	return refused("resume", e, e.sip.Resume())
}

// DTMF sends digits on a call.
func (p *Phone) DTMF(id, digits string) error {
	if digits == "" || strings.Trim(strings.ToUpper(digits), "0123456789*#ABCD") != "" {
		return fmt.Errorf("%w: dtmf digits %q", ErrInvalidArgument, digits)
	}
	e, err := p.find(id)
	if err != nil {
		return err
	}
	if err := p.sendDTMF(e, digits); err != nil {
		return err
	}
	p.events.publish(EventDTMF, map[string]string{"call": e.sip.ID(), "digits": digits, "direction": "sent"})
	return nil
}

// Transfer blind-transfers a call to target (REFER).
func (p *Phone) Transfer(id, target string) error {
	if target == "" {
		return fmt.Errorf("%w: transfer target is empty", ErrInvalidArgument)
	}
	e, err := p.find(id)
	if err != nil {
		return err
	}
	if err := e.sip.Transfer(target); err != nil {
		return mapErr(err)
	}
	p.log.Info("blind transfer succeeded", "call", e.sip.ID(), "target", target)
	p.events.publish(EventTransferred, TransferredEvent{Call: e.sip.ID(), Kind: "blind", Target: target})
	return nil
}

// AttendedTransfer connects the remote party of call id with the remote
// party of call other (the agent's consultation call), both up: a REFER
// on id whose Refer-To names other's party with a Replaces for other's
// dialog. It returns once the transfer's outcome is known. On success id
// ends ("transferred"); other is ended by the target when the new call
// replaces it, else by the phone after the transfer grace. id "" is the
// one call other than other.
func (p *Phone) AttendedTransfer(id, other string) error {
	if other == "" || other == id {
		return fmt.Errorf("%w: an attended transfer needs a second call", ErrInvalidArgument)
	}
	oe, err := p.find(other)
	if err != nil {
		return err
	}
	e, err := p.findBesides(id, other)
	if err != nil {
		return err
	}
	if err := e.sip.TransferReplacing(oe.sip); err != nil {
		return mapErr(err)
	}
	p.log.Info("attended transfer succeeded", "call", e.sip.ID(), "consultation", other)
	p.events.publish(EventTransferred, TransferredEvent{Call: e.sip.ID(), Kind: "attended", Target: oe.sip.Remote(), Consultation: other})
	p.endAfterGrace(p.sipSide(), oe, "transferred: the target kept the consultation call",
		"consultation call not replaced by the target: hung up")
	return nil
}

// Dial places a call; connection -1 means the first configured connection.
// While the policy says should_answer=false no INVITE is sent (the seed:
// outgoing calls are refused while calls are being rejected).
func (p *Phone) Dial(ctx context.Context, uri string, connection int) (CallInfo, error) {
	return p.dial(ctx, uri, connection)
}

func (p *Phone) dial(ctx context.Context, uri string, connection int) (CallInfo, error) {
	return p.dialFor(ctx, uri, connection, nil)
}

// dialFor places a call; follows, when not nil, is the transfer it is
// placed for (set on the call's entry before anything else can see it).
func (p *Phone) dialFor(ctx context.Context, uri string, connection int, follows *transfer) (CallInfo, error) {
	if dec := p.Decision(); !dec.OutgoingAllowed {
		return CallInfo{}, fmt.Errorf("%w: %s", ErrOutgoingBlocked, dec.Reason)
	}
	s := p.sipSide()
	if s == nil {
		return CallInfo{}, fmt.Errorf("%w: sip is not running", ErrInvalidState)
	}
	target := strings.TrimSpace(uri)
	if target == "" {
		return CallInfo{}, fmt.Errorf("%w: empty uri", ErrInvalidArgument)
	}
	if connection < 0 && len(p.config().Connections) > 0 {
		connection = p.config().Connections[0].Index
	}
	transport := p.dialTransport(target, connection)
	m, err := p.newMediaFor(connection, transport)
	if errors.Is(err, errInsecureSRTP) {
		// Not the call's state: the target and connection chosen would
		// carry the SDES keys in clear text (RFC 4568 §8.3).
		return CallInfo{}, fmt.Errorf("%w: srtp = mandatory needs tls signalling, and a call to %s over connection %d goes over %s: "+
			"dial a sips: uri or use a connection with protocol = tls (or set srtp_over_insecure_signalling = 1)",
			ErrInvalidArgument, target, connection, transport)
	}
	if err != nil {
		return CallInfo{}, err
	}
	var c *sip.Call
	if follows != nil {
		c, err = s.ua.DialTransfer(ctx, follows.orig, m)
	} else {
		c, err = s.ua.Dial(ctx, connection, target, m)
	}
	if err != nil {
		m.Close()
		return CallInfo{}, mapErr(err)
	}
	s.mu.Lock()
	e := s.calls[c.ID()]
	if e == nil {
		e = newCall(c, nil, p.now(), &s.mu)
		// A call that ended already (refused at once on loopback) has
		// been reported: it is not added back.
		if e.state != sip.CallStateEnded {
			s.calls[c.ID()] = e
		}
	}
	e.media = m
	p.attachMedia(e)
	if follows != nil {
		e.follows = follows
		follows.newCall = c.ID()
	}
	info, im := e.infoLocked()
	s.mu.Unlock()
	info = withMedia(info, im)
	p.log.Info("outgoing call", "call", c.ID(), "to", target, "connection", connection)
	if follows != nil {
		// The call's states so far came before the entry knew the
		// transfer: catch up with the one it is in now.
		if st := c.State(); st != sip.CallStateCalling {
			p.followTransfer(s, follows, c, st)
		}
	}
	return info, nil
}
