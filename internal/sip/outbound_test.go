package sip

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// startOutboundProxy runs Kamailio as a plain loose-routing proxy (see
// testdata/outbound_proxy.cfg) on a free port and returns it with its
// address once it answers OPTIONS.
func startOutboundProxy(t *testing.T) (*testbed.Process, string) {
	t.Helper()
	tmpl, err := template.ParseFiles(filepath.Join("testdata", "outbound_proxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	port := testbed.FreePort(t, 1)
	dir := testbed.Dir(t, "outbound-proxy")
	// Kamailio's runtime folder holds a unix socket: keep its path short.
	run, err := os.MkdirTemp("", "kamp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	f, err := os.Create(filepath.Join(dir, "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	err = tmpl.Execute(f, struct{ Port int }{port})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	p := testbed.Start(t, dir, nil, "kamailio", "-f", f.Name(), "-DD", "-E", "-Y", run,
		"-P", filepath.Join(run, "kamailio.pid"), "-m", "32", "-M", "8")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ready := testbed.WaitFor(10*time.Second, func() bool {
		select {
		case <-p.Done():
			return true
		default:
		}
		code, err := testbed.OptionsPing(addr, 200*time.Millisecond)
		return err == nil && code == 200
	})
	select {
	case <-p.Done():
		t.Fatalf("outbound proxy exited: %v\n%s", p.Err(), p.Log())
	default:
	}
	if !ready {
		t.Fatalf("outbound proxy on %s not ready\n%s", addr, p.Log())
	}
	return p, addr
}

// linesWith returns the lines of log that contain substr.
func linesWith(log, substr string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// TestIntegrationOutboundProxy: the registrar (Kamailio with digest auth)
// is reached only through the outbound proxy (a second Kamailio); REGISTER
// and the INVITE to a sipp UAS both arrive at the proxy with a loose Route
// naming it (RFC 3261 §8.1.2, §16.4), and the in-dialog BYE follows the
// Record-Route back through it.
func TestIntegrationOutboundProxy(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd", "sipp")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true})
	proxy, proxyAddr := startOutboundProxy(t)
	scenario, err := filepath.Abs(filepath.Join("testdata", "uas_via_proxy.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			uas := testbed.StartSipp(t, testbed.SippOptions{Scenario: scenario, Timeout: 20 * time.Second})
			leakCheck(t) // after the peer: its log reader is the testbed's to stop
			h := newRecHandler(nil)
			u := startUA(t, Options{Transports: []string{"udp", "tcp"}, Accounts: []Account{
				{ID: 1, User: "alice", Password: "alicepw", Server: k.Addr(), Protocol: proto, OutboundProxy: proxyAddr, RegTimeout: time.Minute},
			}}, h)
			if r := h.waitReg(t, RegRegistered, waitTimeout); r.Detail != "200 OK" {
				t.Fatalf("registration %+v", r)
			}
			cs := k.WaitContacts(t, "alice", 1, 5*time.Second)
			ours := u.ListenAddr(proto)
			if proto == "tcp" {
				// Over TCP the Contact names the connection to the proxy
				// (see outbound.go).
				ours, _ = u.Flow(1)
			}
			if ours == "" || !strings.Contains(cs[0], ours) {
				t.Fatalf("contact %q does not name our address %q", cs[0], ours)
			}
			route := "route=<sip:" + proxyAddr + ";lr>"
			from := "from=" + u.ListenAddr("udp") + "/udp"
			if proto == "tcp" {
				route = "route=<sip:" + proxyAddr + ";transport=tcp;lr>"
				from = "/tcp" // from an ephemeral port
			}
			// The proxy's log is read as it prints: wait for the lines
			// rather than read what has arrived so far.
			var regs []string
			testbed.WaitFor(5*time.Second, func() bool {
				regs = linesWith(proxy.Log(), "outbound-proxy REGISTER sip:"+k.Addr())
				regs = linesWith(strings.Join(regs, "\n"), from)
				return len(regs) >= 2
			})
			if len(regs) < 2 { // the challenged REGISTER and the authorised one
				t.Fatalf("proxy saw %d REGISTERs %s, want 2:\n%s", len(regs), from, proxy.Log())
			}
			for _, l := range regs {
				if !strings.Contains(l, route) {
					t.Fatalf("REGISTER at the proxy without %s: %s", route, l)
				}
			}
			for _, l := range linesWith(k.Log(), "route REGISTER") {
				if !strings.Contains(l, "from "+proxyAddr+"/") {
					t.Fatalf("REGISTER reached the registrar other than from the proxy %s: %s", proxyAddr, l)
				}
			}

			c, err := u.Dial(context.Background(), 1, "sip:uas@"+uas.Addr(), newFakeMedia())
			if err != nil {
				t.Fatal(err)
			}
			h.waitState(t, CallStateActive)
			if err := c.Hangup(); err != nil {
				t.Fatal(err)
			}
			if e := h.waitState(t, CallStateEnded); e.reason != "local hangup" {
				t.Fatalf("end reason %q", e.reason)
			}
			res, err := uas.Wait(10 * time.Second)
			if err != nil {
				t.Fatalf("%v\n%s", err, res.Messages)
			}
			if _, err := proxy.WaitLine("outbound-proxy BYE sip:uas@"+uas.Addr(), 5*time.Second); err != nil {
				t.Fatal(err)
			}
			invites := linesWith(proxy.Log(), "outbound-proxy INVITE sip:uas@"+uas.Addr())
			if len(invites) != 1 || !strings.Contains(invites[0], route) || !strings.Contains(invites[0], from) {
				t.Fatalf("INVITE at the proxy %q, want one from us (%s) with %s", invites, from, route)
			}
			// The BYE follows the Record-Route set: a Route to the proxy.
			if byes := linesWith(proxy.Log(), "outbound-proxy BYE sip:uas@"+uas.Addr()); len(byes) != 1 || !strings.Contains(byes[0], "route=<sip:"+proxyAddr) {
				t.Fatalf("BYE at the proxy %q, want one routed to %s", byes, proxyAddr)
			}
			// The UAS got the INVITE from the proxy: the top Via is the proxy's.
			i := strings.Index(res.Messages, "INVITE sip:")
			if i < 0 {
				t.Fatalf("no INVITE in the UAS trace:\n%s", res.Messages)
			}
			inv := res.Messages[i:]
			if j := strings.Index(inv, "Via: "); j < 0 || !strings.HasPrefix(inv[j:], "Via: SIP/2.0/UDP "+proxyAddr) {
				t.Fatalf("INVITE at the UAS does not come from the proxy %s:\n%s", proxyAddr, inv)
			}
		})
	}
}

// udpNAT is a full-cone NAT for one inside host, owned by a test:
// datagrams to its inside port leave from its outside socket towards the
// server; whatever reaches the outside socket goes to the inside host.
type udpNAT struct {
	in, out net.PacketConn
	server  net.Addr
	wg      sync.WaitGroup
	mu      sync.Mutex
	inside  net.Addr
}

func startNAT(t *testing.T, server string) *udpNAT {
	t.Helper()
	sa, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	n := &udpNAT{server: sa}
	if n.in, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if n.out, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		n.in.Close()
		t.Fatal(err)
	}
	n.wg.Add(2)
	go n.forward(n.in, n.out, func(from net.Addr) net.Addr {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.inside = from
		return n.server
	})
	go n.forward(n.out, n.in, func(net.Addr) net.Addr {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.inside
	})
	t.Cleanup(func() { n.in.Close(); n.out.Close(); n.wg.Wait() })
	return n
}

// forward copies datagrams read from src to the address to() picks,
// writing them from dst; it ends when src is closed.
func (n *udpNAT) forward(src, dst net.PacketConn, to func(from net.Addr) net.Addr) {
	defer n.wg.Done()
	buf := make([]byte, 65536)
	for {
		k, from, err := src.ReadFrom(buf)
		if err != nil {
			return
		}
		if a := to(from); a != nil {
			_, _ = dst.WriteTo(buf[:k], a)
		}
	}
}

// TestIntegrationNATContactRewrite: the UA registers with Kamailio through
// a NAT; the 200 OK's Via received/rport (RFC 3581 §4) names the NAT's
// outside address, so the UA registers again with a Contact built from it,
// removing the unreachable binding, and a call to the account through the
// registrar then reaches it through the NAT.
func TestIntegrationNATContactRewrite(t *testing.T) {
	testbed.Require(t, "kamailio", "kamcmd", "sipp")
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true})
	leakCheck(t) // after the peer: Kamailio's forked children may hold its log pipe a moment
	nat := startNAT(t, k.Addr())
	public := nat.out.LocalAddr().String()
	h := newRecHandler(answerWith(newFakeMedia()))
	u := startUA(t, Options{Transports: []string{"udp"}, Accounts: []Account{
		{ID: 1, User: "alice", Password: "alicepw", Server: nat.in.LocalAddr().String(), Domain: "127.0.0.1", RegTimeout: time.Minute},
	}}, h)
	h.waitReg(t, RegRegistered, waitTimeout)
	if got := u.NATAddress(1); got != public {
		t.Fatalf("NAT address %q, want the NAT's outside address %s", got, public)
	}
	cs := k.WaitContacts(t, "alice", 1, 5*time.Second)
	if !strings.Contains(cs[0], "@"+public) {
		t.Fatalf("registered contact %q, want one at %s (our own is %s)", cs[0], public, u.ListenAddr("udp"))
	}

	res, err := testbed.RunSipp(t, testbed.SippOptions{Scenario: "invite_expect_200.xml", Target: k.Addr(), Service: "alice", Timeout: 15 * time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Messages)
	}
	if c := recv(t, h.incoming, "incoming call"); c.Account() != 1 {
		t.Fatalf("call for account %d", c.Account())
	}
	if e := h.waitState(t, CallStateEnded); e.reason != "remote hangup" {
		t.Fatalf("end reason %q", e.reason)
	}
	if !strings.Contains(res.Messages, "Contact: <sip:alice@"+public+">") {
		t.Fatalf("our 200 OK does not carry the NAT contact %s:\n%s", public, res.Messages)
	}
}
