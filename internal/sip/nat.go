package sip

import (
	"context"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Contact rewriting behind NAT.
//
// Every request carries rport in its Via (RFC 3581 §3), so the registrar
// answers with the address and port it saw the REGISTER come from in the
// received and rport parameters of the top Via (RFC 3581 §4). When these
// differ from our Contact on UDP, a NAT sits between us and the registrar:
// the registration re-registers at once with a Contact built from them and
// removes the unreachable binding in the same REGISTER (expires=0 on the
// old Contact, RFC 3261 §10.2.2), and the account's calls use that Contact
// too. RFC 5626 (outbound) is the complete answer; this is the widely
// deployed subset that needs nothing from the registrar but RFC 3581.
//
// It applies only to UDP without a configured PublicAddress: on TCP/TLS the
// registrar reaches us over the registration's connection and rport names
// an ephemeral port, and a PublicAddress is the operator's explicit choice.

// maxNATRewrites bounds consecutive Contact rewrites, so a registrar that
// reports a different address every time cannot make the loop spin.
const maxNATRewrites = 3

// viaAddress returns the host:port the registrar saw res's request come
// from, taken from the top Via's received and rport parameters over cur's
// host and port, and whether it differs from cur.
func viaAddress(res *sip.Response, cur sip.Uri) (string, bool) {
	via := res.Via()
	if via == nil {
		return "", false
	}
	host, port := cur.Host, portOr(cur.Port, 5060)
	if v, ok := via.Params.Get("received"); ok && v != "" && net.ParseIP(v) != nil {
		host = v
	}
	if v, ok := via.Params.Get("rport"); ok && v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n <= 65535 {
			port = n
		}
	}
	changed := !strings.EqualFold(host, cur.Host) || port != portOr(cur.Port, 5060)
	return net.JoinHostPort(host, strconv.Itoa(port)), changed
}

// natAddress is the address to put in our Contact after res, or "" when
// the Contact stays as it is.
func (r *registration) natAddress(res *sip.Response, cur sip.Uri) string {
	if r.a.Protocol != "udp" || r.u.o.PublicAddress != "" {
		return ""
	}
	addr, changed := viaAddress(res, cur)
	if !changed {
		return ""
	}
	return addr
}

// contact is this registration's Contact: over TCP/TLS the connection it
// is sent on (see outbound.go), else the UA's own with host and port
// replaced by the address learned from the registrar, if any.
func (r *registration) contact() *sip.ContactHeader {
	r.mu.Lock()
	nat, flow := r.nat, r.flow
	if flow != "" && r.streamFlow() {
		c := r.flowContactLocked(flow)
		r.mu.Unlock()
		return c
	}
	r.mu.Unlock()
	c := r.u.contact(r.a.Protocol, r.a.User)
	if nat == "" {
		return c
	}
	h, p, err := net.SplitHostPort(nat)
	if err != nil {
		return c
	}
	c.Address.Host = h
	c.Address.Port, _ = strconv.Atoi(p)
	return c
}

// NATAddress returns the address the registrar of account saw us at, when
// it differs from our own and the Contact was rewritten to it; "" otherwise.
func (u *UA) NATAddress(account int) string {
	u.mu.Lock()
	regs := u.regs
	u.mu.Unlock()
	for _, r := range regs {
		if r.a.ID == account {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.nat
		}
	}
	return ""
}

// contactHeader is the Contact of a call (RFC 3261 §8.1.1.8, §12.1.1):
//   - an incoming call over TCP/TLS names the connection its INVITE came
//     on (the registration's flow, or one our listener accepted);
//   - a call of a registered account on its protocol uses the registration's
//     Contact (its flow, or rewritten behind NAT), when its requests go the
//     registration's way;
//   - another outgoing call over TCP/TLS names the connection its INVITE
//     goes on, opened now (so no listener is needed for it either);
//   - else the UA's own.
//
// The scheme is sips only when the dialog's Request-URI is sips, else sip
// with ;transport=tls over TLS; the user part of an incoming call's Contact
// is the called user. Over an RFC 5626 flow the URI carries ;ob (§4.3). It
// reads only fields fixed when the call was made.
func (c *Call) contactHeader() *sip.ContactHeader {
	var h *sip.ContactHeader
	ob := false
	ruri := c.remoteURI
	user := c.contactUser()
	if c.dir == Incoming && c.invite != nil {
		ruri = c.invite.Recipient
		if ruri.User != "" {
			user = ruri.User
		}
	}
	if c.dir == Incoming && c.transport != "udp" {
		c.mu.Lock()
		addr := c.connAddr
		c.mu.Unlock()
		if addr == "" {
			addr = c.u.arrivalAddr(c.invite)
			c.mu.Lock()
			c.connAddr = addr
			c.mu.Unlock()
		}
		if host, port, err := net.SplitHostPort(addr); err == nil {
			h = c.u.contact(c.transport, user)
			h.Address.Host = host
			h.Address.Port, _ = strconv.Atoi(port)
			if r := c.u.registrationOf(c.acct); r != nil {
				r.mu.Lock()
				ob = r.outbound && r.flow == addr
				r.mu.Unlock()
			}
		}
	}
	if h == nil && c.acct != nil && c.transport == c.acct.Protocol {
		if r := c.u.registrationOf(c.acct); r != nil && (c.dir == Incoming || !r.streamFlow() || c.proxyDest == r.dest(r.currentTarget())) {
			h = r.contact()
			h.Address.User = user
			r.mu.Lock()
			ob = r.outbound && r.flow != "" && r.streamFlow()
			r.mu.Unlock()
		}
	}
	if h == nil && c.dir == Outgoing && c.transport != "udp" && c.u.o.PublicAddress == "" {
		if host, port, err := net.SplitHostPort(c.dialConn()); err == nil {
			h = c.u.contact(c.transport, user)
			h.Address.Host = host
			h.Address.Port, _ = strconv.Atoi(port)
		}
	}
	if h == nil {
		h = c.u.contact(c.transport, user)
	}
	h.Address.Scheme = "sip"
	if ruri.Scheme == "sips" && c.transport == "tls" {
		h.Address.Scheme = "sips"
	}
	if ob {
		if h.Address.UriParams == nil {
			h.Address.UriParams = sip.NewParams()
		}
		h.Address.UriParams.Add("ob", "")
	}
	return h
}

// registrationOf is the registration of an account, nil without one.
func (u *UA) registrationOf(a *Account) *registration {
	if a == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, r := range u.regs {
		if r.a.ID == a.ID {
			return r
		}
	}
	return nil
}

// currentTarget is the registrar address in use.
func (r *registration) currentTarget() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.target
}

// dialConn returns the local address of the TCP/TLS connection an
// outgoing call's next request goes on, opening it when there is none (RFC
// 3261 §18.1.1; the request then reuses it); "" when it cannot be opened
// (the request then fails on its own). It is asked for each request, so a
// redirect or a new route finds its own connection.
func (c *Call) dialConn() string {
	c.mu.Lock()
	target, routes, dest := c.remoteTarget, append([]sip.Uri(nil), c.routeSet...), c.proxyDest
	c.mu.Unlock()
	probe := sip.NewRequest(sip.INVITE, target)
	for _, r := range routes {
		probe.AppendHeader(&sip.RouteHeader{Address: r})
	}
	if len(routes) > 0 {
		dest = ""
	}
	c.u.prepare(probe, c.transport, dest)
	if err := sipgo.ClientRequestAddVia(c.u.client, probe); err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(c.u.ctx, registerTimeout)
	defer cancel()
	conn, err := c.u.sua.TransportLayer().ClientRequestConnection(ctx, probe)
	if err != nil {
		c.u.log.Debug("call connection", "call", c.id, "error", err)
		return ""
	}
	defer func() { _, _ = conn.TryClose() }()
	return conn.LocalAddr().String()
}
