package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// listenAll binds every configured transport. With Port 0 the first
// transport takes an ephemeral port and the others try the same number.
// With PortMax above Port, a number where any transport is busy is given up
// and the next one tried, up to PortMax (the Genesys sip_port_min and
// sip_port_max range): every transport shares the number the first free
// one gets.
func (u *UA) listenAll(ctx context.Context) error {
	last := max(u.o.Port, u.o.PortMax)
	for port := u.o.Port; ; port++ {
		err := u.listenAt(ctx, port)
		if err == nil || u.o.Port == 0 || port >= last {
			return err
		}
	}
}

// listenAt binds every transport on port (TLS on port+1); on failure it
// closes what it bound, so the next number starts clean.
func (u *UA) listenAt(ctx context.Context, port int) error {
	lc := net.ListenConfig{Control: dscpControl(u.o.DSCP)}
	n0, p0 := len(u.listeners), len(u.pendingServe)
	undo := func() {
		for _, l := range u.listeners[n0:] {
			_ = l.Close()
		}
		u.listeners, u.pendingServe = u.listeners[:n0], u.pendingServe[:p0]
		clear(u.listen)
	}
	fixed := port != 0
	for _, t := range u.o.Transports {
		p := port
		if t == "tls" && fixed {
			p = port + 1
		}
		addr := net.JoinHostPort(u.o.Host, strconv.Itoa(p))
		bound, err := u.listenOne(ctx, lc, t, addr)
		if err != nil && p != 0 && !fixed {
			// The ephemeral number taken by another transport is busy here.
			bound, err = u.listenOne(ctx, lc, t, net.JoinHostPort(u.o.Host, "0"))
		}
		if err != nil {
			undo()
			return fmt.Errorf("sip: listen %s %s: %w", t, addr, err)
		}
		u.listen[t] = bound
		if port == 0 {
			_, ps, _ := net.SplitHostPort(bound)
			port, _ = strconv.Atoi(ps)
		}
	}
	return nil
}

func (u *UA) listenOne(ctx context.Context, lc net.ListenConfig, t, addr string) (string, error) {
	switch t {
	case "udp":
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return "", err
		}
		u.listeners = append(u.listeners, pc)
		u.scr.udp.Store(pc.LocalAddr().String(), pc)
		u.pendingServe = append(u.pendingServe, func() {
			u.lwg.Add(1)
			go func() {
				defer u.lwg.Done()
				_ = u.server.ServeUDP(pc)
			}()
		})
		return pc.LocalAddr().String(), nil
	case "tcp", "tls":
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return "", err
		}
		if t == "tls" {
			cert, err := tls.LoadX509KeyPair(u.o.TLSCertFile, u.o.TLSKeyFile)
			if err != nil {
				l.Close()
				return "", fmt.Errorf("certificate: %w", err)
			}
			l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
		u.listeners = append(u.listeners, l)
		u.pendingServe = append(u.pendingServe, func() {
			u.lwg.Add(1)
			go func() {
				defer u.lwg.Done()
				if t == "tls" {
					_ = u.server.ServeTLS(l)
				} else {
					_ = u.server.ServeTCP(l)
				}
			}()
		})
		return l.Addr().String(), nil
	}
	return "", fmt.Errorf("transport %q not supported", t)
}

// advertisedHost is the host put in Contact and Via: PublicAddress, else the
// listen host, else the local address that routes to the first server.
func (u *UA) advertisedHost() string {
	if u.o.PublicAddress != "" {
		h, _, err := net.SplitHostPort(u.o.PublicAddress)
		if err != nil {
			return u.o.PublicAddress
		}
		return h
	}
	if u.o.Host != "" && u.o.Host != "0.0.0.0" && u.o.Host != "::" {
		return u.o.Host
	}
	probe := "192.0.2.1:9"
	for _, a := range u.accounts() {
		if a.Server != "" {
			h := a.Server
			if hh, _, err := net.SplitHostPort(a.Server); err == nil {
				h = hh
			}
			probe = net.JoinHostPort(h, "9")
			break
		}
	}
	c, err := net.Dial("udp", probe)
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// advertisedPort is the port put in Contact for transport t.
func (u *UA) advertisedPort(t string) int {
	if u.o.PublicAddress != "" {
		if _, p, err := net.SplitHostPort(u.o.PublicAddress); err == nil {
			n, _ := strconv.Atoi(p)
			return n
		}
	}
	addr, ok := u.listen[t]
	if !ok && t == "tls" {
		addr, ok = u.listen["tcp"]
	}
	if !ok {
		for _, lt := range u.o.Transports {
			if a, found := u.listen[lt]; found {
				addr = a
				break
			}
		}
	}
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// ListenAddrs returns the bound host:port of each transport, as
// "udp/127.0.0.1:5060".
func (u *UA) ListenAddrs() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, t := range u.o.Transports {
		if a, ok := u.listen[t]; ok {
			out = append(out, t+"/"+a)
		}
	}
	return out
}

// ListenAddr returns the bound host:port of one transport ("" if none).
func (u *UA) ListenAddr(transport string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.listen[strings.ToLower(transport)]
}

// contact builds our Contact header for a transport and user.
func (u *UA) contact(t, user string) *sip.ContactHeader {
	c := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: u.host, Port: u.advertisedPort(t)}}
	if t == "tls" {
		c.Address.Scheme = "sips"
	}
	if t != "udp" && t != "" {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", t)
	}
	return c
}

// prepare sets transport, destination and local socket of an outgoing
// request. dest is host:port (already resolved, or a name sipgo resolves).
func (u *UA) prepare(req *sip.Request, transport, dest string) {
	req.SetTransport(strings.ToUpper(transport))
	if dest != "" {
		req.SetDestination(dest)
	}
	if strings.EqualFold(transport, "udp") {
		// Send from the listening socket so that responses, rport and the
		// NAT binding all use the advertised port (RFC 3581 §4).
		if la, ok := u.listen["udp"]; ok {
			h, p, err := net.SplitHostPort(la)
			if err == nil {
				n, _ := strconv.Atoi(p)
				req.Laddr = sip.Addr{IP: net.ParseIP(h), Port: n, Hostname: h}
			}
		}
	}
}

func (u *UA) trace(dir string, msg sip.Message) {
	if !u.o.Trace {
		return
	}
	u.log.Info("sip trace", "dir", dir, "msg", maskCredentials(msg.String()))
}

// inflightGrace bounds the wait for requests read just before Close.
const inflightGrace = 50 * time.Millisecond

// shutdownTransport closes sipgo's layers and the listeners and joins the
// serve loops.
func (u *UA) shutdownTransport() {
	if u.sua != nil {
		_ = u.sua.Close()
	}
	for _, l := range u.listeners {
		_ = l.Close()
	}
	u.listeners = nil
	u.lwg.Wait()
}

// Close hangs up every call, un-registers every account and joins all
// goroutines. It is idempotent. ctx bounds the hang-up and un-REGISTER work.
func (u *UA) Close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	u.closing.Store(true)
	started := u.started && u.ctx != nil
	calls := make([]*Call, 0, len(u.calls))
	for _, c := range u.calls {
		calls = append(calls, c)
	}
	u.mu.Unlock()
	if !started {
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, u.o.HangupTimeout)
		defer cancel()
	}
	// A peer that does not answer the BYE (gone, or the network is) does
	// not make the shutdown fail: the call is ended on our side all the
	// same, and the failure is logged.
	for _, c := range calls {
		if err := c.hangup(ctx, "shutdown"); err != nil && !errors.Is(err, ErrInvalidState) {
			u.log.Warn("shutdown: a call's hang-up was not answered", "call", c.ID(), "err", err)
		}
	}
	u.mu.Lock()
	regs := u.regs
	u.mu.Unlock()
	for _, r := range regs {
		r.stop(ctx)
	}
	// Everything else (ringing handlers, dials, timers) stops now; under
	// the lock so that no spawn or enter adds to wg once Wait may run.
	u.mu.Lock()
	u.cancel()
	u.mu.Unlock()
	done := make(chan struct{})
	go func() {
		u.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Bounded: the transport shutdown below unblocks what is left.
	}
	// A request read just before Close began is still being matched to a
	// transaction in one of sipgo's goroutines; if the transport closed
	// under it, sipgo would open a new socket for its answer. Such work
	// takes microseconds: give it a short grace when a request came lately.
	if since := time.Since(time.Unix(0, u.lastRequest.Load())); since < inflightGrace {
		t := time.NewTimer(inflightGrace - since)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	u.shutdownTransport()
	<-done
	return nil
}

// spawn runs f in a goroutine owned by the UA (joined in Close).
func (u *UA) spawn(f func()) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ctx == nil || u.ctx.Err() != nil {
		return false
	}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		f()
	}()
	return true
}

// enter marks a sipgo handler goroutine as running UA code so Close joins
// it; it returns false once the UA is shutting down.
func (u *UA) enter() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ctx == nil || u.ctx.Err() != nil {
		return false
	}
	u.wg.Add(1)
	return true
}

func (u *UA) leave() { u.wg.Done() }

// sleep waits for d or the UA's stop signal; false means stop.
func (u *UA) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-u.clock.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}
