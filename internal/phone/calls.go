package phone

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/policy"
	"github.com/softphone/softphone/internal/sip"
	"github.com/softphone/softphone/internal/voice"
)

// sipSide is the phone's half of the SIP user agent: the calls it knows and
// the registrations it has been told about.
type sipSide struct {
	ua *sip.UA

	mu    sync.Mutex
	calls map[string]*callEntry
	regs  map[int]sip.Registration
	wg    sync.WaitGroup // timers' and transfers' goroutines
	// ctx is cancelled first thing in stopSIP: the stop signal of the
	// goroutines in wg that do not belong to one call.
	ctx    context.Context
	cancel context.CancelFunc
}

// callEntry is one call with the timers the phone runs for it.
type callEntry struct {
	call  *sip.Call
	media *callMedia
	state sip.CallState
	held  bool
	start time.Time
	ans   time.Time
	why   string
	// endReason, when set, is why the phone ended the call (it names the
	// cause better than the SIP layer's "local hangup").
	endReason string
	stop      chan struct{} // closed when the call ends: stops its timers
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

// startSIP builds and starts the user agent from the configuration.
func (p *Phone) startSIP(ctx context.Context) error {
	c := p.config()
	opts := sip.Options{
		Host:          c.Endpoint.SIPAddress,
		Port:          c.Endpoint.SIPPort,
		PortMax:       c.Endpoint.SIPPortMax,
		PublicAddress: c.Endpoint.PublicAddress,
		UserAgent:     sip.UserAgentString("softphone/"+p.version, c.Endpoint.IncludeOSVersion),
		DSCP:          c.Endpoint.SignalingDSCP,
		Logger:        p.log.With("component", "sip"),
		Trace:         c.Log.SIPTrace,
	}
	opts.SessionExpires = c.Session.SessionExpires
	opts.AcceptInvites, opts.TrustedHosts = c.Endpoint.AcceptInvites, c.Endpoint.TrustedHosts
	if c.Endpoint.TLSCertFile != "" {
		opts.Transports = []string{"udp", "tcp", "tls"}
		opts.TLSCertFile, opts.TLSKeyFile = c.Endpoint.TLSCertFile, c.Endpoint.TLSKeyFile
	}
	opts.Accounts = sipAccounts(c)
	s := &sipSide{calls: map[string]*callEntry{}, regs: map[int]sip.Registration{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	ua, err := sip.New(opts, &handler{p: p})
	if err != nil {
		return fmt.Errorf("phone: %w", err)
	}
	s.ua = ua
	p.mu.Lock()
	p.sip = s
	p.mu.Unlock()
	if err := ua.Start(ctx); err != nil {
		return fmt.Errorf("phone: %w", err)
	}
	p.log.Info("sip listening", "addrs", strings.Join(ua.ListenAddrs(), " "), "standalone", p.standalone())
	return nil
}

// sipAccounts converts the [connectivity.N] sections into SIP accounts.
func sipAccounts(c *config.Config) []sip.Account {
	var out []sip.Account
	for _, cn := range c.Connections {
		out = append(out, sip.Account{
			ID: cn.Index, User: cn.User, Password: cn.Password, AuthUser: cn.AuthUser, Domain: cn.Domain,
			DisplayName: cn.DisplayName, Server: cn.Server, Protocol: cn.Protocol, RegTimeout: cn.RegTimeout,
			OutboundProxy: cn.OutboundProxy, BackupServer: cn.BackupServer, CAFile: cn.CAFile,
			KeepAlive: cn.KeepAlive, DSCP: cn.DSCP,
		})
	}
	return out
}

// stopSIP hangs up, un-registers and joins.
func (p *Phone) stopSIP(ctx context.Context) error {
	s := p.sipSide()
	if s == nil {
		return nil
	}
	s.cancel()
	err := s.ua.Close(ctx)
	s.mu.Lock()
	for _, e := range s.calls {
		e.endTimers()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (p *Phone) sipSide() *sipSide {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sip
}

func (p *Phone) standalone() bool {
	for _, cn := range p.config().Connections {
		if cn.Registers() {
			return false
		}
	}
	return true
}

func (e *callEntry) endTimers() {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
}

// after runs f after d unless the call ends first; the goroutine is joined
// at shutdown.
func (s *sipSide) after(e *callEntry, d time.Duration, f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			f()
		case <-e.stop:
		}
	}()
}

// activeCount counts calls that are up (answered, held, or outgoing).
func (s *sipSide) activeCount(except *sip.Call) int {
	n := 0
	for _, e := range s.calls {
		if e.call == except {
			continue
		}
		if e.state != sip.CallStateRinging && e.state != sip.CallStateEnded {
			n++
		}
	}
	return n
}

// decideIncoming is the phone's rule for a new incoming call, from the
// verdict at the moment it arrives (the seed's policy) and the session
// settings:
//   - should_answer false → reject with sip_code_when_headset_na;
//   - call_waiting=0 and another call up → 486 Busy Here;
//   - should_answer true and no other call up → answer at once;
//   - an auto-answer header (when auto_answer_by_header=1, verdict not
//     false, auto-answer not blocked) → answer after its delay, re-checked
//     then;
//   - otherwise ring until the agent answers or rejects, the caller gives
//     up, or no_answer_timeout ends it with 480.
//
// A call that replaces one of ours (RFC 3891) is answered at once whatever
// the verdict: it carries on a conversation the agent is already in.
func (p *Phone) decideIncoming(c *sip.Call) sip.Decision {
	dec := p.Decision()
	s := p.sipSide()
	if old := c.Replaces(); old != nil {
		return p.decideReplacing(s, c, old)
	}
	if dec.ShouldAnswer == policy.AnswerFalse {
		return sip.Decision{Action: sip.ActionReject, Code: dec.RejectCode, Reason: dec.Reason}
	}
	s.mu.Lock()
	busy := s.activeCount(c) > 0
	s.mu.Unlock()
	if busy && !p.config().Session.CallWaiting {
		return sip.Decision{Action: sip.ActionReject, Code: 486, Reason: "call waiting is off and a call is in progress"}
	}
	e, refused := p.addIncoming(s, c)
	if refused != nil {
		return *refused
	}
	m := e.media

	if dec.ShouldAnswer == policy.AnswerTrue && !busy {
		e.auto = true
		p.log.Info("incoming call answered automatically", "call", c.ID(), "from", c.Remote())
		return sip.Decision{Action: sip.ActionAnswer, Media: m}
	}
	if delay, ok := c.AutoAnswer(); ok && p.config().Session.AutoAnswerByHeader && !busy {
		if !dec.AutoAnswerBlocked {
			if delay <= 0 {
				e.auto = true
				p.log.Info("incoming call answered on the caller's request", "call", c.ID())
				return sip.Decision{Action: sip.ActionAnswer, Media: m}
			}
			s.after(e, delay, func() { p.headerAutoAnswer(e) })
		} else {
			p.log.Info("auto-answer requested by the caller but blocked", "call", c.ID(), "reason", dec.Reason)
		}
	}
	if t := p.config().Session.NoAnswerTimeout; t > 0 {
		s.after(e, t, func() {
			if err := c.Reject(480, "no answer"); err == nil {
				p.log.Info("ringing call ended: no answer", "call", c.ID(), "after", t)
			}
		})
	}
	p.log.Info("incoming call ringing", "call", c.ID(), "from", c.Remote(), "should_answer", dec.ShouldAnswer.String())
	if !busy {
		p.startRinger(s, e)
	}
	return sip.Decision{Action: sip.ActionRing, Media: m}
}

// decideReplacing answers a call that replaces old at once, without ringing
// or a zip tone; the SIP layer ends old (reason "replaced by call ID") once
// the new call is confirmed.
func (p *Phone) decideReplacing(s *sipSide, c, old *sip.Call) sip.Decision {
	e, refused := p.addIncoming(s, c)
	if refused != nil {
		return *refused
	}
	s.mu.Lock()
	e.replaces = old.ID()
	s.mu.Unlock()
	p.log.Info("incoming call replaces a call: answered at once", "call", c.ID(), "replaces", old.ID(), "from", c.Remote())
	return sip.Decision{Action: sip.ActionAnswer, Media: e.media}
}

// addIncoming gives an incoming call its media and its entry, or returns
// the refusal when no media can be set up for it.
func (p *Phone) addIncoming(s *sipSide, c *sip.Call) (*callEntry, *sip.Decision) {
	m, err := p.newCallMedia(c.Transport())
	if errors.Is(err, errInsecureSRTP) {
		return nil, &sip.Decision{Action: sip.ActionReject, Code: 488, Reason: "srtp is mandatory and keys are sent only over tls"}
	}
	if err != nil {
		p.log.Error("incoming call refused", "err", err)
		return nil, &sip.Decision{Action: sip.ActionReject, Code: 503, Reason: "no media port available"}
	}
	e := &callEntry{call: c, media: m, state: sip.CallStateRinging, start: p.now(), stop: make(chan struct{})}
	p.attachMedia(e)
	s.mu.Lock()
	s.calls[c.ID()] = e
	s.mu.Unlock()
	return e, nil
}

// headerAutoAnswer answers a ringing call whose INVITE asked for it, once
// its delay ran out, if the verdict still allows it.
func (p *Phone) headerAutoAnswer(e *callEntry) {
	dec := p.Decision()
	if dec.ShouldAnswer == policy.AnswerFalse || dec.AutoAnswerBlocked {
		p.log.Info("auto-answer delay ran out but the devices no longer allow it", "call", e.call.ID(), "reason", dec.Reason)
		return
	}
	p.markAuto(e)
	if err := e.call.Answer(e.media); err == nil {
		p.log.Info("incoming call answered on the caller's request", "call", e.call.ID())
	}
}

// onVerdict applies a new verdict to the calls that ring. The verdict at a
// call's arrival decides what it gets; while it rings, a change is applied
// as if the call arrived now: when the verdict turns to answer (the headset
// was plugged in with auto_answer=1) the ringing call is answered; when it
// turns to reject (the headset was unplugged with
// reject_session_when_headset_na=1) the ringing call is rejected with the
// configured code. A call already answered is never touched.
func (p *Phone) onVerdict(dec policy.Decision) {
	s := p.sipSide()
	if s == nil {
		return
	}
	s.mu.Lock()
	var ringing []*callEntry
	for _, e := range s.calls {
		if e.state == sip.CallStateRinging && e.call.Direction() == sip.Incoming {
			ringing = append(ringing, e)
		}
	}
	busy := s.activeCount(nil) > 0
	s.mu.Unlock()
	for _, e := range ringing {
		switch {
		case dec.ShouldAnswer == policy.AnswerFalse:
			if err := e.call.Reject(dec.RejectCode, dec.Reason); err == nil {
				p.log.Info("ringing call rejected: the devices changed", "call", e.call.ID(), "code", dec.RejectCode)
			}
		case dec.ShouldAnswer == policy.AnswerTrue && !busy:
			p.markAuto(e)
			if err := e.call.Answer(e.media); err == nil {
				p.log.Info("ringing call answered automatically: the devices changed", "call", e.call.ID())
				busy = true
			}
		}
	}
	p.followDevices(s)
}

// markAuto records that the phone answers this call by itself.
func (p *Phone) markAuto(e *callEntry) {
	s := p.sipSide()
	s.mu.Lock()
	e.auto = true
	s.mu.Unlock()
}

// handler receives the user agent's events.
type handler struct{ p *Phone }

func (h *handler) IncomingCall(c *sip.Call) sip.Decision {
	d := h.p.decideIncoming(c)
	if d.Action == sip.ActionReject {
		h.p.log.Info("incoming call rejected", "from", c.Remote(), "code", d.Code, "reason", d.Reason)
		h.p.events.publish("call", CallInfo{ID: c.ID(), Direction: "incoming", State: "rejected", Remote: c.Remote(),
			Local: c.Local(), Connection: c.Account(), Started: h.p.now(), Reason: fmt.Sprintf("%d %s", d.Code, d.Reason)})
	}
	return d
}

func (h *handler) CallState(c *sip.Call, st sip.CallState, reason string) {
	p := h.p
	s := p.sipSide()
	if s == nil {
		return
	}
	s.mu.Lock()
	e := s.calls[c.ID()]
	if e == nil {
		e = &callEntry{call: c, start: p.now(), stop: make(chan struct{})}
		s.calls[c.ID()] = e
	}
	e.state = st
	e.why = reason
	if st == sip.CallStateEnded && e.endReason != "" {
		e.why = e.endReason
		reason = e.endReason
	}
	switch st {
	case sip.CallStateActive:
		if e.ans.IsZero() {
			e.ans = p.now()
			s.watchRTP(p, e)
			p.maybeStartVoiceLocked(s, e)
		}
		e.held = false
		if e.path != nil {
			e.path.SetHold(false)
		}
	case sip.CallStateHeld:
		e.held = true
		if e.path != nil {
			e.path.SetHold(true)
		}
	}
	info := e.info()
	follows := e.follows
	var vq *media.VQReport
	if st == sip.CallStateEnded {
		delete(s.calls, c.ID())
		e.endTimers()
		vq = p.vqReportOf(e)
		p.outcomes.count(info)
	}
	s.mu.Unlock()
	if vq != nil {
		p.publishVQReport(s, c, vq)
	}
	if st != sip.CallStateRinging {
		s.stopAudio(e, st != sip.CallStateEnded)
	}
	if st == sip.CallStateEnded && info.Media != nil {
		mi := info.Media
		p.log.Info("call ended", "call", c.ID(), "remote", c.Remote(), "reason", reason, "codec", mi.Codec, "srtp", mi.SRTP,
			"packets_sent", mi.PacketsSent, "packets_received", mi.PacketsReceived, "packets_lost", mi.PacketsLost,
			"jitter_ms", mi.JitterMillis, "rtt_ms", mi.RTTMillis, "mos", mi.MOS)
	} else {
		p.log.Info("call "+st.String(), "call", c.ID(), "remote", c.Remote(), "reason", reason)
	}
	p.events.publish("call", info)
	if follows != nil {
		p.followTransfer(s, follows, c, st)
	}
}

func (h *handler) RegistrationChanged(r sip.Registration) {
	p := h.p
	if s := p.sipSide(); s != nil {
		s.mu.Lock()
		s.regs[r.Account] = r
		s.mu.Unlock()
	}
	lvl := p.log.Info
	if r.State == sip.RegFailed {
		lvl = p.log.Warn
	}
	lvl("registration "+r.State.String(), "connection", r.Account, "user", r.User, "server", r.Server, "detail", r.Detail)
	p.events.publish("registration", registrationInfo(r))
}

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
			err = c.Answer(p.mediaOf(c))
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

func (h *handler) DTMF(c *sip.Call, digit string) {
	h.p.log.Info("dtmf received", "call", c.ID(), "digit", digit)
	h.p.events.publish("dtmf", map[string]string{"call": c.ID(), "digit": digit, "direction": "received"})
}

// TransferRequested follows a REFER: see transfer.go.
func (h *handler) TransferRequested(c *sip.Call, target string) {
	h.p.transferRequested(c, target)
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

func (e *callEntry) info() CallInfo {
	c := e.call
	return CallInfo{
		ID: c.ID(), Direction: c.Direction().String(), State: e.state.String(), Remote: c.Remote(),
		RemoteName: c.RemoteName(), Local: c.Local(), Connection: c.Account(), Started: e.start,
		Answered: e.ans, Held: e.held, Reason: e.why, Media: e.media.info(), Transfer: e.transfer.info(),
		Replaces: e.replaces,
	}
}

func registrationInfo(r sip.Registration) Registration {
	return Registration{Connection: r.Account, User: r.User, Server: r.Server, Protocol: r.Protocol,
		State: r.State.String(), Detail: r.Detail, Expires: r.Expires}
}

// Calls returns the calls in progress, oldest first.
func (p *Phone) Calls() []CallInfo {
	out := []CallInfo{}
	s := p.sipSide()
	if s == nil {
		return out
	}
	s.mu.Lock()
	for _, e := range s.calls {
		out = append(out, e.info())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// Status returns the daemon's overview.
func (p *Phone) Status() Status {
	st := Status{Version: p.version, Started: p.started, Standalone: p.standalone(),
		SIPListen: []string{}, Registrations: []Registration{}, Verdict: p.Verdict(), Calls: p.Calls()}
	if s := p.sipSide(); s != nil {
		st.SIPListen = s.ua.ListenAddrs()
		for _, r := range s.ua.Registrations() {
			st.Registrations = append(st.Registrations, registrationInfo(r))
		}
	}
	return st
}

// find returns the call named by id, or the only call when id is "".
func (p *Phone) find(id string) (*callEntry, error) { return p.findBesides(id, "") }

// findBesides is find where id "" names the only call other than besides.
func (p *Phone) findBesides(id, besides string) (*callEntry, error) {
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
	var found *callEntry
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

// Answer answers a ringing incoming call (the agent's manual answer).
func (p *Phone) Answer(id string) error {
	e, err := p.find(id)
	if err != nil {
		return err
	}
	return mapErr(e.call.Answer(e.media))
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
	return mapErr(e.call.Reject(code, "rejected by the agent"))
}

// Hangup ends a call: CANCEL before an answer, BYE after.
func (p *Phone) Hangup(id string) error {
	e, err := p.find(id)
	if err != nil {
		return err
	}
	return mapErr(e.call.Hangup())
}

// Hold puts an active call on hold.
func (p *Phone) Hold(id string) error {
	e, err := p.find(id)
	if err != nil {
		return err
	}
	return mapErr(e.call.Hold())
}

// Resume takes a call off hold.
func (p *Phone) Resume(id string) error {
	e, err := p.find(id)
	if err != nil {
		return err
	}
	return mapErr(e.call.Resume())
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
	p.events.publish("dtmf", map[string]string{"call": e.call.ID(), "digits": digits, "direction": "sent"})
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
	return mapErr(e.call.Transfer(target))
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
	if err := e.call.TransferReplacing(oe.call); err != nil {
		return mapErr(err)
	}
	p.log.Info("attended transfer succeeded", "call", e.call.ID(), "consultation", other)
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
	m, err := p.newCallMedia(p.dialTransport(target, connection))
	if errors.Is(err, errInsecureSRTP) {
		return CallInfo{}, fmt.Errorf("%w: %w", ErrInvalidState, err)
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
		e = &callEntry{call: c, state: c.State(), start: p.now(), stop: make(chan struct{})}
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
	info := e.info()
	s.mu.Unlock()
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
