package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// UA is the softphone's SIP user agent.
type UA struct {
	o     Options
	h     Handler
	log   *slog.Logger
	clock Clock

	sua    *sipgo.UserAgent
	client *sipgo.Client
	server *sipgo.Server

	ctx    context.Context // cancelled by Close: the stop signal of every goroutine
	cancel context.CancelFunc
	wg     sync.WaitGroup // joins every goroutine the UA owns
	lwg    sync.WaitGroup // joins the listeners' serve loops

	mu        sync.Mutex
	started   bool
	closed    bool
	listeners []closer
	listen    map[string]string // transport → actual host:port
	host      string            // advertised host for Contact/Via
	calls     map[string]*Call  // key: Call-ID "|" local tag
	regs      []*registration

	pendingServe []func()
	scr          screenState  // socket screening and admission (screen.go, admit.go)
	closing      atomic.Bool  // set first thing in Close: new requests are dropped
	lastRequest  atomic.Int64 // unix nanoseconds of the last request read
	// sessionExpires is Options.SessionExpires as set now (nanoseconds).
	sessionExpires atomic.Int64
}

// SetSessionExpires sets the session interval later INVITEs ask for (see
// Options.SessionExpires).
func (u *UA) SetSessionExpires(d time.Duration) {
	if d > 0 && d < minSE {
		d = minSE
	}
	u.sessionExpires.Store(int64(max(d, 0)))
}

// readFilter runs in sipgo's socket readers. Once Close has begun it drops
// requests (responses still complete our own hang-up transactions), so no
// late request makes the transport open a new socket while it shuts down.
// Everything else is screened first (screen.go, admit.go); a CRLF pong
// is noted before (outbound.go).
func (u *UA) readFilter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	u.notePong(props, data)
	switch strings.ToLower(props.Transport) {
	case "udp":
		return u.filterDatagram(props, data), nil
	case "ws", "wss":
		return u.filterWebSocket(props, data), nil
	}
	return u.filterStream(props, data)
}

type closer interface{ Close() error }

// New checks the options and builds a UA; Start makes it listen.
func New(o Options, h Handler) (*UA, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidOptions)
	}
	// Own copies: the caller's slices are not touched.
	o.Transports = append([]string(nil), o.Transports...)
	o.Accounts = append([]Account(nil), o.Accounts...)
	if len(o.Transports) == 0 {
		o.Transports = []string{"udp", "tcp"}
	}
	for i, t := range o.Transports {
		t = strings.ToLower(t)
		o.Transports[i] = t
		if t != "udp" && t != "tcp" && t != "tls" {
			return nil, fmt.Errorf("%w: transport %q", ErrInvalidOptions, t)
		}
		if t == "tls" && (o.TLSCertFile == "" || o.TLSKeyFile == "") {
			return nil, fmt.Errorf("%w: tls listening needs a certificate and key file", ErrInvalidOptions)
		}
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d", ErrInvalidOptions, o.Port)
	}
	if o.PortMax != 0 && (o.PortMax < o.Port || o.PortMax > 65535) {
		return nil, fmt.Errorf("%w: port range %d-%d", ErrInvalidOptions, o.Port, o.PortMax)
	}
	if err := checkAccounts(o.Accounts); err != nil {
		return nil, err
	}
	for _, a := range o.Accounts {
		if o.DSCP == 0 {
			o.DSCP = a.DSCP
		}
	}
	if o.DSCP < 0 || o.DSCP > 63 {
		return nil, fmt.Errorf("%w: dscp %d not in 0-63", ErrInvalidOptions, o.DSCP)
	}
	if o.UserAgent == "" {
		o.UserAgent = "softphone"
	}
	if o.HangupTimeout <= 0 {
		o.HangupTimeout = 5 * time.Second
	}
	if o.ReferTimeout <= 0 {
		o.ReferTimeout = DefaultReferTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := o.Clock
	if clock == nil {
		clock = realClock{}
	}
	accept := AcceptProxy
	if o.AcceptInvites != "" {
		p, err := ParseAcceptPolicy(o.AcceptInvites)
		if err != nil {
			return nil, err
		}
		accept = p
	}
	trusted, err := ParseTrustedHosts(strings.Join(o.TrustedHosts, ","))
	if err != nil {
		return nil, err
	}
	u := &UA{o: o, log: log, clock: clock, calls: map[string]*Call{}, listen: map[string]string{}}
	u.h = admitWatch{Handler: h, u: u}
	u.scr.accept, u.scr.trusted = accept, trusted
	u.SetSessionExpires(o.SessionExpires)
	return u, nil
}

// dscpControl marks a socket with IP_TOS = dscp<<2 (RFC 2474 §3).
func dscpControl(dscp int) func(network, address string, c syscall.RawConn) error {
	if dscp == 0 {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if strings.HasSuffix(network, "6") {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, dscp<<2)
				return
			}
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, dscp<<2)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// tlsClientConfig is the TLS client configuration of every account:
// the system's roots plus each account's ca_file. With no ca_file it
// leaves RootCAs nil, which verifies against the same system roots but
// loads them only at the first TLS handshake: parsed, they are about
// 1 MB of heap that a daemon with no TLS connection would hold for its
// whole life.
func (u *UA) tlsClientConfig() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, a := range u.o.Accounts {
		if a.CAFile == "" {
			continue
		}
		if conf.RootCAs == nil {
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			conf.RootCAs = pool
		}
		pool := conf.RootCAs
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sip: account %d ca file: %w", a.ID, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sip: account %d ca file %s: no certificates", a.ID, a.CAFile)
		}
	}
	return conf, nil
}

// checkAccounts validates accounts and normalises their protocol in place.
func checkAccounts(accts []Account) error {
	seen := map[int]bool{}
	for i, a := range accts {
		if seen[a.ID] {
			return fmt.Errorf("%w: duplicate account id %d", ErrInvalidOptions, a.ID)
		}
		seen[a.ID] = true
		p := strings.ToLower(a.Protocol)
		if p == "" {
			p = "udp"
		}
		if p != "udp" && p != "tcp" && p != "tls" && p != "ws" && p != "wss" {
			return fmt.Errorf("%w: account %d protocol %q", ErrInvalidOptions, a.ID, a.Protocol)
		}
		accts[i].Protocol = p
		if a.WSPath != "" && !strings.HasPrefix(a.WSPath, "/") {
			return fmt.Errorf("%w: account %d ws path %q does not start with /", ErrInvalidOptions, a.ID, a.WSPath)
		}
		if a.RegTimeout > 0 && (a.Server == "" || a.User == "") {
			return fmt.Errorf("%w: account %d registers but has no server or user", ErrInvalidOptions, a.ID)
		}
		if a.DSCP < 0 || a.DSCP > 63 {
			return fmt.Errorf("%w: account %d dscp %d not in 0-63", ErrInvalidOptions, a.ID, a.DSCP)
		}
	}
	return nil
}

// Start listens on the configured transports and starts the registrations.
func (u *UA) Start(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return ErrClosed
	}
	if u.started {
		u.mu.Unlock()
		return fmt.Errorf("sip: user agent already started")
	}
	u.started = true
	u.mu.Unlock()

	tlsConf, err := u.tlsClientConfig()
	if err != nil {
		return err
	}
	dialer := func(laddr net.Addr) net.Dialer {
		return net.Dialer{Timeout: 10 * time.Second, LocalAddr: laddr, Control: dscpControl(u.o.DSCP)}
	}
	tps := sip.TransportsConfig{
		TCP: &sip.TransportTCP{DialerCreate: dialer},
		TLS: &sip.TransportTLS{TransportTCP: &sip.TransportTCP{DialerCreate: dialer}},
		// SIP over WebSocket (RFC 7118) as a client: sipgo dials the URI
		// its DialURI hook gives for an address, which carries the
		// account's ws_path (websocket.go).
		WS:  &sip.TransportWS{DialURI: u.wsURI("ws")},
		WSS: &sip.TransportWSS{TransportWS: &sip.TransportWS{DialURI: u.wsURI("wss")}},
	}
	sipLog := u.log.With("layer", "sipgo")
	resolver := u.o.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	u.sua, err = sipgo.NewUA(
		sipgo.WithUserAgent(u.o.UserAgent),
		sipgo.WithUserAgenTLSConfig(tlsConf),
		sipgo.WithUserAgentDNSResolver(resolver),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog), sip.WithTransportLayerReadFilter(u.readFilter), sip.WithTransportLayerTransports(tps)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog)),
	)
	if err != nil {
		return fmt.Errorf("sip: user agent: %w", err)
	}
	u.ctx, u.cancel = context.WithCancel(context.Background())

	if err := u.listenAll(ctx); err != nil {
		u.shutdownTransport()
		return err
	}
	u.host = u.advertisedHost()
	u.client, err = sipgo.NewClient(u.sua, sipgo.WithClientHostname(u.host), sipgo.WithClientNAT(), sipgo.WithClientLogger(sipLog))
	if err != nil {
		u.shutdownTransport()
		return fmt.Errorf("sip: client: %w", err)
	}
	u.server, err = sipgo.NewServer(u.sua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		u.shutdownTransport()
		return fmt.Errorf("sip: server: %w", err)
	}
	u.routes()
	for _, l := range u.pendingServe {
		l()
	}
	u.pendingServe = nil
	if la, ok := u.listen["udp"]; ok {
		// Requests are sent from the UDP listener (see prepare); wait until
		// sipgo has it in its connection pool, or it would bind a second
		// socket to the same address.
		deadline := time.Now().Add(2 * time.Second)
		for {
			if c, err := u.sua.TransportLayer().GetConnection("udp", la); err == nil && c != nil {
				break
			}
			if time.Now().After(deadline) {
				u.shutdownTransport()
				return fmt.Errorf("sip: udp listener %s did not start", la)
			}
			time.Sleep(time.Millisecond)
		}
	}

	return u.StartRegistrations(ctx)
}
