package testbed

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// ErrKamailioNotReady means Kamailio did not answer an OPTIONS probe on its
// UDP port in time after it was started.
var ErrKamailioNotReady = errors.New("testbed: kamailio not ready")

// KamailioOptions describes the registrar/proxy a test wants.
type KamailioOptions struct {
	// Auth turns digest authentication on (RFC 3261 §22): REGISTER is
	// challenged with 401 and initial requests whose From user is one of
	// Users with 407. Requests from other users (sipp's "sipp") are relayed
	// without a challenge.
	Auth bool
	// Users maps user name to password. With Auth set and Users nil,
	// DefaultUsers is used. Names and passwords must be plain tokens.
	Users map[string]string
	// TLS adds a TLS listener on Port()+1 with a certificate for 127.0.0.1
	// and localhost signed by a fresh CA (see CAFile).
	TLS bool
	// NAT adds the NAT handling most deployments have (nathelper, as in
	// Kamailio's default configuration): a REGISTER whose source differs
	// from its Via (nat_uac_test 18) is saved with the source as received
	// address (fix_nated_register) and marked NATed, so requests for the
	// binding go to where the REGISTER came from, over its connection on
	// TCP/TLS; other first-hop requests from such a UA get their Contact
	// rewritten to the source (fix_nated_contact), and so do the replies of
	// a NATed binding, so that in-dialog requests find the way back too.
	NAT bool
	// Outbound makes the registrar an RFC 5626 one (the outbound module,
	// registrar outbound_mode 1): a REGISTER with +sip.instance and reg-id
	// over a connection gets Require: outbound and Flow-Timer in the 200,
	// and requests for the binding go over that flow.
	Outbound bool
	// FlowTimer is the Flow-Timer in seconds with Outbound (default 30).
	FlowTimer int
	// WS adds SIP over WebSocket (RFC 7118: the xhttp and websocket
	// modules) on WSPort(), and with TLS secure WebSocket on WSSPort().
	// A client over a WebSocket cannot be reached any other way, so, as
	// in the websocket module's own example, its REGISTER is saved with
	// the connection as received address (fix_nated_register) and the
	// Contacts of its other requests and of its replies get the
	// connection as an alias (add_contact_alias), which in-dialog
	// requests are routed back by (handle_ruri_alias).
	WS bool
	// RTPEngine is the ng address of an rtpengine (StartRtpengine) that
	// becomes the WebRTC media gateway of WebRTCUser: every offer and
	// answer to or from that user is turned by rtpengine into WebRTC
	// media (ICE, DTLS-SRTP passive, UDP/TLS/RTP/SAVPF, rtcp-mux, a=mid)
	// on that user's side and into plain RTP/AVP on the other.
	RTPEngine  string
	WebRTCUser string
	// Debug is Kamailio's log level (default 2: notices, warnings, errors
	// and one line per request routed).
	Debug int
}

// DefaultUsers returns the credentials used when Auth is on and no Users
// are given: alice/alicepw, bob/bobpw, carol/carolpw.
func DefaultUsers() map[string]string {
	return map[string]string{"alice": "alicepw", "bob": "bobpw", "carol": "carolpw"}
}

// Kamailio is a running Kamailio registrar and stateful proxy on 127.0.0.1.
//
// Routing (see the generated kamailio.cfg in Dir):
//   - REGISTER to the local domain is saved in memory (usrloc, no DB); a
//     user may hold several contacts and an INVITE forks to all of them.
//   - Requests for the local domain are looked up in the location table:
//     the domain is 127.0.0.1:Port (or TLS port), and 127.0.0.1 or
//     localhost without a port.
//   - Requests for any other host:port (a UA by IP, not registered) are
//     relayed as they are.
//   - INVITE, SUBSCRIBE and REFER are Record-Routed (RFC 3261 §16.6 step 4)
//     and in-dialog requests follow the Route set (loose_route).
type Kamailio struct {
	opts    KamailioOptions
	users   map[string]string
	dir     string
	runDir  string
	cfg     string
	port    int
	caFile  string
	proc    *Process
	oldLogs strings.Builder
}

// StartKamailio writes a configuration for opts into a folder of its own,
// starts Kamailio on a free port and waits until it answers OPTIONS. It is
// stopped at cleanup.
func StartKamailio(t TB, opts KamailioOptions) *Kamailio {
	t.Helper()
	k := &Kamailio{opts: opts, dir: Dir(t, "kamailio"), port: FreePort(t, 4)}
	if k.opts.Debug == 0 {
		k.opts.Debug = 2
	}
	k.users = opts.Users
	if opts.Auth && k.users == nil {
		k.users = DefaultUsers()
	}
	for u, p := range k.users {
		if !plainToken(u) || !plainToken(p) {
			t.Fatalf("kamailio: user %q / password %q must be plain tokens", u, p)
		}
	}
	// The ctl socket path must stay short (sun_path is 108 bytes), so it
	// lives under a short temp folder rather than the test's temp dir.
	run, err := os.MkdirTemp("", "kam-")
	if err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	k.runDir = run
	t.Cleanup(func() { os.RemoveAll(run) })
	if opts.TLS {
		if err := k.writeTLS(); err != nil {
			t.Fatalf("kamailio: %v", err)
		}
	}
	k.cfg = filepath.Join(k.dir, "kamailio.cfg")
	if err := os.WriteFile(k.cfg, []byte(k.config()), 0o644); err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	k.start(t)
	t.Cleanup(k.Stop)
	return k
}

// Addr is the UDP/TCP address, "127.0.0.1:port".
func (k *Kamailio) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port)) }

// Port is the UDP and TCP port.
func (k *Kamailio) Port() int { return k.port }

// TLSAddr is the TLS address, "127.0.0.1:port+1" (only with TLS).
func (k *Kamailio) TLSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.port+1)) }

// TLSPort is the TLS port, Port()+1 (only with TLS).
func (k *Kamailio) TLSPort() int { return k.port + 1 }

// WSPort is the SIP over WebSocket port (with WS), WSSPort the secure
// WebSocket one (with WS and TLS).
func (k *Kamailio) WSPort() int  { return k.port + 2 }
func (k *Kamailio) WSSPort() int { return k.port + 3 }

// WSAddr is the WebSocket address, "127.0.0.1:port".
func (k *Kamailio) WSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.WSPort())) }

// WSSAddr is the secure WebSocket address, "127.0.0.1:port".
func (k *Kamailio) WSSAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(k.WSSPort())) }

// CAFile is the PEM file of the CA that signed the TLS server certificate
// (only with TLS).
func (k *Kamailio) CAFile() string { return k.caFile }

// Dir is the folder holding kamailio.cfg, the certificates and the log.
func (k *Kamailio) Dir() string { return k.dir }

// Users returns the credentials Kamailio accepts (nil without Auth).
func (k *Kamailio) Users() map[string]string { return k.users }

// Log returns everything Kamailio printed, across restarts.
func (k *Kamailio) Log() string {
	if k.proc == nil {
		return k.oldLogs.String()
	}
	return k.oldLogs.String() + k.proc.Log()
}

// Stop stops Kamailio and waits for it to exit and for its ports to be
// released (its child processes close them a moment after the main one
// exits). It is idempotent.
func (k *Kamailio) Stop() {
	if k.proc == nil {
		return
	}
	k.proc.Stop()
	WaitFor(5*time.Second, func() bool {
		return !portBound("udp", k.port) && !portBound("tcp", k.port) && (!k.opts.TLS || !portBound("tcp", k.port+1))
	})
}

// Restart stops Kamailio and starts it again on the same ports: every
// registration is lost (usrloc is memory only).
func (k *Kamailio) Restart(t TB) {
	t.Helper()
	k.Stop()
	k.oldLogs.WriteString(k.proc.Log())
	k.oldLogs.WriteString("---- restart ----\n")
	k.start(t)
}

// start runs Kamailio and waits until it is ready. A port taken in the
// meantime by another program's ephemeral socket is retried a few times,
// after a short wait for it to be released.
func (k *Kamailio) start(t TB) {
	t.Helper()
	for try := 1; ; try++ {
		k.proc = Start(t, k.dir, nil, "kamailio",
			"-f", k.cfg, "-DD", "-E", "-Y", k.runDir, "-P", filepath.Join(k.runDir, "kamailio.pid"),
			"-m", "32", "-M", "8")
		err := k.waitReady(10 * time.Second)
		if err == nil {
			return
		}
		k.proc.Stop()
		if try < 5 && strings.Contains(k.proc.Log(), "Address already in use") {
			k.oldLogs.WriteString(k.proc.Log())
			k.oldLogs.WriteString("---- port busy, start again ----\n")
			WaitFor(2*time.Second, func() bool { return !portBound("udp", k.port) && !portBound("tcp", k.port) })
			continue
		}
		t.Fatalf("%v\n%s", err, k.proc.Log())
	}
}

// waitReady sends OPTIONS to the UDP port until the 200 answer comes, then
// checks the TCP (and TLS) listeners accept connections.
func (k *Kamailio) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-k.proc.Done():
			return fmt.Errorf("%w: exited: %v", ErrKamailioNotReady, k.proc.Err())
		default:
		}
		if code, err := OptionsPing(k.Addr(), 200*time.Millisecond); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: no 200 to OPTIONS on %s within %s", ErrKamailioNotReady, k.Addr(), timeout)
		}
	}
	addrs := []string{k.Addr()}
	if k.opts.TLS {
		addrs = append(addrs, k.TLSAddr())
	}
	for _, a := range addrs {
		ok := WaitFor(time.Until(deadline), func() bool {
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err != nil {
				return false
			}
			c.Close()
			return true
		})
		if !ok {
			return fmt.Errorf("%w: tcp %s not accepting", ErrKamailioNotReady, a)
		}
	}
	return nil
}

// Contacts returns the contact URIs registered for user, sorted; empty
// when the user has no binding. It asks Kamailio over its ctl socket
// (kamcmd ul.lookup).
func (k *Kamailio) Contacts(t TB, user string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := Run(ctx, k.dir, nil, "kamcmd", "-s", "unix:"+k.ctlSocket(), "ul.lookup", "location", user)
	if strings.Contains(out, "AOR not found") {
		return nil
	}
	if err != nil || strings.HasPrefix(strings.TrimSpace(out), "error") {
		t.Fatalf("kamailio: contacts of %s: %v %s", user, err, out)
	}
	return parseULContacts(out)
}

// Binding is one contact of a user in Kamailio's location table.
type Binding struct {
	Address  string // the Contact URI
	Received string // the source the REGISTER came from, when saved (NAT, outbound)
	Instance string // +sip.instance (RFC 5626 §4.1), "" if none
	RegID    string // reg-id (RFC 5626 §4.2), "" or "0" if none
}

// Bindings returns the contacts registered for user with their RFC 5626
// and NAT fields (kamcmd ul.lookup), in the order Kamailio lists them.
func (k *Kamailio) Bindings(t TB, user string) []Binding {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := Run(ctx, k.dir, nil, "kamcmd", "-s", "unix:"+k.ctlSocket(), "ul.lookup", "location", user)
	if strings.Contains(out, "AOR not found") {
		return nil
	}
	if err != nil || strings.HasPrefix(strings.TrimSpace(out), "error") {
		t.Fatalf("kamailio: bindings of %s: %v %s", user, err, out)
	}
	var bs []Binding
	for _, l := range strings.Split(out, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if name == "Address" {
			bs = append(bs, Binding{Address: v})
			continue
		}
		if len(bs) == 0 {
			continue
		}
		b := &bs[len(bs)-1]
		switch name {
		case "Received":
			if v != "[not set]" {
				b.Received = v
			}
		case "Instance":
			if v != "[not set]" {
				b.Instance = v
			}
		case "Reg-Id":
			b.RegID = v
		}
	}
	return bs
}

// parseULContacts picks the "Address:" fields out of kamcmd's ul.lookup
// or ul.dump output.
func parseULContacts(out string) []string {
	var cs []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "Address:"); ok {
			cs = append(cs, strings.TrimSpace(v))
		}
	}
	sort.Strings(cs)
	return cs
}

// WaitContacts waits until user has exactly n contacts registered and
// returns them.
func (k *Kamailio) WaitContacts(t TB, user string, n int, timeout time.Duration) []string {
	t.Helper()
	var cs []string
	if !WaitFor(timeout, func() bool { cs = k.Contacts(t, user); return len(cs) == n }) {
		t.Fatalf("kamailio: %s has contacts %q, want %d within %s", user, cs, n, timeout)
	}
	return cs
}

func (k *Kamailio) ctlSocket() string { return filepath.Join(k.runDir, "ctl") }

func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.!~*+", r)) {
			return false
		}
	}
	return true
}

// OptionsPing sends one out-of-dialog OPTIONS over UDP to addr and returns
// the status code of the first answer (RFC 3261 §11).
func OptionsPing(addr string, timeout time.Duration) (int, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	local := c.LocalAddr().String()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + tag + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:probe@" + local + ">;tag=" + tag + "\r\n" +
		"To: <sip:" + addr + ">\r\n" +
		"Call-ID: probe-" + tag + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		return 0, err
	}
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, err
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(buf[:n]))
		if len(f) < 2 || f[0] != "SIP/2.0" {
			continue
		}
		code, err := strconv.Atoi(f[1])
		if err != nil {
			return 0, fmt.Errorf("testbed: bad status line from %s: %w", addr, err)
		}
		if code >= 200 {
			return code, nil
		}
	}
}

// writeTLS makes a CA and a server certificate for 127.0.0.1/localhost.
func (k *Kamailio) writeTLS() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "softphone testbed CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return err
	}
	k.caFile = filepath.Join(k.dir, "ca.pem")
	files := []struct {
		name, typ string
		der       []byte
	}{
		{"ca.pem", "CERTIFICATE", caDER},
		{"server.pem", "CERTIFICATE", srvDER},
		{"server.key", "PRIVATE KEY", keyDER},
	}
	for _, f := range files {
		b := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := os.WriteFile(filepath.Join(k.dir, f.name), b, 0o600); err != nil {
			return err
		}
	}
	tlsCfg := "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n" +
		"private_key = " + filepath.Join(k.dir, "server.key") + "\n" +
		"certificate = " + filepath.Join(k.dir, "server.pem") + "\n" +
		"ca_list = " + k.caFile + "\n\n" +
		"[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n"
	return os.WriteFile(filepath.Join(k.dir, "tls.cfg"), []byte(tlsCfg), 0o644)
}

type kamailioCfg struct {
	Port, TLSPort, Debug int
	WSPort, WSSPort      int
	TLS, Auth, WS        bool
	RTPEngine, WebRTC    string
	NAT, Outbound        bool
	FlowTimer            int
	Ctl, TLSCfg          string
	Users                [][2]string
}

func (k *Kamailio) config() string {
	if k.opts.FlowTimer == 0 {
		k.opts.FlowTimer = 30
	}
	c := kamailioCfg{
		Port: k.port, TLSPort: k.port + 1, Debug: k.opts.Debug, TLS: k.opts.TLS, Auth: k.opts.Auth,
		WS: k.opts.WS, WSPort: k.WSPort(), WSSPort: k.WSSPort(), RTPEngine: k.opts.RTPEngine, WebRTC: k.opts.WebRTCUser,
		NAT: k.opts.NAT, Outbound: k.opts.Outbound, FlowTimer: k.opts.FlowTimer,
		Ctl: k.ctlSocket(), TLSCfg: filepath.Join(k.dir, "tls.cfg"),
	}
	for u, p := range k.users {
		c.Users = append(c.Users, [2]string{u, p})
	}
	sort.Slice(c.Users, func(i, j int) bool { return c.Users[i][0] < c.Users[j][0] })
	var b strings.Builder
	if err := kamailioTmpl.Execute(&b, c); err != nil {
		panic("testbed: kamailio template: " + err.Error()) // the template is a constant
	}
	return b.String()
}

// Note for readers of the template: in Kamailio's cfg a "# comment" on the
// same line as a closing brace swallows the brace, so comments stand on
// lines of their own.
var kamailioTmpl = template.Must(template.New("kamailio.cfg").Parse(`#!KAMAILIO
# Generated by internal/testbed: registrar + stateful proxy, memory only.

debug={{.Debug}}
log_stderror=yes
log_prefix="{$mt $hdr(CSeq) $ci} "
children=2
tcp_children=2
listen=udp:127.0.0.1:{{.Port}}
listen=tcp:127.0.0.1:{{.Port}}
{{- if .TLS}}
enable_tls=yes
listen=tls:127.0.0.1:{{.TLSPort}}
{{- end}}
{{- if .WS}}
listen=tcp:127.0.0.1:{{.WSPort}}
{{- if .TLS}}
listen=tls:127.0.0.1:{{.WSSPort}}
{{- end}}
{{- end}}
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
tcp_connection_lifetime=3605
tcp_accept_no_cl=yes
server_header="Server: testbed-kamailio"
user_agent_header="User-Agent: testbed-kamailio"

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
{{- if .TLS}}
loadmodule "tls.so"
modparam("tls", "config", "{{.TLSCfg}}")
{{- end}}
{{- if or .NAT .WS}}
loadmodule "nathelper.so"
modparam("nathelper|registrar", "received_avp", "$avp(RECEIVED)")
{{- end}}
{{- if .NAT}}
# branch flag 6 marks a NATed binding (saved with it, restored by lookup)
modparam("usrloc", "nat_bflag", 6)
{{- end}}
{{- if .WS}}
loadmodule "xhttp.so"
loadmodule "websocket.so"
{{- end}}
{{- if .RTPEngine}}
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:{{.RTPEngine}}")
modparam("rtpengine", "rtpengine_tout_ms", 2000)
{{- end}}
{{- if .Outbound}}
loadmodule "outbound.so"
modparam("registrar", "outbound_mode", 1)
modparam("registrar", "flow_timer", {{.FlowTimer}})
{{- end}}
{{- if .Auth}}
loadmodule "auth.so"
loadmodule "htable.so"
modparam("htable", "htable", "users=>size=4;")
modparam("auth", "nonce_expire", 300)
{{- end}}

modparam("ctl", "binrpc", "unix:{{.Ctl}}")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "default_expires", 300)
modparam("registrar", "min_expires", 5)
modparam("registrar", "max_expires", 3600)
modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 0)
modparam("tm", "fr_timer", 5000)
modparam("tm", "fr_inv_timer", 60000)

request_route {
{{- if .WS}}
	# the WebSocket ports are for RFC 7118 only
	if (($Rp == {{.WSPort}} || $Rp == {{.WSSPort}}) && !(proto == WS || proto == WSS)) {
		sl_send_reply("403", "Forbidden");
		exit;
	}
{{- end}}
	route(REQINIT);
	route(WSNAT);
	route(NATDETECT);
	xlog("L_NOTICE", "route $rm $ru from $si:$sp/$pr\n");

	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(MEDIA);
			route(RELAY);
		}
		exit;
	}
	if (!is_method("ACK")) {
		if (t_precheck_trans()) {
			t_check_trans();
			exit;
		}
		t_check_trans();
	}

	route(WITHINDLG);

	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE|REFER")) {
		record_route();
	}

	route(AUTH);
	route(REGISTRAR);

	route(ISLOCAL);
	if ($var(local) == 0) {
		route(MEDIA);
		route(RELAY);
	}
	if ($rU == $null) {
		sl_send_reply("484", "Address Incomplete");
		exit;
	}
	route(LOCATION);
}

# $var(local) = 1 when the R-URI names this proxy: its own address, or
# 127.0.0.1 / localhost without a port. Any other host:port is a UA by IP.
route[ISLOCAL] {
	$var(local) = 0;
	if (uri == myself) {
		$var(local) = 1;
	} else if (($rd == "127.0.0.1" || $rd == "localhost") && $(ru{uri.port}) == "") {
		$var(local) = 1;
	}
}

# Requests over a WebSocket go back over the connection they came on.
route[WSNAT] {
{{- if .WS}}
	if (!(proto == WS || proto == WSS)) {
		return;
	}
	force_rport();
	if (is_method("REGISTER")) {
		fix_nated_register();
	} else if (!add_contact_alias()) {
		sl_send_reply("400", "Bad Request");
		exit;
	}
{{- end}}
	return;
}

# NAT detection as in Kamailio's default configuration (only with NAT).
route[NATDETECT] {
{{- if .NAT}}
	force_rport();
	if (nat_uac_test("18")) {
		if (is_method("REGISTER")) {
			fix_nated_register();
		} else if (is_first_hop()) {
			fix_nated_contact();
		}
		setbflag(6);
	}
{{- end}}
	return;
}

route[RELAY] {
{{- if .NAT}}
	t_on_reply("NATREPLY");
{{- end}}
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

route[REQINIT] {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		sl_send_reply("200", "Keepalive");
		exit;
	}
	if (!sanity_check("17895", "7")) {
		xlog("L_WARN", "malformed request from $si:$sp\n");
		exit;
	}
}

# RFC 3261 §16.12: in-dialog requests follow the Route set built from
# Record-Route.
route[WITHINDLG] {
	if (!has_totag()) {
		return;
	}
	if (loose_route()) {
{{- if .WS}}
		if ($du == "") {
			if (!handle_ruri_alias()) {
				sl_send_reply("400", "Bad Request");
				exit;
			}
		}
{{- end}}
		route(MEDIA);
		route(RELAY);
		exit;
	}
	if (is_method("ACK")) {
		if (t_check_trans()) {
			route(MEDIA);
			route(RELAY);
		}
		exit;
	}
	route(ISLOCAL);
	if ($var(local) == 0) {
		route(RELAY);
	}
	sl_send_reply("404", "Not here");
	exit;
}

route[AUTH] {
{{- if .Auth}}
	# RFC 3261 §22.1/§22.3: REGISTER gets 401 + WWW-Authenticate, initial
	# requests from our users get 407 + Proxy-Authenticate.
	if (is_method("REGISTER")) {
		$var(pw) = $sht(users=>$au);
		if ($var(pw) == $null) {
			$var(pw) = "no-such-user-" + $ru;
		}
		if (!pv_www_authenticate("$td", "$var(pw)", "0")) {
			www_challenge("$td", "0");
			exit;
		}
		if ($au != $tU) {
			sl_send_reply("403", "Forbidden auth ID");
			exit;
		}
		consume_credentials();
		return;
	}
	if (is_method("ACK|CANCEL|PRACK")) {
		return;
	}
	if ($sht(users=>$fU) != $null) {
		$var(pw) = $sht(users=>$au);
		if ($var(pw) == $null) {
			$var(pw) = "no-such-user-" + $ru;
		}
		if (!pv_proxy_authenticate("$fd", "$var(pw)", "0")) {
			proxy_challenge("$fd", "0");
			exit;
		}
		if ($au != $fU) {
			sl_send_reply("403", "Forbidden auth ID");
			exit;
		}
		consume_credentials();
	}
{{- end}}
	return;
}

route[REGISTRAR] {
	if (!is_method("REGISTER")) {
		return;
	}
	if (!save("location")) {
		sl_reply_error();
	}
	exit;
}

route[LOCATION] {
	if (!lookup("location")) {
		$var(rc) = $rc;
		t_newtran();
		switch ($var(rc)) {
			case -1:
			case -3:
				send_reply("404", "Not Found");
				exit;
			case -2:
				send_reply("405", "Method Not Allowed");
				exit;
		}
	}
	route(MEDIA);
	route(RELAY);
}

# The WebRTC media gateway (with RTPEngine): From/To name the sender and
# the receiver of a request, in and out of dialog.
route[MEDIA] {
{{- if .RTPEngine}}
	if (is_method("BYE|CANCEL")) {
		rtpengine_delete();
		return;
	}
	if (!is_method("INVITE|UPDATE|ACK")) {
		return;
	}
	if (is_method("INVITE")) {
		t_on_reply("MEDIA_REPLY");
		t_on_failure("MEDIA_FAILED");
	}
	if (!has_body("application/sdp")) {
		return;
	}
	if ($fU == "{{.WebRTC}}") {
		if (is_method("ACK")) {
			rtpengine_answer("ICE=remove DTLS=off RTP/AVP rtcp-mux-demux");
		} else {
			rtpengine_offer("ICE=remove DTLS=off RTP/AVP rtcp-mux-demux");
		}
	} else if ($tU == "{{.WebRTC}}") {
		if (is_method("ACK")) {
			rtpengine_answer("ICE=force DTLS=passive UDP/TLS/RTP/SAVPF SDES-off rtcp-mux-offer generate-mid");
		} else {
			rtpengine_offer("ICE=force DTLS=passive UDP/TLS/RTP/SAVPF SDES-off rtcp-mux-offer generate-mid");
		}
	}
{{- end}}
	return;
}
{{- if .RTPEngine}}

onreply_route[MEDIA_REPLY] {
	if (!has_body("application/sdp")) {
		return;
	}
	if ($fU == "{{.WebRTC}}") {
		rtpengine_answer("ICE=force DTLS=passive UDP/TLS/RTP/SAVPF SDES-off rtcp-mux-offer generate-mid");
	} else if ($tU == "{{.WebRTC}}") {
		rtpengine_answer("ICE=remove DTLS=off RTP/AVP rtcp-mux-demux");
	}
}

failure_route[MEDIA_FAILED] {
	rtpengine_delete();
}
{{- end}}
{{- if .NAT}}

onreply_route[NATREPLY] {
	if (isbflagset(6) || nat_uac_test("1")) {
		fix_nated_contact();
	}
}
{{- end}}
{{- if .WS}}

onreply_route {
	if (($Rp == {{.WSPort}} || $Rp == {{.WSSPort}}) && !(proto == WS || proto == WSS)) {
		drop;
	}
	if ($rs >= 300 && $hdr(Warning) != $null) {
		xlog("L_NOTICE", "reply $rs $rm from $si:$sp/$pr warning: $hdr(Warning)\n");
	}
	if (nat_uac_test("64")) {
		add_contact_alias();
	}
}

event_route[xhttp:request] {
	set_reply_close();
	set_reply_no_connect();
	if ($Rp != {{.WSPort}} && $Rp != {{.WSSPort}}) {
		xhttp_reply("403", "Forbidden", "", "");
		exit;
	}
	if ($hdr(Upgrade) =~ "websocket" && $hdr(Connection) =~ "Upgrade" && $rm =~ "GET") {
		xlog("L_NOTICE", "WS-UPGRADE from $si:$sp path $hu\n");
		if (ws_handle_handshake()) {
			exit;
		}
	}
	xhttp_reply("404", "Not Found", "", "");
}

event_route[websocket:closed] {
	xlog("L_NOTICE", "WS-CLOSED $si:$sp\n");
}
{{- end}}
{{- if .Auth}}

event_route[htable:mod-init] {
{{- range .Users}}
	$sht(users=>{{index . 0}}) = "{{index . 1}}";
{{- end}}
}
{{- end}}
`))
