package phone

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/sip"
	"github.com/softphone/softphone/internal/voice"
)

// call is one call and everything that lives and dies with it: its SIP
// call, its media (RTP ports, session), its audio path and ringer, its
// timers and watchers (goroutines of its group, which watch its context),
// and the transfer it is part of.
//
//	newCall ──▶ ringing / calling ──▶ active ⇄ held ──▶ ended ──▶ Close
//	             (ringer, timers)      (path, RTP watch)   (ctx cancelled with the cause;
//	                                                        ringer, path, goroutines joined)
//
// Its fields below mu are guarded by the phone's call list lock
// (sipSide.mu); the sip call, context and group are set once, and so is
// media: at creation for an incoming call, under sipSide.mu once Dial
// returns for an outgoing one.
type call struct {
	sip   *sip.Call
	media *callMedia
	ctx   context.Context
	stop  context.CancelCauseFunc
	g     group       // timers, watchers, the audio start
	mu    *sync.Mutex // the phone's call list lock (sipSide.mu)

	// Guarded by sipSide.mu.
	state sip.CallState
	held  bool
	start time.Time
	ans   time.Time
	why   string
	// endReason, when set, is why the phone ended the call (it names the
	// cause better than the SIP layer's "local hangup").
	endReason string
	// ending is set once the call's end is under way (our BYE sent, the
	// far end's received): a call arriving meanwhile does not wait behind
	// it.
	ending bool
	// answering is set from the moment the phone decides to answer an
	// incoming call until it is up: it counts as in progress already.
	answering bool
	// waiting is set while an incoming call rings silently behind another
	// call (call waiting); headerTimer once the timer of a caller's
	// auto-answer delay runs.
	waiting, headerTimer bool
	// path carries the call's audio once it is up; ringer rings while an
	// incoming call waits for the agent.
	path   *voice.Path
	ringer *voice.Ringer
	// auto is set when the phone answered by itself (a zip tone tells the
	// agent).
	auto bool
	// voice is set once the audio path is being started; noDevice while
	// the call has no input or output device (told once).
	voice, noDevice bool
	// vqAlarm is on while the call's voice quality is poor.
	vqAlarm bool
	// replaces is the id of the call this one replaced (RFC 3891).
	replaces string
	// transfer is the transfer the remote party asked of this call (a
	// received REFER); follows is the transfer this call carries out (it
	// was placed for one). Both point to the same record.
	transfer, follows *transfer
}

// errCallEnded is the cause of a call's context once the call is over.
var errCallEnded = errors.New("phone: call ended")

func newCall(c *sip.Call, m *callMedia, start time.Time, mu *sync.Mutex) *call {
	e := &call{sip: c, media: m, state: c.State(), start: start, mu: mu}
	e.ctx, e.stop = context.WithCancelCause(context.Background())
	return e
}

// up reports whether the call counts as in progress for admission:
// answered, held or outgoing, and not ending. sipSide.mu is held.
func (e *call) up() bool {
	if e.ending || e.state == sip.CallStateEnded {
		return false
	}
	if e.state == sip.CallStateRinging && !e.answering {
		return false
	}
	return e.sip.State() != sip.CallStateEnded
}

// after runs f after d unless the call ends first.
func (e *call) after(d time.Duration, f func()) {
	e.g.Go(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			f()
		case <-e.ctx.Done():
		}
	})
}

// Close ends what the phone runs for the call: its context is cancelled
// with cause (nil: errCallEnded), its goroutines are joined, its ringer and
// audio path stopped. It sends nothing (hanging up is the SIP call's
// business) and is idempotent. It may block on a slow device: the phone
// runs it off the SIP layer's goroutines.
func (e *call) Close(cause error) error {
	if cause == nil {
		cause = errCallEnded
	}
	e.stop(cause)
	e.g.Close()
	e.mu.Lock()
	r, path := e.ringer, e.path
	e.ringer, e.path = nil, nil
	e.mu.Unlock()
	if r != nil {
		r.Stop()
	}
	if path != nil {
		return path.Close()
	}
	return nil
}

// stopRinger stops the call's ringer, if it rings, off the caller's
// goroutine (closing its streams may take a while).
func (e *call) stopRinger() {
	e.mu.Lock()
	r := e.ringer
	e.ringer = nil
	e.mu.Unlock()
	if r == nil {
		return
	}
	if !e.g.Go(func() { _ = r.Stop() }) {
		_ = r.Stop()
	}
}
