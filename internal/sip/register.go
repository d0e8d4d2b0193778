package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

const (
	defaultKeepAlive = 30 * time.Second
	maxBackoff       = 60 * time.Second
	registerTimeout  = 10 * time.Second
)

// registration keeps one account's binding alive (RFC 3261 §10.2).
type registration struct {
	u    *UA
	a    Account
	cred credentials

	callID  string
	fromTag string
	cseq    uint32

	attempts   atomic.Int64 // REGISTER transactions sent
	keepalives atomic.Int64 // keep-alives sent that succeeded (CRLF written, OPTIONS answered)

	ctx    context.Context // the loop's stop signal
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	snap      Registration
	reported  bool
	target    string             // ip:port currently used
	bound     bool               // a binding is believed to exist at the registrar
	nat       string             // host:port the registrar saw us at (see nat.go); "" = our own
	stale     *sip.ContactHeader // a Contact to remove with the next REGISTER
	flow      string             // TCP/TLS: local host:port of the connection the Contact names (see outbound.go)
	outbound  bool               // the registrar uses RFC 5626 outbound for the flow
	flowTimer time.Duration      // the registrar's Flow-Timer (RFC 5626 §4.4.1); 0 = none
	pong      chan struct{}      // pongs of the flow's keep-alive pings
	pongSeen  bool               // the registrar has answered a ping: expect pongs from now on
}

func newRegistration(u *UA, a Account) *registration {
	user := a.AuthUser
	if user == "" {
		user = a.User
	}
	r := &registration{
		u:       u,
		a:       a,
		cred:    credentials{user: user, password: a.Password},
		callID:  sip.GenerateTagN(24),
		fromTag: sip.GenerateTagN(12),
		cseq:    1,
		done:    make(chan struct{}),
		pong:    make(chan struct{}, 1),
	}
	r.snap = Registration{Account: a.ID, User: a.User, Server: a.Server, Protocol: a.Protocol}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r
}

func (r *registration) start() {
	if r.a.RegTimeout <= 0 {
		detail := "no registration configured"
		if r.a.Server == "" && r.a.User == "" {
			detail = "no account configured"
		}
		r.set(RegStandalone, detail, time.Time{})
		close(r.done)
		return
	}
	if !r.u.spawn(r.run) {
		close(r.done)
	}
}

// stop ends the loop and removes the binding (Expires: 0, RFC 3261 §10.2.2).
func (r *registration) stop(ctx context.Context) {
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		return
	}
	r.mu.Lock()
	bound, target := r.bound, r.target
	r.mu.Unlock()
	if !bound {
		if r.a.RegTimeout > 0 {
			r.set(RegUnregistered, "closed", time.Time{})
		}
		return
	}
	res, err := r.register(ctx, target, 0)
	detail := "closed"
	if err != nil {
		detail = err.Error()
	} else if !res.IsSuccess() {
		detail = fmt.Sprintf("un-register: %d %s", res.StatusCode, res.Reason)
	}
	r.mu.Lock()
	r.bound = false
	r.mu.Unlock()
	r.set(RegUnregistered, detail, time.Time{})
}

func (r *registration) snapshot() Registration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}

// set records a new state and tells the Handler when state or detail changed.
func (r *registration) set(st RegState, detail string, exp time.Time) {
	r.mu.Lock()
	changed := !r.reported || r.snap.State != st || r.snap.Detail != detail
	r.snap.State, r.snap.Detail, r.snap.Expires = st, detail, exp
	r.reported = true
	snap := r.snap
	r.mu.Unlock()
	if changed {
		r.u.log.Debug("registration", "account", snap.Account, "state", snap.State.String(), "detail", snap.Detail)
		r.u.h.RegistrationChanged(snap)
	}
}

func (r *registration) run() {
	defer close(r.done)
	failures := 0
	ti := 0
	rewrites := 0
	want := r.a.RegTimeout
	r.set(RegRegistering, "", time.Time{})
	for r.ctx.Err() == nil {
		targets, err := r.u.resolveTargets(r.ctx, r.a)
		if err != nil || len(targets) == 0 {
			failures++
			r.set(RegFailed, fmt.Sprintf("resolve %s: %v", r.a.Server, err), time.Time{})
			if !r.u.sleep(r.ctx, backoff(failures, maxBackoff)) {
				return
			}
			continue
		}
		target := targets[ti%len(targets)]
		ctx, cancel := context.WithTimeout(r.ctx, registerTimeout)
		res, err := r.register(ctx, target, want)
		cancel()
		if r.ctx.Err() != nil {
			return
		}
		if err == nil && res.StatusCode == sip.StatusIntervalToBrief {
			// RFC 3261 §10.3 step 7: retry with the registrar's minimum.
			if d, ok := deltaSeconds(headerValue(res, "Min-Expires")); ok && d > want {
				want = d
				continue
			}
		}
		if err != nil || res.StatusCode == sip.StatusRequestTimeout || res.StatusCode >= 500 {
			// No answer from this target: fail over to the next one
			// (RFC 3263 §4.3).
			ti++
		}
		if err == nil && res.IsSuccess() {
			failures = 0
			r.noteOutbound(res)
			cur := r.contact()
			exp := contactExpires(res, cur.Address, want)
			r.mu.Lock()
			r.bound = exp > 0
			r.target = target
			r.stale = nil
			r.mu.Unlock()
			if nat := r.natAddress(res, cur.Address); nat != "" && rewrites < maxNATRewrites {
				// Behind NAT (RFC 3581 §4): register the address the
				// registrar saw at once, removing the unreachable binding.
				rewrites++
				r.u.log.Info("contact rewritten from received/rport", "account", r.a.ID, "contact", cur.Address.String(), "nat", nat)
				r.mu.Lock()
				r.nat = nat
				r.stale = cur
				r.mu.Unlock()
				continue
			}
			rewrites = 0
			r.set(RegRegistered, fmt.Sprintf("%d %s", res.StatusCode, res.Reason), r.u.clock.Now().Add(exp))
			if !r.keep(target, exp) {
				return
			}
			continue
		}
		failures++
		detail := ""
		if err != nil {
			detail = shortErr(err)
		} else {
			detail = fmt.Sprintf("%d %s", res.StatusCode, res.Reason)
		}
		r.mu.Lock()
		r.bound = false
		r.mu.Unlock()
		r.set(RegFailed, detail, time.Time{})
		if !r.u.sleep(r.ctx, retryDelay(res, failures)) {
			return
		}
	}
}

// keep waits until the binding needs refreshing, sending keep-alives
// meanwhile; it returns false when the loop must stop.
func (r *registration) keep(target string, exp time.Duration) bool {
	ka := r.keepAliveInterval()
	refresh := r.u.clock.After(refreshIn(exp))
	for {
		select {
		case <-r.ctx.Done():
			return false
		case <-refresh:
			return true
		case <-r.u.clock.After(ka):
			if err := r.keepAlive(target, ka); err != nil {
				// The flow is gone (registrar restarted, NAT lost): register
				// again at once; failures then back off.
				r.u.log.Info("keep-alive failed", "account", r.a.ID, "error", err)
				return true
			}
			r.keepalives.Add(1)
		}
	}
}

// keepAlive sends a CRLF ping on TCP/TLS over the registration's
// connection (RFC 5626 §3.5.1, §4.4.1) or an OPTIONS to the registrar on
// UDP, which also refreshes the NAT binding; any response to the OPTIONS
// counts as alive.
func (r *registration) keepAlive(target string, ka time.Duration) error {
	if r.a.Protocol != "udp" {
		return r.pingFlow(target)
	}
	timeout := ka
	if timeout > registerTimeout {
		timeout = registerTimeout
	}
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	req := sip.NewRequest(sip.OPTIONS, r.registrarURI())
	r.addressing(req)
	r.u.prepare(req, r.a.Protocol, r.dest(target))
	_, err := r.u.once(ctx, req)
	return err
}

func (r *registration) domain() string {
	if r.a.Domain != "" {
		return r.a.Domain
	}
	h, _, err := net.SplitHostPort(r.a.Server)
	if err != nil {
		return r.a.Server
	}
	return h
}

func (r *registration) registrarURI() sip.Uri {
	u := sip.Uri{Scheme: "sip", Host: r.domain()}
	if r.a.Domain == "" {
		if _, p, err := net.SplitHostPort(r.a.Server); err == nil {
			u.Port, _ = strconv.Atoi(p)
		}
	}
	if r.a.Protocol == "tls" {
		u.Scheme = "sips"
	}
	return u
}

// addressing adds From/To (the AoR), Call-ID and CSeq of the registration.
func (r *registration) addressing(req *sip.Request) {
	aor := sip.Uri{Scheme: "sip", User: r.a.User, Host: r.domain()}
	from := &sip.FromHeader{DisplayName: r.a.DisplayName, Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", r.fromTag)
	to := &sip.ToHeader{DisplayName: r.a.DisplayName, Address: aor}
	cid := sip.CallIDHeader(r.callID)
	r.mu.Lock()
	r.cseq++
	seq := r.cseq
	r.mu.Unlock()
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: req.Method})
	req.AppendHeader(sip.NewHeader("User-Agent", r.u.o.UserAgent))
	if r.a.OutboundProxy != "" {
		req.AppendHeader(&sip.RouteHeader{Address: proxyURI(r.a.OutboundProxy, r.a.Protocol)})
	}
}

// dest is where a request for the registrar goes: the outbound proxy if
// set, else the resolved target.
func (r *registration) dest(target string) string {
	if r.a.OutboundProxy != "" {
		return hostPortDefault(r.a.OutboundProxy, r.a.Protocol)
	}
	return target
}

// register sends one REGISTER with the given expiry to target.
func (r *registration) register(ctx context.Context, target string, exp time.Duration) (*sip.Response, error) {
	r.attempts.Add(1)
	if r.streamFlow() {
		if err := r.openFlow(ctx, target); err != nil {
			return nil, err
		}
	}
	req := sip.NewRequest(sip.REGISTER, r.registrarURI())
	r.addressing(req)
	cur := r.contact()
	if r.streamFlow() {
		r.outboundParams(cur)
		// RFC 5626 §4.2.1: the UA tells the registrar it supports outbound.
		req.AppendHeader(sip.NewHeader("Supported", "path, outbound"))
	}
	req.AppendHeader(cur)
	r.mu.Lock()
	stale := r.stale
	r.mu.Unlock()
	if stale != nil {
		// The binding made before the Contact was rewritten (see nat.go).
		old := stale.Clone()
		old.Params = sip.NewParams()
		old.Params.Add("expires", "0")
		req.AppendHeader(old)
	}
	e := sip.ExpiresHeader(uint32(exp / time.Second))
	req.AppendHeader(&e)
	req.AppendHeader(sip.NewHeader("Allow", allowValue))
	req.SetBody(nil)
	r.u.prepare(req, r.a.Protocol, r.dest(target))
	res, err := r.u.transact(ctx, req, r.cred)
	if cs := req.CSeq(); cs != nil {
		r.mu.Lock()
		if cs.SeqNo > r.cseq {
			r.cseq = cs.SeqNo
		}
		r.mu.Unlock()
	}
	return res, err
}

func shortErr(err error) string {
	switch {
	case errors.Is(err, sip.ErrTransactionTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, sip.ErrTransactionTransport):
		return "transport error: " + err.Error()
	}
	return err.Error()
}

// Registrations returns a snapshot of every account's registration.
func (u *UA) Registrations() []Registration {
	u.mu.Lock()
	regs := append([]*registration(nil), u.regs...)
	u.mu.Unlock()
	out := make([]Registration, 0, len(regs))
	for _, r := range regs {
		out = append(out, r.snapshot())
	}
	return out
}

// proxyURI is the loose-routing Route URI of an outbound proxy (RFC 3261 §8.1.2).
func proxyURI(hostport, transport string) sip.Uri {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	u := sip.Uri{Scheme: "sip", Host: h, UriParams: sip.NewParams()}
	u.Port, _ = strconv.Atoi(p)
	if transport != "" && transport != "udp" {
		u.UriParams.Add("transport", transport)
	}
	u.UriParams.Add("lr", "")
	return u
}

func hostPortDefault(hostport, transport string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), strconv.Itoa(sip.DefaultPort(transport)))
}

// resolveTargets lists the addresses to try for an account: the Server's
// DNS SRV targets in priority order (RFC 3263 §4.2) when it is a name
// without port, else its address; then the BackupServer's.
func (u *UA) resolveTargets(ctx context.Context, a Account) ([]string, error) {
	var out []string
	var firstErr error
	for _, s := range []string{a.Server, a.BackupServer} {
		if s == "" {
			continue
		}
		t, err := u.resolveServer(ctx, s, a.Protocol)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, t...)
	}
	if len(out) == 0 {
		if firstErr == nil {
			firstErr = ErrNoTarget
		}
		return nil, firstErr
	}
	return out, nil
}

func (u *UA) resolveServer(ctx context.Context, server, transport string) ([]string, error) {
	res := u.o.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		host, port = strings.Trim(server, "[]"), ""
	}
	if ip := net.ParseIP(host); ip != nil {
		if port == "" {
			port = strconv.Itoa(sip.DefaultPort(transport))
		}
		return []string{net.JoinHostPort(host, port)}, nil
	}
	if port == "" && (transport == "ws" || transport == "wss") {
		// RFC 7118 defines no SRV for WebSocket servers: the HTTP port.
		port = strconv.Itoa(sip.DefaultPort(transport))
	}
	if port == "" {
		service, proto := "sip", transport
		if transport == "tls" {
			service, proto = "sips", "tcp"
		}
		_, srvs, err := res.LookupSRV(ctx, service, proto, host)
		if err == nil && len(srvs) > 0 {
			var out []string
			for _, s := range srvs {
				ips, err := res.LookupIPAddr(ctx, strings.TrimSuffix(s.Target, "."))
				if err != nil {
					continue
				}
				for _, ip := range ips {
					out = append(out, net.JoinHostPort(ip.IP.String(), strconv.Itoa(int(s.Port))))
				}
			}
			if len(out) > 0 {
				return out, nil
			}
		}
		port = strconv.Itoa(sip.DefaultPort(transport))
	}
	ips, err := res.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("sip: resolve %s: %w", host, err)
	}
	var out []string
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			out = append(out, net.JoinHostPort(ip.IP.String(), port))
		}
	}
	for _, ip := range ips {
		if ip.IP.To4() == nil {
			out = append(out, net.JoinHostPort(ip.IP.String(), port))
		}
	}
	return out, nil
}
