package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration.
type Config struct {
	// File is the path the configuration was read from; "" for built-in
	// defaults.
	File string

	Device      Device         // [policy.device]
	Session     Session        // [policy.session]
	Endpoint    Endpoint       // [policy.endpoint]
	Connections []Connectivity // [connectivity.N], ordered by N
	Codecs      Codecs         // [codecs], [codecs.opus]
	Control     Control        // [control]
	Log         Log            // [system.log]
	Audio       Audio          // [system.audio]
}

// Device is [policy.device]: which devices to use.
type Device struct {
	UseHeadset     bool
	HeadsetName    []string
	AudioInDevice  []string
	AudioOutDevice []string
	// PollInterval is how often the device list is read.
	PollInterval time.Duration
	// RingingDevice lists extra output devices that ring too (agents take
	// the headset off between calls), matched like the other lists.
	RingingDevice []string
}

// Session is [policy.session]: what incoming calls get.
type Session struct {
	AutoAnswer                 bool
	RejectSessionWhenHeadsetNA bool
	// SIPCodeWhenHeadsetNA is the reject code, already checked: a missing,
	// non-numeric or out-of-range value is replaced by 480 with a warning.
	SIPCodeWhenHeadsetNA int
	// NoAnswerTimeout ends a ringing incoming call with 480; 0 = ring
	// until the caller gives up.
	NoAnswerTimeout time.Duration
	// AutoAnswerByHeader honours Call-Info answer-after, Alert-Info
	// alert-autoanswer and Answer-Mode: Auto.
	AutoAnswerByHeader bool
	// CallWaiting lets a second call ring while one is active; off, it
	// gets 486 Busy Here.
	CallWaiting bool
	// RTPTimeout ends a call whose media stopped for this long; 0 = never.
	RTPTimeout time.Duration
	// ZipTone plays a short tone in the agent's ear on auto-answer.
	ZipTone bool
	// DTMFMethod is rfc4733, info or inband (the Genesys spellings
	// Rfc2833, Info and InbandRtp are read as these).
	DTMFMethod string
	// EchoCancellation removes the caller's voice picked up by the
	// agent's microphone from the speaker (echo_cancellation).
	EchoCancellation bool
	// EchoCanceller is the echo canceller: "speex+webrtc" (speexdsp's
	// filter, then WebRTC's audio processing module on what it leaves:
	// the default), "webrtc" or "speex" alone (echo_canceller).
	EchoCanceller string
	// NoiseSuppression removes stationary background noise from the
	// agent's microphone (noise_suppression).
	NoiseSuppression bool
	// AGCMode 1 levels the agent's voice automatically; 0 leaves the
	// microphone's level alone (agc_mode, the Genesys key).
	AGCMode int
	// VQAlarmThreshold is the MOS below which a call's voice quality
	// raises an alarm (once per dip); 0 = no alarm.
	VQAlarmThreshold float64
	// SessionExpires is the session interval our INVITEs ask for (RFC
	// 4028 session timers); 0 = ask for none. A peer's request is honoured
	// either way.
	SessionExpires time.Duration
}

// Codecs is [codecs] and [codecs.opus].
type Codecs struct {
	// Enabled lists opus, g722, pcmu, pcma in preference order.
	Enabled []string
	// PTime is the packet time in milliseconds.
	PTime int
	// OpusStereo, OpusFEC and OpusMaxPlaybackRate are [codecs.opus].
	OpusStereo          bool
	OpusFEC             bool
	OpusMaxPlaybackRate int
}

// Endpoint is [policy.endpoint]: where the softphone listens.
type Endpoint struct {
	SIPAddress string // "" = all interfaces
	SIPPort    int    // 0 = any free port; also read as sip_port_min
	// SIPPortMax, above SIPPort, lets SIP move to the first free port up
	// to it (the Genesys sip_port_min/sip_port_max range); 0 = SIPPort only.
	SIPPortMax int
	// PublicAddress is the host[:port] put in Contact, Via and SDP; ""
	// (or the Genesys "$auto") = the local address.
	PublicAddress string
	RTPPortMin    int
	RTPPortMax    int
	// SignalingDSCP and AudioDSCP mark the SIP and the RTP/RTCP sockets
	// (0–63; 0 = unmarked). The file gives them as the Genesys
	// signaling_qos and audio_qos, the IP header's TOS byte (DSCP×4).
	SignalingDSCP int
	AudioDSCP     int
	// IncludeOSVersion adds the operating system and its version to the
	// User-Agent header.
	IncludeOSVersion bool
	// VQReportPublish sends a voice-quality report (RFC 6035 PUBLISH) to
	// VQReportCollector, a SIP URI, at the end of each call.
	VQReportPublish   bool
	VQReportCollector string
	TLSCertFile       string
	TLSKeyFile        string
	// SRTP is off, optional or mandatory (SDES, RFC 4568).
	SRTP string
	// SRTPOverInsecureSignalling allows SDES keys in SDP carried over UDP or
	// TCP (anyone on the path can read them).
	SRTPOverInsecureSignalling bool
	// AcceptInvites is proxy (only the registered connections' servers and
	// TrustedHosts may send out-of-dialog requests while any connection is
	// registered) or any.
	AcceptInvites string
	// TrustedHosts are more hosts or CIDRs of the SIP server's cluster.
	TrustedHosts []string
	// STUNServers (host:port) and TURNServers (host:port, or turn: /
	// turns: URLs) are the ICE servers of every WebRTC connection, with
	// TURNUser and TURNPassword; ICEPolicy is all or relay (relay
	// candidates only).
	STUNServers  []string
	TURNServers  []string
	TURNUser     string
	TURNPassword string
	ICEPolicy    string
}

// Connectivity is one [connectivity.N]: a SIP server account.
type Connectivity struct {
	Index         int
	User          string
	Server        string // host[:port]
	Protocol      string // udp | tcp | tls | ws | wss
	Password      string
	AuthUser      string
	Domain        string
	DisplayName   string
	RegTimeout    time.Duration // 0 = standalone, no REGISTER
	OutboundProxy string
	BackupServer  string
	CAFile        string
	KeepAlive     time.Duration
	DSCP          int
	// WSPath is the HTTP path of the WebSocket upgrade (ws and wss, RFC
	// 7118), "/" by default.
	WSPath string
	// Media is the connection's media: MediaAuto (the default: WebRTC on
	// ws/wss, plain RTP otherwise), MediaRTP or MediaWebRTC; EffectiveMedia
	// resolves auto.
	Media string
}

// Media kinds of [connectivity.N] media.
const (
	MediaAuto   = "auto"
	MediaRTP    = "rtp"
	MediaWebRTC = "webrtc"
)

// Registers reports whether this connection sends REGISTER.
func (c Connectivity) Registers() bool { return c.RegTimeout > 0 }

// WebSocket reports whether the connection's protocol is ws or wss.
func (c Connectivity) WebSocket() bool { return c.Protocol == "ws" || c.Protocol == "wss" }

// EffectiveMedia is the connection's media with auto resolved: WebRTC on
// a WebSocket connection, plain RTP otherwise.
func (c Connectivity) EffectiveMedia() string {
	switch {
	case c.Media == MediaRTP || c.Media == MediaWebRTC:
		return c.Media
	case c.WebSocket():
		return MediaWebRTC
	default:
		return MediaRTP
	}
}

// Control is [control]: the local API.
type Control struct {
	// Listen is the TCP address of the local API; "none" serves only
	// UnixSocket.
	Listen    string
	TokenFile string
	// UnixSocket is the unix socket (mode 0600) the API is also served
	// on, and the command line's way in: "" is DefaultUnixSocketName
	// beside TokenFile, UnixSocketNone none. SocketPath resolves it.
	UnixSocket string
	// ConnectorWithoutToken opens the Connector-compatible routes to
	// loopback clients that send no token.
	ConnectorWithoutToken bool
	// AllowedOrigins are the browser origins allowed to call the API (CORS).
	AllowedOrigins []string
	// AllowRemote lets Listen name a non-loopback address.
	AllowRemote bool
	// MaxConnections caps the API's concurrent TCP connections.
	MaxConnections int
	// MaxEventStreams caps the concurrent event-stream subscribers.
	MaxEventStreams int
}

// UnixSocketNone as Control.UnixSocket serves no unix socket.
const UnixSocketNone = "none"

// ListenNone as Control.Listen serves no TCP address.
const ListenNone = "none"

// Defaults of [control].
const (
	DefaultMaxConnections  = 128
	DefaultMaxEventStreams = 32
	// controlPortBase + uid mod controlPortSpan is the API's default
	// port: each user of a shared desktop host gets their own, between the
	// default RTP range (10000-20000) and Linux's ephemeral ports (from
	// 32768).
	controlPortBase = 20000
	controlPortSpan = 10000
)

// DefaultControlListen is the local API's address when none is configured:
// 127.0.0.1 on a port of the user's own, 20000 + uid mod 10000.
func DefaultControlListen() string {
	return fmt.Sprintf("127.0.0.1:%d", controlPortBase+os.Getuid()%controlPortSpan)
}

// SocketPath is the unix socket the API is served on, "" for none.
func (c Control) SocketPath() string {
	switch c.UnixSocket {
	case UnixSocketNone:
		return ""
	case "":
		return filepath.Join(filepath.Dir(c.TokenFile), DefaultUnixSocketName)
	}
	return c.UnixSocket
}

// DefaultUnixSocketName is the unix socket's file name beside the token
// file when unix_socket is empty.
const DefaultUnixSocketName = "api.sock"

// Log is [system.log].
type Log struct {
	Level    string // debug | info | warn | error
	File     string // "" = stderr
	SIPTrace bool
}

// Audio is [system.audio].
type Audio struct {
	// Backend is auto | pulseaudio | alsa | null.
	Backend string
}

// DefaultRejectCode is used when sip_code_when_headset_na is missing or
// outside 400–699 (480 Temporarily Unavailable, as the Genesys Softphone).
const DefaultRejectCode = 480

// DefaultSessionExpires is the session interval our INVITEs ask for by
// default (RFC 4028 §4 recommends 1800 s).
const DefaultSessionExpires = 1800 * time.Second

// DefaultVQAlarmThreshold is the MOS under which a call's voice quality
// raises an alarm (the Genesys vq_alarm_threshold default).
const DefaultVQAlarmThreshold = 3.5

// MinSessionExpires is the smallest session interval (RFC 4028 §5).
const MinSessionExpires = 90 * time.Second

// Default returns the built-in configuration: standalone, no device lists.
func Default() *Config {
	return &Config{
		Device: Device{PollInterval: 250 * time.Millisecond},
		Session: Session{
			SIPCodeWhenHeadsetNA: DefaultRejectCode,
			AutoAnswerByHeader:   true,
			CallWaiting:          true,
			RTPTimeout:           30 * time.Second,
			ZipTone:              true,
			DTMFMethod:           "rfc4733",
			EchoCancellation:     true,
			EchoCanceller:        "speex+webrtc",
			NoiseSuppression:     true,
			SessionExpires:       DefaultSessionExpires,
			VQAlarmThreshold:     DefaultVQAlarmThreshold,
		},
		Endpoint: Endpoint{SIPPort: 5060, RTPPortMin: 10000, RTPPortMax: 20000, SRTP: "off", AcceptInvites: "proxy", ICEPolicy: "all"},
		Codecs:   Codecs{Enabled: []string{"opus", "g722", "pcmu", "pcma"}, PTime: 20, OpusFEC: true},
		Control: Control{
			Listen: DefaultControlListen(), TokenFile: defaultTokenFile(),
			MaxConnections: DefaultMaxConnections, MaxEventStreams: DefaultMaxEventStreams,
		},
		Log:   Log{Level: "info"},
		Audio: Audio{Backend: "auto"},
	}
}

func defaultTokenFile() string {
	return filepath.Join(userConfigDir(), "softphone", "token")
}

func userConfigDir() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".config")
	}
	return "/etc"
}

// EnvConfig names the variable that points at the configuration file.
const EnvConfig = "SOFTPHONE_CONFIG"

// SystemFile is the last place Locate looks.
const SystemFile = "/etc/softphone/softphone.ini"

// Locate finds the configuration file: flagPath when given, else
// $SOFTPHONE_CONFIG, else $XDG_CONFIG_HOME/softphone/softphone.ini (or
// ~/.config/softphone/softphone.ini), else /etc/softphone/softphone.ini.
// It returns "" with a nil error when none exists (built-in defaults). A
// file named by the flag or the variable must exist.
func Locate(flagPath string) (string, error) {
	for _, named := range []struct{ path, by string }{{flagPath, "-c"}, {os.Getenv(EnvConfig), EnvConfig}} {
		if named.path == "" {
			continue
		}
		if _, err := os.Stat(named.path); err != nil {
			return "", fmt.Errorf("config: %s names %s: %w", named.by, named.path, err)
		}
		return named.path, nil
	}
	for _, p := range []string{filepath.Join(userConfigDir(), "softphone", "softphone.ini"), SystemFile} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", nil
}

// Summary is a one-line description for logs and check-config.
func (c *Config) Summary() string {
	src := c.File
	if src == "" {
		src = "built-in defaults"
	}
	mode := "standalone"
	n := 0
	for _, cn := range c.Connections {
		if cn.Registers() {
			n++
		}
	}
	if n > 0 {
		mode = fmt.Sprintf("%d registering connection(s)", n)
	}
	return fmt.Sprintf("%s: %s, use_headset=%s, auto_answer=%s, reject_session_when_headset_na=%s (code %d), sip %s",
		src, mode, b01(c.Device.UseHeadset), b01(c.Session.AutoAnswer), b01(c.Session.RejectSessionWhenHeadsetNA),
		c.Session.SIPCodeWhenHeadsetNA, net.JoinHostPort(c.Endpoint.SIPAddress, strconv.Itoa(c.Endpoint.SIPPort)))
}

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// sortConnections orders the connections by index.
func (c *Config) sortConnections() {
	sort.Slice(c.Connections, func(i, j int) bool { return c.Connections[i].Index < c.Connections[j].Index })
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
