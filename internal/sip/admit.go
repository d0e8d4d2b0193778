package sip

// Admission of out-of-dialog requests by their source address.
//
// Scanners send INVITEs straight to a phone's contact address. While an
// account is registered, its calls come through its registrar or outbound
// proxy, so with AcceptProxy an out-of-dialog request from any other
// address (other than the trusted hosts) is refused with 403 (RFC 3261
// §21.4.4) before it reaches the transaction layer: it never rings. The
// addresses are those the registrations resolve (SRV targets included,
// RFC 3263 §4.2), taken again each time an account becomes registered.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AcceptPolicy says who may send out-of-dialog requests.
type AcceptPolicy int

const (
	// AcceptUnknown is the zero value; the UA treats it as AcceptProxy.
	AcceptUnknown AcceptPolicy = iota
	// AcceptProxy admits, while any account is registered, only the
	// registrars, outbound proxies and backup servers of the registered
	// accounts and the trusted hosts.
	AcceptProxy
	// AcceptAny admits every source.
	AcceptAny
)

func (p AcceptPolicy) String() string {
	switch p {
	case AcceptProxy:
		return "proxy"
	case AcceptAny:
		return "any"
	}
	return "unknown"
}

// ParseAcceptPolicy reads "proxy" or "any".
func ParseAcceptPolicy(s string) (AcceptPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "proxy":
		return AcceptProxy, nil
	case "any":
		return AcceptAny, nil
	}
	return AcceptUnknown, fmt.Errorf("%w: accept policy %q (want proxy or any)", ErrInvalidOptions, s)
}

// TrustedHost is one entry of Options.TrustedHosts: a CIDR, an address or
// a host name (resolved when an account registers).
type TrustedHost struct {
	Prefix netip.Prefix // valid for a CIDR or an address
	Name   string       // set for a host name
}

// ParseTrustedHosts reads a comma-separated list of hosts and CIDRs.
func ParseTrustedHosts(s string) ([]TrustedHost, error) {
	var out []TrustedHost
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%w: trusted host %q: %w", ErrInvalidOptions, f, err)
			}
			out = append(out, TrustedHost{Prefix: p.Masked()})
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(f, "[]")); err == nil {
			out = append(out, TrustedHost{Prefix: netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())})
			continue
		}
		if !validHostName(f) {
			return nil, fmt.Errorf("%w: trusted host %q is neither an address, a cidr nor a host name", ErrInvalidOptions, f)
		}
		out = append(out, TrustedHost{Name: strings.ToLower(f)})
	}
	return out, nil
}

func validHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// screenState is the UA's socket screening state.
type screenState struct {
	accept  AcceptPolicy
	trusted []TrustedHost

	framer streamFramer
	udp    sync.Map // local address → net.PacketConn of our UDP listeners

	admit   atomic.Pointer[admitSet]
	admitMu sync.Mutex // serialises rebuilding admit

	logMu  sync.Mutex
	logged map[netip.Addr]time.Time // last log line per source
}

// admitSet is what admission compares a source with.
type admitSet struct {
	accounts map[int][]netip.Addr // registered accounts → their servers' addresses
	trusted  []netip.Prefix       // trusted hosts, names resolved
}

// logEvery is how often one source's dropped requests are logged.
const logEvery = time.Minute

// admitSource reports whether a request from src may go on. In-dialog
// requests always may (they reach a dialog or get 481).
func (u *UA) admitSource(src net.Addr, outOfDialog bool) bool {
	if !outOfDialog || u.scr.accept == AcceptAny {
		return true
	}
	set := u.scr.admit.Load()
	if set == nil || len(set.accounts) == 0 {
		return true // standalone, or nothing registered: any source
	}
	ip, ok := addrIP(src)
	if !ok {
		return false
	}
	for _, addrs := range set.accounts {
		for _, a := range addrs {
			if a == ip {
				return true
			}
		}
	}
	for _, p := range set.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func addrIP(a net.Addr) (netip.Addr, bool) {
	switch v := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(v.IP)
		return ip.Unmap(), ok
	case nil:
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// noteDropped logs a refused or dropped message, once per source and
// minute so that a flood does not flood the log.
func (u *UA) noteDropped(src net.Addr, what string, err error) {
	ip, _ := addrIP(src)
	now := time.Now()
	u.scr.logMu.Lock()
	if u.scr.logged == nil {
		u.scr.logged = map[netip.Addr]time.Time{}
	}
	last, seen := u.scr.logged[ip]
	if seen && now.Sub(last) < logEvery {
		u.scr.logMu.Unlock()
		return
	}
	if len(u.scr.logged) > 4096 {
		for k, t := range u.scr.logged {
			if now.Sub(t) >= logEvery {
				delete(u.scr.logged, k)
			}
		}
	}
	u.scr.logged[ip] = now
	u.scr.logMu.Unlock()
	args := []any{"source", ip.String(), "what", what, "note", "further ones from this source are not logged for a minute"}
	if err != nil {
		args = append(args, "error", err)
	}
	u.log.Info("sip message refused", args...)
}

// admitWatch follows registrations for admission and passes every event on.
type admitWatch struct {
	Handler
	u *UA
}

// RegistrationChanged resolves a newly registered account's servers before
// the registration is reported, so that no call from them is refused.
func (w admitWatch) RegistrationChanged(r Registration) {
	w.u.updateAdmission(r)
	w.Handler.RegistrationChanged(r)
}

// updateAdmission adds or removes r's account in the admission set.
func (u *UA) updateAdmission(r Registration) {
	if u.scr.accept == AcceptAny {
		return
	}
	u.scr.admitMu.Lock()
	defer u.scr.admitMu.Unlock()
	prev := u.scr.admit.Load()
	next := &admitSet{accounts: map[int][]netip.Addr{}}
	if prev != nil {
		for k, v := range prev.accounts {
			next.accounts[k] = v
		}
	}
	delete(next.accounts, r.Account)
	if r.State == RegRegistered {
		parent := u.ctx
		if parent == nil {
			parent = context.Background()
		}
		// Bounded, and cut short by Close.
		ctx, cancel := context.WithTimeout(parent, 5*time.Second)
		defer cancel()
		var acct *Account
		for _, a := range u.accounts() {
			if a.ID == r.Account {
				acct = &a
				break
			}
		}
		if acct != nil {
			next.accounts[r.Account] = u.serverAddrs(ctx, *acct)
		}
		next.trusted = u.trustedPrefixes(ctx)
	} else if prev != nil {
		next.trusted = prev.trusted
	}
	u.scr.admit.Store(next)
}

// serverAddrs resolves an account's registrar, backup server and outbound
// proxy (RFC 3263: SRV targets, then A/AAAA).
func (u *UA) serverAddrs(ctx context.Context, a Account) []netip.Addr {
	var out []netip.Addr
	for _, s := range []string{a.Server, a.BackupServer, a.OutboundProxy} {
		if s == "" {
			continue
		}
		targets, err := u.resolveServer(ctx, s, a.Protocol)
		if err != nil {
			u.log.Warn("admission: server not resolved", "account", a.ID, "server", s, "error", err)
			continue
		}
		for _, t := range targets {
			if ap, err := netip.ParseAddrPort(t); err == nil {
				out = append(out, ap.Addr().Unmap())
			}
		}
	}
	return out
}

// trustedPrefixes resolves Options.TrustedHosts.
func (u *UA) trustedPrefixes(ctx context.Context) []netip.Prefix {
	res := u.o.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	var out []netip.Prefix
	for _, h := range u.scr.trusted {
		if h.Name == "" {
			out = append(out, h.Prefix)
			continue
		}
		ips, err := res.LookupNetIP(ctx, "ip", h.Name)
		if err != nil {
			u.log.Warn("admission: trusted host not resolved", "host", h.Name, "error", err)
			continue
		}
		for _, ip := range ips {
			ip = ip.Unmap()
			out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return out
}
