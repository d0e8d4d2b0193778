package sip

import (
	"net"
	"strconv"
	"strings"

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

// contact is this registration's Contact: the UA's own, with host and port
// replaced by the address learned from the registrar, if any.
func (r *registration) contact() *sip.ContactHeader {
	c := r.u.contact(r.a.Protocol, r.a.User)
	r.mu.Lock()
	nat := r.nat
	r.mu.Unlock()
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

// contactHeader is the Contact of a call: the registration's (rewritten
// behind NAT) for a call of a registered account on its protocol, else the
// UA's own. It reads only fields fixed when the call was made.
func (c *Call) contactHeader() *sip.ContactHeader {
	if c.acct != nil && c.transport == c.acct.Protocol {
		c.u.mu.Lock()
		regs := c.u.regs
		c.u.mu.Unlock()
		for _, r := range regs {
			if r.a.ID == c.acct.ID {
				return r.contact()
			}
		}
	}
	return c.u.contact(c.transport, c.contactUser())
}
