package sip

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/media"
)

// Action is what the Handler decides for an incoming call.
type Action int

// Actions.
const (
	ActionUnknown Action = iota
	ActionRing
	ActionAnswer
	ActionReject
)

var actionNames = []string{"unknown", "ring", "answer", "reject"}

// String returns the action's name.
func (a Action) String() string { return enumName(actionNames, int(a)) }

// ParseAction parses an action name.
func ParseAction(s string) (Action, error) {
	i, err := enumParse(actionNames, s, "action")
	return Action(i), err
}

// CallState is the state of a call as the Handler sees it.
type CallState int

// Call states.
const (
	CallStateUnknown CallState = iota
	CallStateRinging           // incoming, not answered yet
	CallStateCalling           // outgoing, no provisional response yet
	CallStateEarly             // outgoing, 18x received
	CallStateActive
	CallStateHeld
	CallStateEnded
)

var callStateNames = []string{"unknown", "ringing", "calling", "early", "active", "held", "ended"}

// String returns the state's name.
func (s CallState) String() string { return enumName(callStateNames, int(s)) }

// ParseCallState parses a call state name.
func ParseCallState(s string) (CallState, error) {
	i, err := enumParse(callStateNames, s, "call state")
	return CallState(i), err
}

// RegState is the state of one account's registration.
type RegState int

// Registration states.
const (
	RegUnknown RegState = iota
	RegUnregistered
	RegRegistering
	RegRegistered
	RegFailed
	RegStandalone
)

var regStateNames = []string{"unknown", "unregistered", "registering", "registered", "failed", "standalone"}

// String returns the state's name.
func (s RegState) String() string { return enumName(regStateNames, int(s)) }

// ParseRegState parses a registration state name.
func ParseRegState(s string) (RegState, error) {
	i, err := enumParse(regStateNames, s, "registration state")
	return RegState(i), err
}

// RemoteEvent is a remote-control request received in a NOTIFY.
type RemoteEvent int

// Remote events (the Event header of an in-dialog NOTIFY).
const (
	RemoteUnknown RemoteEvent = iota
	RemoteTalk
	RemoteHold
)

var remoteEventNames = []string{"unknown", "talk", "hold"}

// String returns the event package name.
func (e RemoteEvent) String() string { return enumName(remoteEventNames, int(e)) }

// ParseRemoteEvent parses an Event header value ("talk", "hold").
func ParseRemoteEvent(s string) (RemoteEvent, error) {
	i, err := enumParse(remoteEventNames, s, "remote event")
	return RemoteEvent(i), err
}

// CallDirection says who placed the call.
type CallDirection int

// Call directions.
const (
	CallDirectionUnknown CallDirection = iota
	Incoming
	Outgoing
)

var callDirectionNames = []string{"unknown", "incoming", "outgoing"}

// String returns the direction's name.
func (d CallDirection) String() string { return enumName(callDirectionNames, int(d)) }

func enumName(names []string, i int) string {
	if i < 0 || i >= len(names) {
		return names[0]
	}
	return names[i]
}

func enumParse(names []string, s, what string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range names {
		if i > 0 && n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("sip: unknown %s %q", what, s)
}

// Media produces and consumes the SDP of one call. The phone layer wires the
// media engine to it.
type Media interface {
	// Offer returns an SDP offer with the given direction attribute.
	Offer(dir media.Direction) ([]byte, error)
	// Answer returns the SDP answer to a remote offer; an error wrapping
	// ErrNotAcceptable makes the UA answer 488.
	Answer(offer []byte) ([]byte, error)
	// SetAnswer applies the remote answer to our last offer.
	SetAnswer(answer []byte) error
	// Close frees the media resources; the UA calls it once when the call ends.
	Close() error
}

// Decision is the Handler's verdict on an incoming call.
type Decision struct {
	Action Action
	Code   int    // for ActionReject: 400-699
	Reason string // for ActionReject: the human-readable reason
	Media  Media  // for ActionAnswer and ActionRing
}

// Handler receives the UA's events. Calls come from the UA's goroutines; a
// Handler must not block for long in them, except IncomingCall which is
// waited for.
type Handler interface {
	IncomingCall(c *Call) Decision
	CallState(c *Call, st CallState, reason string)
	RegistrationChanged(r Registration)
	RemoteControl(c *Call, ev RemoteEvent)
	DTMF(c *Call, digit string)
	// TransferRequested is called for a REFER accepted in the call's
	// dialog (RFC 3515): the Handler places the call to target and reports
	// its progress with c.ReferProgress (a final status once it is known);
	// the UA has already answered 202 and sent NOTIFY "100 Trying".
	TransferRequested(c *Call, target string)
}

// Registration is a snapshot of one account's registration.
type Registration struct {
	Account  int
	User     string
	Server   string
	Protocol string
	State    RegState
	Detail   string    // e.g. "200 OK", "403 Forbidden", a transport error
	Expires  time.Time // when the binding runs out (zero unless registered)
}

// Options configure a UA.
type Options struct {
	Host string // listen address; "" = all interfaces
	Port int    // listen port; 0 = ephemeral
	// PortMax, above Port, lets the UA move up to the first number where
	// every transport is free (Port+1 for TLS stays beside it).
	PortMax     int
	Transports  []string // of "udp", "tcp", "tls"; default udp+tcp
	TLSCertFile string   // certificate for listening on TLS
	TLSKeyFile  string
	// PublicAddress is the host[:port] for Contact/Via when set. When it
	// is empty, a UDP registration whose registrar reports another address
	// in the Via's received/rport (RFC 3581 §4) re-registers with a Contact
	// built from it (see nat.go).
	PublicAddress string
	UserAgent     string
	Accounts      []Account
	Logger        *slog.Logger
	Trace         bool // log every SIP message (credentials masked)
	// DSCP marks the SIP sockets (IP_TOS = DSCP<<2) when non-zero; it is
	// also taken from the first account that sets one.
	DSCP int
	// HangupTimeout bounds the BYE/CANCEL/un-REGISTER work in Close when
	// its context has no deadline; 0 = 5 s.
	HangupTimeout time.Duration
	// ReferTimeout bounds the implicit subscription of a received REFER
	// (RFC 3515 §2.4.4): when the Handler has reported no final status of
	// the new call by then, a final NOTIFY "408 Request Timeout" ends the
	// subscription so it never dangles. 0 = DefaultReferTimeout.
	ReferTimeout time.Duration
	// SessionExpires is the session interval our INVITEs ask for (RFC
	// 4028 §7.1: Session-Expires, with Min-SE 90); 0 = ask for none (a
	// peer's request is still honoured). Values below 90 s are raised to
	// 90 s. UA.SetSessionExpires changes it for later calls.
	SessionExpires time.Duration
	// InstanceID is the +sip.instance of TCP/TLS registrations (RFC 5626
	// §4.1), "urn:uuid:…"; "" = derived from the machine id and the OS
	// user (see outbound.go).
	InstanceID string
	// Resolver is used for SRV and host lookups; nil = net.DefaultResolver.
	Resolver *net.Resolver
	// Clock is injected for tests; nil = the real clock.
	Clock Clock
	// AcceptInvites says who may send out-of-dialog requests: "proxy"
	// (also "") or "any" (see admit.go).
	AcceptInvites string
	// TrustedHosts are host names, addresses or CIDRs admitted besides
	// the registered accounts' servers.
	TrustedHosts []string
}

// Account is one SIP identity to register and dial from.
type Account struct {
	ID          int
	User        string
	Password    string
	AuthUser    string // digest user name; "" = User
	Domain      string // AoR domain; "" = Server's host
	DisplayName string
	// Server is host[:port]; SRV is looked up (RFC 3263 §4.2) when it has
	// no port and the host is a name.
	Server        string
	Protocol      string        // udp|tcp|tls|ws|wss; "" = udp
	WSPath        string        // ws/wss: the HTTP path of the WebSocket upgrade; "" = "/"
	RegTimeout    time.Duration // requested binding lifetime; 0 = no REGISTER
	OutboundProxy string        // host[:port]; every request is routed through it
	BackupServer  string        // host[:port]; tried when Server fails
	CAFile        string        // PEM bundle trusted for TLS (in addition to the system roots)
	KeepAlive     time.Duration // 0 = 30 s (CRLF on TCP/TLS, OPTIONS on UDP; WS/WSS: see pingFlow)
	DSCP          int           // 0 = unmarked
}

// Clock gives the time and timers; tests may replace it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
