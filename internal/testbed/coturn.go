package testbed

import (
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// Coturn is a running TURN server (Debian's coturn) on 127.0.0.1 with one
// long-term user, relaying on loopback: a WebRTC client with
// ice_policy = relay sends its media through it.
type Coturn struct {
	proc     *Process
	port     int
	relay    int // the first relay port; the range is relay..relay+99
	user     string
	password string
}

// StartCoturn starts turnserver in the foreground on a run-time port
// (UDP and TCP, no TLS), relay ports from a run-time range, and waits
// until it listens. It is stopped at cleanup.
func StartCoturn(t TB) *Coturn {
	t.Helper()
	Require(t, "turnserver")
	port := FreePort(t, 1)
	relay := FreePort(t, 100)
	dir := Dir(t, "coturn")
	c := &Coturn{port: port, relay: relay, user: "agent", password: "turnpw"}
	c.proc = Start(t, dir, nil, "turnserver",
		"--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port="+strconv.Itoa(port),
		"--min-port="+strconv.Itoa(relay), "--max-port="+strconv.Itoa(relay+99),
		"--lt-cred-mech", "--user="+c.user+":"+c.password, "--realm=softphone.test",
		"--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--no-multicast-peers",
		"--userdb="+filepath.Join(dir, "turndb"), "--pidfile="+filepath.Join(dir, "turnserver.pid"))
	if !WaitFor(10*time.Second, func() bool {
		select {
		case <-c.proc.Done():
			return true
		default:
		}
		return portBound("udp", port)
	}) {
		t.Fatalf("coturn: port %d not bound\n%s", port, c.proc.Log())
	}
	select {
	case <-c.proc.Done():
		t.Fatalf("coturn exited at start: %v\n%s", c.proc.Err(), c.proc.Log())
	default:
	}
	return c
}

// Addr is the TURN server's address, "127.0.0.1:port".
func (c *Coturn) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Credentials are the long-term user and password.
func (c *Coturn) Credentials() (user, password string) { return c.user, c.password }

// Log is what turnserver wrote so far.
func (c *Coturn) Log() string { return c.proc.Log() }

// RelayPorts is the range of ports the server relays from: a relay
// candidate on one of them is an allocation this server granted.
func (c *Coturn) RelayPorts() (first, last int) { return c.relay, c.relay + 99 }
