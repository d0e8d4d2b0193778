package sip

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// Registration over TCP and TLS: the connection is the way in.
//
// An agent's desktop has no certificate and usually sits behind NAT or a
// firewall, so the registrar cannot open a connection towards it. As every
// desktop softphone does, a TCP/TLS registration therefore names the
// connection it is sent on: before the REGISTER goes out, the connection to
// the registrar (or outbound proxy) is opened, and the Contact carries that
// connection's local address and port with ;transport=tcp|tls (a sip: URI:
// the binding is reached over TLS because of the transport, RFC 3261
// §26.2.2, and a sips: Contact would oblige every hop to TLS, RFC 5630
// §3.1.3). A registrar with ordinary NAT handling (Kamailio's
// fix_nated_register and the like) then sends incoming requests over that
// same connection; sipgo serves requests arriving on a connection it dialled
// exactly as on an accepted one, and answers on it (RFC 3261 §18.2.2).
//
// RFC 5626 (outbound) comes on top: the Contact carries +sip.instance and
// reg-id (§4.2), the REGISTER says Supported: outbound, path, and when the
// registrar answers with Require: outbound (§6) the binding is a flow:
//   - dialog-forming requests and responses over it carry ;ob in the Contact
//     URI (§4.3), so in-dialog requests come back over the flow too;
//   - keep-alives are double-CRLF pings whose single-CRLF pong must come
//     within 10 s (§4.4.1), at the Flow-Timer interval the registrar asked
//     for (§4.4.1, 80 to 100 % of it) when shorter than the account's own;
//   - a failed flow is recovered by registering again over a new connection
//     with the same instance and reg-id, which replaces the binding (§4.5).
//
// Without outbound the keep-alive is the same ping (§3.5.1). A registrar
// need not answer it, so a missing pong marks the flow failed only once the
// registrar has answered one (Kamailio, for one, always does); a write that
// fails or a connection that has gone always do. The re-REGISTER over the
// new connection then removes the binding of the old one (expires=0, RFC
// 3261 §10.2.2).
//
// A lost connection is noticed at the next keep-alive (the account's
// keep_alive interval, default 30 s, or the Flow-Timer), a silent one 10 s
// later.
//
// The instance id (RFC 5626 §4.1) must stay the same across restarts of the
// same UA on the same device. It is a name-based UUID (RFC 4122 §4.3, SHA-1)
// of the machine id (/etc/machine-id, else the host name) and the OS user,
// so it needs no state on disk and differs between agents sharing a
// machine; Options.InstanceID overrides it.

// pongTimeout is how long a pong may take (RFC 5626 §4.4.1).
const pongTimeout = 10 * time.Second

// regID is the reg-id of every account's single flow (RFC 5626 §4.2.1):
// an account registers over one connection at a time.
const regID = "1"

// instanceURN returns the +sip.instance value of this UA (RFC 5626 §4.1),
// as "urn:uuid:…".
func (u *UA) instanceURN() string {
	if u.o.InstanceID != "" {
		return u.o.InstanceID
	}
	machine, err := os.ReadFile("/etc/machine-id")
	if err != nil || len(bytes.TrimSpace(machine)) == 0 {
		h, _ := os.Hostname()
		machine = []byte(h)
	}
	who := strconv.Itoa(os.Getuid())
	if cur, err := user.Current(); err == nil {
		who = cur.Uid
	}
	name := "softphone\x00" + string(bytes.TrimSpace(machine)) + "\x00" + who
	return "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(name)).String()
}

// streamFlow reports whether the registration rides a TCP/TLS connection
// named in its Contact.
func (r *registration) streamFlow() bool {
	return r.a.Protocol != "udp" && r.u.o.PublicAddress == ""
}

// openFlow makes sure a connection to the registrar exists and records its
// local address as the flow the Contact names. A flow other than the bound
// one is noted for removal at the registrar unless outbound replaces it
// there by instance and reg-id (RFC 5626 §6).
func (r *registration) openFlow(ctx context.Context, target string) error {
	probe := sip.NewRequest(sip.REGISTER, r.registrarURI())
	r.u.prepare(probe, r.a.Protocol, r.dest(target))
	if err := sipgo.ClientRequestAddVia(r.u.client, probe); err != nil {
		return fmt.Errorf("sip: flow: %w", err)
	}
	conn, err := r.u.sua.TransportLayer().ClientRequestConnection(ctx, probe)
	if err != nil {
		return fmt.Errorf("%w: %w", sip.ErrTransactionTransport, err)
	}
	local := conn.LocalAddr().String()
	_, _ = conn.TryClose() // the pool keeps the connection; this drops our reference
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.flow != local {
		if r.flow != "" && r.bound && !r.outbound && r.stale == nil {
			old := r.flowContactLocked(r.flow)
			r.stale = old
		}
		r.flow = local
	}
	return nil
}

// flowContactLocked is the Contact naming flow (a local host:port). r.mu held.
func (r *registration) flowContactLocked(flow string) *sip.ContactHeader {
	c := r.u.contact(r.a.Protocol, r.a.User)
	h, p, err := net.SplitHostPort(flow)
	if err != nil {
		return c
	}
	c.Address.Scheme = "sip"
	c.Address.Host = h
	c.Address.Port, _ = strconv.Atoi(p)
	return c
}

// outboundParams adds the RFC 5626 §4.2.1 Contact parameters of a REGISTER.
func (r *registration) outboundParams(c *sip.ContactHeader) {
	if c.Params == nil {
		c.Params = sip.NewParams()
	}
	c.Params.Add("+sip.instance", `"<`+r.u.instanceURN()+`>"`)
	c.Params.Add("reg-id", regID)
}

// noteOutbound records from a 2xx to REGISTER whether the registrar uses
// outbound (Require: outbound, RFC 5626 §6) and the Flow-Timer it asks
// for (§4.4.1).
func (r *registration) noteOutbound(res *sip.Response) {
	ob := false
	for _, v := range headerValues(res, "Require") {
		for _, tag := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tag), "outbound") {
				ob = true
			}
		}
	}
	var ft time.Duration
	if d, ok := deltaSeconds(headerValue(res, "Flow-Timer")); ok && d > 0 {
		ft = d
	}
	r.mu.Lock()
	changed := r.outbound != ob
	r.outbound, r.flowTimer = ob, ft
	r.mu.Unlock()
	if changed {
		r.u.log.Info("registration flow", "account", r.a.ID, "outbound", ob, "flow_timer", ft)
	}
}

// keepAliveInterval is the account's keep-alive interval, shortened to a
// random 80-100 % of the registrar's Flow-Timer (RFC 5626 §4.4.1).
func (r *registration) keepAliveInterval() time.Duration {
	ka := r.a.KeepAlive
	if ka <= 0 {
		ka = defaultKeepAlive
	}
	r.mu.Lock()
	ft := r.flowTimer
	r.mu.Unlock()
	if ft > 0 {
		if f := ft - time.Duration(rand.Int64N(int64(ft/5)+1)); f < ka {
			ka = f
		}
	}
	return ka
}

// pingFlow sends a double-CRLF keep-alive over the registration's
// connection (RFC 5626 §3.5.1). With outbound in use, or once the
// registrar has answered a ping, a pong must come back within 10 s
// (§4.4.1); otherwise only a gone connection or a failed write mark the
// flow failed.
func (r *registration) pingFlow(target string) error {
	r.mu.Lock()
	flow, expect := r.flow, r.outbound || r.pongSeen
	r.mu.Unlock()
	key := flow
	if key == "" {
		key = r.dest(target)
	}
	conn, err := r.u.sua.TransportLayer().GetConnection(r.a.Protocol, key)
	if err != nil || conn == nil {
		return fmt.Errorf("%w: connection %s gone", ErrFlowFailed, key)
	}
	defer func() { _, _ = conn.TryClose() }()
	if webSocket(r.a.Protocol) {
		// No CRLF ping inside a WebSocket message (RFC 7118 defines none,
		// and a server would take it for a SIP message); the WebSocket
		// server's own pings keep the connection, and one it closed is no
		// longer in the pool, which the check above noticed.
		return nil
	}
	select { // a late pong of an earlier ping
	case <-r.pong:
	default:
	}
	w, ok := conn.(io.Writer) // sipgo's TCP/TLS connections are net.Conns
	if !ok {
		return fmt.Errorf("%w: connection not writable", ErrFlowFailed)
	}
	if _, err := w.Write([]byte("\r\n\r\n")); err != nil {
		return fmt.Errorf("%w: %w", ErrFlowFailed, err)
	}
	if !expect {
		return nil
	}
	select {
	case <-r.pong:
		return nil
	case <-r.u.clock.After(pongTimeout):
		_ = conn.Close() // the flow is dead: a new REGISTER opens a new one
		return fmt.Errorf("%w: no pong within %s", ErrFlowFailed, pongTimeout)
	case <-r.ctx.Done():
		return r.ctx.Err()
	}
}

// notePong runs in sipgo's socket readers (through readFilter): a CRLF
// starting a read on a registration's connection is the pong of its ping
// (RFC 5626 §4.4.1), alone or with a message that came right after it.
func (u *UA) notePong(p sip.TransportReadProps, data []byte) {
	if !bytes.HasPrefix(data, []byte("\r\n")) || (len(data) > 2 && data[2] == '\r') || p.LocalAddr == nil {
		return
	}
	local := p.LocalAddr.String()
	u.mu.Lock()
	regs := u.regs
	u.mu.Unlock()
	for _, r := range regs {
		r.mu.Lock()
		mine := r.flow == local
		if mine {
			r.pongSeen = true
		}
		r.mu.Unlock()
		if mine {
			select {
			case r.pong <- struct{}{}:
			default:
			}
		}
	}
}

// Flow returns the local address of the connection account's registration
// rides on (TCP/TLS) and whether the registrar uses RFC 5626 outbound for
// it; "" when there is none.
func (u *UA) Flow(account int) (local string, outbound bool) {
	u.mu.Lock()
	regs := u.regs
	u.mu.Unlock()
	for _, r := range regs {
		if r.a.ID == account {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.flow, r.outbound
		}
	}
	return "", false
}

// arrivalAddr is the local address for the Contact of our answer to an incoming request that
// came over TCP/TLS: the local address of the connection it came on (the
// registration's flow, or a connection accepted by our listener), so that
// the peer's in-dialog requests come back the same way. "" when the
// connection is not known.
func (u *UA) arrivalAddr(req *sip.Request) string {
	if req == nil || req.Source() == "" {
		return ""
	}
	conn, err := u.sua.TransportLayer().GetConnection(req.Transport(), req.Source())
	if err != nil || conn == nil {
		return ""
	}
	defer func() { _, _ = conn.TryClose() }()
	return conn.LocalAddr().String()
}
