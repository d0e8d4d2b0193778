package phone

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/sip"
)

// sipSide is the phone's half of the SIP user agent: the calls it knows and
// the registrations it has been told about.
type sipSide struct {
	ua *sip.UA

	// mu guards the call list and every call's fields below its own mu.
	// Lock order: sipSide.mu before Phone.mu, never the other way.
	mu    sync.Mutex
	calls map[string]*call
	regs  map[int]sip.Registration
	// bg runs the goroutines that belong to the phone rather than one
	// call (transfers being placed, device moves, calls being closed);
	// ctx is cancelled first thing in stopSIP: their stop signal.
	bg     group
	ctx    context.Context
	cancel context.CancelFunc
	// listening is set once the UA has started: where it listens may be
	// read from then on (the handler is called as soon as it listens, so
	// the phone knows its sipSide before that).
	listening atomic.Bool
	// retry is the pending retry of a device move that failed (see
	// followDevices); retryMu guards it and the failures counted.
	retryMu    sync.Mutex
	retry      *time.Timer
	moveFailed int
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
	if usesWebRTC(c) {
		// The DTLS certificate now, not at the first call: a file that
		// cannot be read or written stops the start with its reason,
		// and no call waits for a key to be made.
		cert, err := p.dtls.get(c)
		if err != nil {
			return fmt.Errorf("phone: %w", err)
		}
		if fps, err := cert.GetFingerprints(); err == nil && len(fps) > 0 {
			p.log.Info("webrtc media", "dtls_fingerprint", fps[0].Algorithm+" "+fps[0].Value)
		}
	}
	s := &sipSide{calls: map[string]*call{}, regs: map[int]sip.Registration{}}
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
	s.listening.Store(true)
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
			KeepAlive: cn.KeepAlive, DSCP: cn.DSCP, WSPath: cn.WSPath,
		})
	}
	return out
}

// stopSIP hangs up, un-registers, closes every call and joins.
func (p *Phone) stopSIP(ctx context.Context) error {
	s := p.sipSide()
	if s == nil {
		return nil
	}
	s.cancel()
	s.retryMu.Lock()
	if s.retry != nil {
		s.retry.Stop()
		s.retry = nil
	}
	s.retryMu.Unlock()
	err := s.ua.Close(ctx)
	s.mu.Lock()
	calls := make([]*call, 0, len(s.calls))
	for _, e := range s.calls {
		calls = append(calls, e)
	}
	s.mu.Unlock()
	for _, e := range calls {
		_ = e.Close(sip.ErrClosed)
	}
	s.bg.Close()
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

// goBackground runs f on a goroutine the phone joins at shutdown; once the
// phone is shutting down it runs f at once instead.
func (s *sipSide) goBackground(f func()) {
	if !s.bg.Go(f) {
		f()
	}
}

// upCount counts the calls in progress for admission (see call.up).
// s.mu is held.
func (s *sipSide) upCount() int {
	n := 0
	for _, e := range s.calls {
		if e.up() {
			n++
		}
	}
	return n
}

// sorted returns the calls oldest first. s.mu is held.
func (s *sipSide) sorted() []*call {
	out := make([]*call, 0, len(s.calls))
	for _, e := range s.calls {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// handler receives the user agent's events.
type handler struct{ p *Phone }

func (h *handler) IncomingCall(c *sip.Call) sip.Decision {
	d := h.p.decideIncoming(c)
	if d.Action == sip.ActionReject {
		h.p.log.Info("incoming call rejected", "from", c.Remote(), "code", d.Code, "reason", d.Reason)
		h.p.events.publish(EventCall, CallInfo{ID: c.ID(), Direction: "incoming", State: "rejected", Remote: c.Remote(),
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
	if st != sip.CallStateEnded && c.State() == sip.CallStateEnded {
		// A change the SIP layer made just before the call ended (a BYE
		// that came with the ACK of our 200, say), told after its end:
		// the call is over and gone from the table, and must not come
		// back as a call left active. The SIP layer marks a call ended
		// before it tells us, so under s.mu either this runs first and
		// the end follows, or the end ran and this is dropped.
		s.mu.Unlock()
		return
	}
	e := s.calls[c.ID()]
	if e == nil {
		e = newCall(c, nil, p.now(), &s.mu)
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
		e.answering = false
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
	info, m := e.infoLocked()
	follows := e.follows
	ended := st == sip.CallStateEnded
	var vq *media.VQReport
	if ended {
		delete(s.calls, c.ID())
		vq = p.vqReportOf(e)
	}
	s.mu.Unlock()
	info = withMedia(info, m)
	if ended {
		p.outcomes.count(info)
	}
	if vq != nil {
		p.publishVQReport(s, c, vq)
	}
	if st != sip.CallStateRinging {
		e.stopRinger()
	}
	if ended {
		// Closing the call's devices may take a while: never on the SIP
		// layer's goroutine, so the next call's answer never waits for it.
		cause := context.Cause(c.Context())
		s.goBackground(func() { _ = e.Close(cause) })
	}
	if ended && info.Media != nil {
		mi := info.Media
		p.log.Info("call ended", "call", c.ID(), "remote", c.Remote(), "reason", reason, "codec", mi.Codec, "srtp", mi.SRTP,
			"packets_sent", mi.PacketsSent, "packets_received", mi.PacketsReceived, "packets_lost", mi.PacketsLost,
			"jitter_ms", mi.JitterMillis, "rtt_ms", mi.RTTMillis, "mos", mi.MOS)
	} else {
		p.log.Info("call "+st.String(), "call", c.ID(), "remote", c.Remote(), "reason", reason)
	}
	p.events.publish(EventCall, info)
	if follows != nil {
		p.followTransfer(s, follows, c, st)
	}
	if ended {
		// A call that waited behind this one is decided again.
		p.redecide("the other call ended")
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
	p.events.publish(EventRegistration, registrationInfo(r))
}

func (h *handler) DTMF(c *sip.Call, digit string) {
	h.p.log.Info("dtmf received", "call", c.ID(), "digit", digit)
	h.p.events.publish(EventDTMF, map[string]string{"call": c.ID(), "digit": digit, "direction": "received"})
}

// TransferRequested follows a REFER: see transfer.go.
func (h *handler) TransferRequested(c *sip.Call, target string) {
	h.p.transferRequested(c, target)
}

// infoLocked is the call's CallInfo without its media figures, and the
// media to read them from (withMedia) once the lock is released: reading
// a session's or path's figures may wait for that session or path, and
// sipSide.mu is never held meanwhile. sipSide.mu is held.
func (e *call) infoLocked() (CallInfo, *callMedia) {
	c := e.sip
	return CallInfo{
		ID: c.ID(), Direction: c.Direction().String(), State: e.state.String(), Remote: c.Remote(),
		RemoteName: c.RemoteName(), Local: c.Local(), Connection: c.Account(), Started: e.start,
		Answered: e.ans, Held: e.held, Reason: e.why, Transfer: e.transfer.info(),
		Replaces: e.replaces,
	}, e.media
}

// withMedia completes a CallInfo from infoLocked.
func withMedia(ci CallInfo, m *callMedia) CallInfo {
	ci.Media = m.info()
	return ci
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
	var media []*callMedia
	for _, e := range s.sorted() {
		ci, m := e.infoLocked()
		out = append(out, ci)
		media = append(media, m)
	}
	s.mu.Unlock()
	for i := range out {
		out[i] = withMedia(out[i], media[i])
	}
	return out
}

// Status returns the daemon's overview.
func (p *Phone) Status() Status {
	st := Status{Version: p.version, Started: p.started, Standalone: p.standalone(),
		SIPListen: []string{}, Registrations: []Registration{}, Verdict: p.Verdict(), Calls: p.Calls()}
	if s := p.sipSide(); s != nil && s.listening.Load() {
		st.SIPListen = s.ua.ListenAddrs()
		for _, r := range s.ua.Registrations() {
			st.Registrations = append(st.Registrations, registrationInfo(r))
		}
	}
	return st
}
