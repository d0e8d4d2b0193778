package sip

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer answers SRV and A queries from fixed tables on 127.0.0.1.
type dnsServer struct {
	pc  net.PacketConn
	srv map[string][]dnsmessage.SRVResource // by query name
	a   map[string][4]byte
	wg  sync.WaitGroup
}

func startDNS(t *testing.T, srv map[string][]dnsmessage.SRVResource, a map[string][4]byte) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{pc: pc, srv: srv, a: a}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(func() { pc.Close(); d.wg.Wait() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", addr)
	}}
}

func (d *dnsServer) serve() {
	defer d.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.EnableCompression()
		_ = b.StartQuestions()
		_ = b.Question(q)
		_ = b.StartAnswers()
		name := strings.ToLower(q.Name.String())
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch q.Type {
		case dnsmessage.TypeSRV:
			for _, r := range d.srv[name] {
				_ = b.SRVResource(rh, r)
			}
		case dnsmessage.TypeA:
			if ip, ok := d.a[name]; ok {
				_ = b.AResource(rh, dnsmessage.AResource{A: ip})
			}
		}
		msg, err := b.Finish()
		if err != nil {
			continue
		}
		_, _ = d.pc.WriteTo(msg, from)
	}
}

func TestSRVFailover(t *testing.T) {
	leakCheck(t)
	// A TCP registrar, and a port where nothing listens.
	reg := &registrar{password: "pw", code: 401, algo: "SHA-256", grant: 60, nonce: "n2"}
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	reg.install(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.ServeTCP(l) }()
	t.Cleanup(func() { _ = ua.Close(); _ = l.Close(); wg.Wait() })
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	livePort := l.Addr().(*net.TCPAddr).Port

	mustName := func(s string) dnsmessage.Name { return dnsmessage.MustNewName(s) }
	res := startDNS(t, map[string][]dnsmessage.SRVResource{
		"_sip._tcp.pbx.test.": {
			{Priority: 10, Weight: 1, Port: uint16(deadPort), Target: mustName("a.pbx.test.")},
			{Priority: 20, Weight: 1, Port: uint16(livePort), Target: mustName("b.pbx.test.")},
		},
	}, map[string][4]byte{"a.pbx.test.": {127, 0, 0, 1}, "b.pbx.test.": {127, 0, 0, 1}})

	h := newRecHandler(nil)
	u := startUA(t, Options{Transports: []string{"udp", "tcp"}, Resolver: res, Accounts: []Account{
		{ID: 1, User: "alice", Password: "pw", Server: "pbx.test", Protocol: "tcp", RegTimeout: time.Minute},
	}}, h)
	targets, err := u.resolveTargets(context.Background(), u.o.Accounts[0])
	if err != nil || len(targets) != 2 || !strings.HasSuffix(targets[0], ":"+strconv.Itoa(deadPort)) {
		t.Fatalf("SRV targets %v %v, want the priority 10 one first", targets, err)
	}
	h.waitReg(t, RegFailed, waitTimeout) // the first target refuses the connection
	h.waitReg(t, RegRegistered, waitTimeout)
	u.regs[0].mu.Lock()
	got := u.regs[0].target
	u.regs[0].mu.Unlock()
	if !strings.HasSuffix(got, ":"+strconv.Itoa(livePort)) {
		t.Fatalf("registered at %s, want port %d", got, livePort)
	}
}
