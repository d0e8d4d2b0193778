package phone

import (
	"errors"
	"time"

	"github.com/softphone/softphone/internal/policy"
	"github.com/softphone/softphone/internal/sip"
)

// Admission of incoming calls. policy.Admit decides; the phone carries the
// decision out, when the INVITE arrives and again for every call still
// ringing when something it depends on changes:
//
//	INVITE ──▶ decideIncoming ── Admit ──▶ answer │ ring (ringer, timers) │ wait │ reject
//	devices changed ─┐
//	a call ended ────┼──▶ redecide ── Admit(Ringing) ──▶ answer │ ring │ wait │ reject
//	header delay out ┘
//
// The call list and the decision are taken under one lock, so a call is
// never decided on a list that misses a call being answered, and a call
// ending is decided again after it is gone from the list.

// offerOf is what admission needs of an incoming call; elapsed is how long
// it has rung already.
func (p *Phone) offerOf(c *sip.Call, elapsed time.Duration, ringing bool) policy.Offer {
	o := policy.Offer{Replacing: c.Replaces() != nil, Ringing: ringing}
	if delay, ok := c.AutoAnswer(); ok && p.config().Session.AutoAnswerByHeader {
		o.HeaderAutoAnswer, o.HeaderDelay = true, delay-elapsed
	}
	return o
}

// admitLocked decides for an incoming call from the verdict and the
// calls now. s.mu is held.
func (p *Phone) admitLocked(s *sipSide, o policy.Offer) policy.Admission {
	calls := policy.Calls{Up: s.upCount(), CallWaiting: p.config().Session.CallWaiting}
	return policy.Admit(p.Decision(), calls, o)
}

// decideIncoming is the phone's answer to a new incoming call (see
// policy.Admit for the rules). The call's media (its RTP ports) is made
// only for a call that is not refused at once.
func (p *Phone) decideIncoming(c *sip.Call) sip.Decision {
	s := p.sipSide()
	offer := p.offerOf(c, 0, false)
	s.mu.Lock()
	pre := p.admitLocked(s, offer)
	s.mu.Unlock()
	if pre.Action == policy.ActionReject {
		return rejectDecision(pre)
	}
	m, err := p.newMediaFor(c.Account(), c.Transport())
	if errors.Is(err, errInsecureSRTP) {
		return sip.Decision{Action: sip.ActionReject, Code: 488, Reason: "srtp is mandatory and keys are sent only over tls"}
	}
	if err != nil {
		p.log.Error("incoming call refused", "err", err)
		return sip.Decision{Action: sip.ActionReject, Code: 503, Reason: "no media port available"}
	}
	e := newCall(c, m, p.now(), &s.mu)
	p.attachMedia(e)

	// The decision that counts is taken with the call entering the list.
	s.mu.Lock()
	adm := p.admitLocked(s, offer)
	if adm.Action != policy.ActionReject {
		s.calls[c.ID()] = e
		e.auto = adm.Auto
		e.answering = adm.Action == policy.ActionAnswer
		e.waiting = adm.Action == policy.ActionWait
		if old := c.Replaces(); old != nil {
			e.replaces = old.ID()
		}
	}
	s.mu.Unlock()

	switch adm.Action {
	case policy.ActionReject:
		_ = m.Close()
		_ = e.Close(nil)
		return rejectDecision(adm)
	case policy.ActionAnswer:
		if offer.Replacing {
			p.log.Info("incoming call replaces a call: answered at once", "call", c.ID(), "replaces", e.replaces, "from", c.Remote())
		} else {
			p.log.Info("incoming call answered automatically", "call", c.ID(), "from", c.Remote(), "reason", adm.Reason)
		}
		return sip.Decision{Action: sip.ActionAnswer, Media: m}
	case policy.ActionAnswerAfter:
		p.startHeaderTimer(s, e, adm.Delay)
	}
	if t := p.config().Session.NoAnswerTimeout; t > 0 {
		e.after(t, func() {
			if err := c.Reject(480, "no answer"); err == nil {
				p.log.Info("ringing call ended: no answer", "call", c.ID(), "after", t)
			}
		})
	}
	p.log.Info("incoming call ringing", "call", c.ID(), "from", c.Remote(), "should_answer", p.Decision().ShouldAnswer.String(),
		"action", adm.Action.String(), "reason", adm.Reason)
	if adm.Action != policy.ActionWait {
		p.startRinger(s, e)
	}
	return sip.Decision{Action: sip.ActionRing, Media: m}
}

func rejectDecision(a policy.Admission) sip.Decision {
	return sip.Decision{Action: sip.ActionReject, Code: a.Code, Reason: a.Reason}
}

// startHeaderTimer decides the call again once the delay its INVITE asked
// for is over.
func (p *Phone) startHeaderTimer(s *sipSide, e *call, d time.Duration) {
	s.mu.Lock()
	running := e.headerTimer
	e.headerTimer = true
	s.mu.Unlock()
	if running {
		return
	}
	e.after(d, func() {
		s.mu.Lock()
		e.headerTimer = false
		s.mu.Unlock()
		p.redecide("the caller's auto-answer delay ran out")
	})
}

// onVerdict applies a new verdict to the calls that ring: each is decided
// again as if it arrived now (answered when the headset was plugged in
// with auto_answer=1, rejected with the configured code when it was
// unplugged with reject_session_when_headset_na=1); then the audio of the
// calls that are up follows the new devices. A call already answered is
// never touched.
func (p *Phone) onVerdict(policy.Decision) {
	s := p.sipSide()
	if s == nil {
		return
	}
	p.redecide("the devices changed")
	p.followRingers(s)
	p.followDevices(s)
}

// redecide decides again every incoming call that still rings, oldest
// first, and carries out what changed. why names the trigger for the log.
func (p *Phone) redecide(why string) {
	s := p.sipSide()
	if s == nil {
		return
	}
	type step struct {
		e    *call
		adm  policy.Admission
		ring bool // the call waited: it rings now
	}
	var steps []step
	now := p.now()
	s.mu.Lock()
	for _, e := range s.sorted() {
		if e.state != sip.CallStateRinging || e.answering || e.sip.Direction() != sip.Incoming || e.media == nil {
			continue
		}
		adm := p.admitLocked(s, p.offerOf(e.sip, now.Sub(e.start), true))
		ring := false
		switch adm.Action {
		case policy.ActionAnswer:
			e.auto, e.answering = adm.Auto, true // counts as up for the next one
		case policy.ActionWait:
			if e.waiting {
				continue
			}
			e.waiting = true
		case policy.ActionRing, policy.ActionAnswerAfter:
			if !e.waiting && (adm.Action == policy.ActionRing || e.headerTimer) {
				continue
			}
			ring, e.waiting = e.waiting, false
		}
		steps = append(steps, step{e, adm, ring})
	}
	s.mu.Unlock()
	for _, st := range steps {
		p.carryOut(s, st.e, st.adm, st.ring, why)
	}
}

// carryOut applies a new decision to a ringing call; ring is set when the
// call waited behind another one and rings now.
func (p *Phone) carryOut(s *sipSide, e *call, adm policy.Admission, ring bool, why string) {
	id := e.sip.ID()
	switch adm.Action {
	case policy.ActionAnswer:
		if err := e.sip.Answer(e.media); err != nil {
			s.mu.Lock()
			e.answering = false
			s.mu.Unlock()
			return
		}
		p.log.Info("ringing call answered automatically: "+why, "call", id, "reason", adm.Reason)
	case policy.ActionReject:
		if err := e.sip.Reject(adm.Code, adm.Reason); err == nil {
			p.log.Info("ringing call rejected: "+why, "call", id, "code", adm.Code)
		}
	case policy.ActionWait:
		e.stopRinger()
		p.log.Info("ringing call waits behind another call", "call", id)
	case policy.ActionRing, policy.ActionAnswerAfter:
		if adm.Action == policy.ActionAnswerAfter {
			p.startHeaderTimer(s, e, adm.Delay)
		}
		if ring {
			p.log.Info("waiting call rings now: "+why, "call", id, "reason", adm.Reason)
			p.startRinger(s, e)
		}
	}
}
