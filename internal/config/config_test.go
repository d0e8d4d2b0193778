package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		check    func(t *testing.T, c *Config)
		wantErr  []string // substrings, all must appear
		wantWarn []string
	}{
		{
			name: "empty file gives defaults",
			in:   "",
			check: func(t *testing.T, c *Config) {
				if c.Session.SIPCodeWhenHeadsetNA != 480 || c.Device.PollInterval != 250*time.Millisecond ||
					c.Device.UseHeadset || !c.Session.CallWaiting || !c.Session.AutoAnswerByHeader || c.Endpoint.SIPPort != 5060 {
					t.Errorf("defaults wrong: %+v", c)
				}
			},
		},
		{
			name: "repeated keys are priority lists",
			in: `[policy.device]
use_headset = 1
headset_name = Jabra Evolve2 65
headset_name = Plantronics.*
headset_name = "Headset (USB) #2"
audio_in_device = Mic A
device_poll_interval = 100ms
`,
			check: func(t *testing.T, c *Config) {
				want := []string{"Jabra Evolve2 65", "Plantronics.*", "Headset (USB) #2"}
				if strings.Join(c.Device.HeadsetName, "|") != strings.Join(want, "|") {
					t.Errorf("headset_name = %q, want %q", c.Device.HeadsetName, want)
				}
				if !c.Device.UseHeadset || len(c.Device.AudioInDevice) != 1 || c.Device.PollInterval != 100*time.Millisecond {
					t.Errorf("device = %+v", c.Device)
				}
			},
		},
		{
			name: "session and connections",
			in: `[policy.session]
auto_answer = true
reject_session_when_headset_na = 1
sip_code_when_headset_na = 486
no_answer_timeout = 30
call_waiting = 0

[connectivity.1]
user = bob
server = 127.0.0.1:5070
protocol = TCP
reg_timeout = 60

[connectivity.0]
user = alice
server = pbx.example.com
password = "pw ; with # signs"
reg_timeout = 0
`,
			check: func(t *testing.T, c *Config) {
				s := c.Session
				if !s.AutoAnswer || !s.RejectSessionWhenHeadsetNA || s.SIPCodeWhenHeadsetNA != 486 || s.NoAnswerTimeout != 30*time.Second || s.CallWaiting {
					t.Errorf("session = %+v", s)
				}
				if len(c.Connections) != 2 || c.Connections[0].User != "alice" || c.Connections[1].Protocol != "tcp" {
					t.Fatalf("connections = %+v", c.Connections)
				}
				if c.Connections[0].Registers() || !c.Connections[1].Registers() {
					t.Errorf("registers wrong: %+v", c.Connections)
				}
				if c.Connections[0].Password != "pw ; with # signs" {
					t.Errorf("password = %q", c.Connections[0].Password)
				}
			},
		},
		{name: "code 399 warns and uses 480", in: "[policy.session]\nsip_code_when_headset_na = 399\n",
			check:    func(t *testing.T, c *Config) { wantCode(t, c, 480) },
			wantWarn: []string{"[policy.session] sip_code_when_headset_na: 399 is outside 400–699: 480 is used"}},
		{name: "code 400 kept", in: "[policy.session]\nsip_code_when_headset_na = 400\n",
			check: func(t *testing.T, c *Config) { wantCode(t, c, 400) }},
		{name: "code 699 kept", in: "[policy.session]\nsip_code_when_headset_na = 699\n",
			check: func(t *testing.T, c *Config) { wantCode(t, c, 699) }},
		{name: "code 700 warns", in: "[policy.session]\nsip_code_when_headset_na = 700\n",
			check: func(t *testing.T, c *Config) { wantCode(t, c, 480) }, wantWarn: []string{"700 is outside"}},
		{name: "code non-numeric warns", in: "[policy.session]\nsip_code_when_headset_na = busy\n",
			check: func(t *testing.T, c *Config) { wantCode(t, c, 480) }, wantWarn: []string{`"busy" is not a number: 480 is used`}},
		{name: "code empty warns", in: "[policy.session]\nsip_code_when_headset_na =\n",
			check: func(t *testing.T, c *Config) { wantCode(t, c, 480) }, wantWarn: []string{`"" is not a number`}},
		{name: "every call rejected warns", in: "[policy.device]\nuse_headset=1\n[policy.session]\nreject_session_when_headset_na=1\n",
			wantWarn: []string{"every call will be rejected"}},
		{name: "empty list entry warns", in: "[policy.device]\nheadset_name =\nheadset_name = Jabra\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Device.HeadsetName) != 1 {
					t.Errorf("headset_name = %q", c.Device.HeadsetName)
				}
			},
			wantWarn: []string{"test.ini:2: [policy.device] headset_name: empty entry ignored"}},
		{name: "unknown key suggests", in: "[policy.session]\nauto_anwser = 1\n",
			wantErr: []string{"test.ini:2: [policy.session] auto_anwser: unknown key (did you mean auto_answer?)"}},
		{name: "unknown section suggests", in: "[policy.sesion]\nauto_answer = 1\n",
			wantErr: []string{"test.ini:1: [policy.sesion] unknown section (did you mean [policy.session]?)"}},
		{name: "bad boolean names value", in: "[policy.session]\n\nauto_answer = maybe\n",
			wantErr: []string{`test.ini:3: [policy.session] auto_answer: "maybe" is not a boolean (1 or 0)`}},
		{name: "bad duration", in: "[policy.device]\ndevice_poll_interval = 250\n",
			wantErr: []string{`[policy.device] device_poll_interval: "250" is not a duration`}},
		{name: "session_expires default", in: "",
			check: func(t *testing.T, c *Config) { wantSessionExpires(t, c, 1800*time.Second) }},
		{name: "session_expires off", in: "[policy.session]\nsession_expires = 0\n",
			check: func(t *testing.T, c *Config) { wantSessionExpires(t, c, 0) }},
		{name: "session_expires at the minimum", in: "[policy.session]\nsession_expires = 90\n",
			check: func(t *testing.T, c *Config) { wantSessionExpires(t, c, 90*time.Second) }},
		{name: "session_expires too small", in: "[policy.session]\nsession_expires = 30\n",
			wantErr: []string{`test.ini:2: [policy.session] session_expires: "30" is not 0 (ask for no session timer) or at least 90 seconds`}},
		{name: "voice processing defaults", in: "",
			check: func(t *testing.T, c *Config) {
				if s := c.Session; !s.EchoCancellation || s.EchoCanceller != "speex+webrtc" || !s.NoiseSuppression || s.AGCMode != 0 {
					t.Errorf("echo %v %q noise %v agc %d, want on, speex+webrtc, on, 0", s.EchoCancellation, s.EchoCanceller, s.NoiseSuppression, s.AGCMode)
				}
			}},
		{name: "echo_canceller speex", in: "[policy.session]\necho_canceller = Speex\n",
			check: func(t *testing.T, c *Config) {
				if c.Session.EchoCanceller != "speex" {
					t.Errorf("echo_canceller %q, want speex", c.Session.EchoCanceller)
				}
			}},
		{name: "echo_canceller webrtc", in: "[policy.session]\necho_canceller = WebRTC\n",
			check: func(t *testing.T, c *Config) {
				if c.Session.EchoCanceller != "webrtc" {
					t.Errorf("echo_canceller %q, want webrtc", c.Session.EchoCanceller)
				}
			}},
		{name: "bad echo_canceller", in: "[policy.session]\necho_canceller = aecm\n",
			wantErr: []string{`test.ini:2: [policy.session] echo_canceller: "aecm" is not one of speex+webrtc, webrtc, speex`}},
		{name: "voice processing set", in: "[policy.session]\necho_cancellation = 0\nnoise_suppression = 0\nagc_mode = 1\n",
			check: func(t *testing.T, c *Config) {
				if s := c.Session; s.EchoCancellation || s.NoiseSuppression || s.AGCMode != 1 {
					t.Errorf("echo %v noise %v agc %d, want off, off, 1", s.EchoCancellation, s.NoiseSuppression, s.AGCMode)
				}
			}},
		{name: "bad agc_mode", in: "[policy.session]\nagc_mode = 2\n",
			wantErr: []string{`test.ini:2: [policy.session] agc_mode: "2" is not a whole number from 0 to 1`}},
		{name: "bad echo_cancellation", in: "[policy.session]\necho_cancellation = maybe\n",
			wantErr: []string{`test.ini:2: [policy.session] echo_cancellation: "maybe" is not a boolean (1 or 0)`}},
		{name: "accept_invites defaults to proxy", in: "",
			check: func(t *testing.T, c *Config) {
				if c.Endpoint.AcceptInvites != "proxy" || len(c.Endpoint.TrustedHosts) != 0 {
					t.Errorf("accept_invites %q trusted_hosts %q", c.Endpoint.AcceptInvites, c.Endpoint.TrustedHosts)
				}
			}},
		{name: "accept_invites and trusted_hosts", in: "[policy.endpoint]\naccept_invites = any\ntrusted_hosts = sbc1.example.com, 10.20.0.0/24,192.0.2.7\n",
			check: func(t *testing.T, c *Config) {
				if c.Endpoint.AcceptInvites != "any" || strings.Join(c.Endpoint.TrustedHosts, "|") != "sbc1.example.com|10.20.0.0/24|192.0.2.7" {
					t.Errorf("accept_invites %q trusted_hosts %q", c.Endpoint.AcceptInvites, c.Endpoint.TrustedHosts)
				}
			}},
		{name: "accept_invites bad", in: "[policy.endpoint]\naccept_invites = all\n",
			wantErr: []string{`test.ini:2: [policy.endpoint] accept_invites: "all" is not one of proxy, any`}},
		{name: "trusted_hosts bad", in: "[policy.endpoint]\ntrusted_hosts = 10.0.0.0/99, sbc:5060\n",
			wantErr: []string{`[policy.endpoint] trusted_hosts: "10.0.0.0/99" is not a CIDR`, `"sbc:5060" is not a host, an address or a CIDR`}},
		{name: "bad port", in: "[policy.endpoint]\nsip_port = 70000\n",
			wantErr: []string{`[policy.endpoint] sip_port: "70000" is not a whole number from 0 to 65535`}},
		{name: "repeated scalar", in: "[policy.session]\nauto_answer = 1\nauto_answer = 0\n",
			wantErr: []string{"test.ini:3: [policy.session] auto_answer: is given 2 times"}},
		{name: "bad protocol", in: "[connectivity.0]\nprotocol = sctp\n",
			wantErr: []string{`[connectivity.0] protocol: "sctp" is not one of udp, tcp, tls, ws, wss`}},
		{name: "websocket with plain rtp", in: "[connectivity.0]\nprotocol = wss\nserver = gw.example.com\nws_path = /sip\nmedia = rtp\n[connectivity.1]\nprotocol = tcp\n",
			check: func(t *testing.T, c *Config) {
				w, p := c.Connections[0], c.Connections[1]
				if !w.WebSocket() || w.WSPath != "/sip" || w.EffectiveMedia() != MediaRTP {
					t.Errorf("wss connection %+v: websocket %v, media %s", w, w.WebSocket(), w.EffectiveMedia())
				}
				if p.WebSocket() || p.WSPath != "/" || p.Media != MediaAuto || p.EffectiveMedia() != MediaRTP {
					t.Errorf("tcp connection %+v: websocket %v, media %s", p, p.WebSocket(), p.EffectiveMedia())
				}
			}},
		{name: "websocket media auto is webrtc", in: "[connectivity.0]\nprotocol = ws\n[connectivity.1]\nmedia = webrtc\n",
			check: func(t *testing.T, c *Config) {
				if c.Connections[0].EffectiveMedia() != MediaWebRTC || c.Connections[1].EffectiveMedia() != MediaWebRTC {
					t.Errorf("media %s and %s, want webrtc both", c.Connections[0].EffectiveMedia(), c.Connections[1].EffectiveMedia())
				}
			}},
		{name: "ice servers", in: "[policy.endpoint]\nstun_server = stun.example.com:3478\nstun_server = 192.0.2.7:3478\nturn_server = turns:turn.example.com:5349?transport=tcp\nturn_user = u\nturn_password = p\nice_policy = relay\n",
			check: func(t *testing.T, c *Config) {
				e := c.Endpoint
				if len(e.STUNServers) != 2 || len(e.TURNServers) != 1 || e.TURNUser != "u" || e.TURNPassword != "p" || e.ICEPolicy != "relay" {
					t.Errorf("ice servers %+v", e)
				}
			}},
		{name: "ice policy default", in: "[policy.session]\nauto_answer = 1\n",
			check: func(t *testing.T, c *Config) {
				if c.Endpoint.ICEPolicy != "all" || len(c.Endpoint.STUNServers) != 0 {
					t.Errorf("ice policy %q stun %v", c.Endpoint.ICEPolicy, c.Endpoint.STUNServers)
				}
			}},
		{name: "relay without turn", in: "[policy.endpoint]\nice_policy = relay\n",
			wantErr: []string{"[policy.endpoint] ice_policy: relay needs a turn_server"}},
		{name: "turn without credentials", in: "[policy.endpoint]\nturn_server = turn.example.com:3478\n",
			wantErr: []string{"[policy.endpoint] turn_user: a turn_server needs turn_user and turn_password"}},
		{name: "bad stun server", in: "[policy.endpoint]\nstun_server = stun.example.com:99999\n",
			wantErr: []string{`[policy.endpoint] stun_server: "stun.example.com:99999" has a bad port`}},
		{name: "bad media", in: "[connectivity.0]\nmedia = sctp\n",
			wantErr: []string{`[connectivity.0] media: "sctp" is not one of auto, rtp, webrtc`}},
		{name: "bad ws_path", in: "[connectivity.0]\nprotocol = ws\nmedia = rtp\nws_path = sip\n",
			wantErr: []string{`[connectivity.0] ws_path: "sip" is not an HTTP path (it starts with /)`}},
		{name: "registering needs server", in: "[connectivity.0]\nuser = a\nreg_timeout = 60\n",
			wantErr: []string{"[connectivity.0] server: is required when reg_timeout is set"}},
		{name: "key outside section", in: "auto_answer = 1\n",
			wantErr: []string{"auto_answer: is outside any section"}},
		{name: "bad sip address", in: "[policy.endpoint]\nsip_address = localhost\n",
			wantErr: []string{`sip_address: "localhost" is not an IP address`}},
		{name: "rtp range reversed", in: "[policy.endpoint]\nrtp_port_min = 20000\nrtp_port_max = 10000\n",
			wantErr: []string{"rtp_port_max: 10000 is below rtp_port_min 20000"}},
		{name: "rtp max 0 alone", in: "[policy.endpoint]\nrtp_port_max = 0\n",
			wantErr: []string{"rtp_port_max: 0 is below rtp_port_min 10000 (both 0 let the system pick the ports)"}},
		{name: "rtp min 0 alone", in: "[policy.endpoint]\nrtp_port_min = 0\n",
			wantErr: []string{"rtp_port_min: 0 with rtp_port_max 20000: set both to 0"}},
		{name: "rtp range without a pair", in: "[policy.endpoint]\nrtp_port_min = 10001\nrtp_port_max = 10002\n",
			wantErr: []string{"rtp_port_max: the range 10001-10002 holds no even RTP port with its RTCP port"}},
		{name: "rtp ports from the system", in: "[policy.endpoint]\nrtp_port_min = 0\nrtp_port_max = 0\n",
			check: func(t *testing.T, c *Config) {
				if c.Endpoint.RTPPortMin != 0 || c.Endpoint.RTPPortMax != 0 {
					t.Errorf("endpoint = %+v", c.Endpoint)
				}
			}},
		{name: "rtp smallest range", in: "[policy.endpoint]\nrtp_port_min = 10000\nrtp_port_max = 10001\n"},
		{name: "several problems all listed", in: "[policy.session]\nauto_answer = x\nfoo = 1\n[bogus]\n",
			wantErr: []string{"auto_answer", "foo: unknown key", "[bogus] unknown section"}},
		{name: "bad control listen", in: "[control]\nlisten = 8743\n",
			wantErr: []string{`[control] listen: "8743" is not host:port`}},
		{name: "control listen beyond loopback refused", in: "[control]\nlisten = 0.0.0.0:8743\n",
			wantErr: []string{`[control] listen: "0.0.0.0:8743" is not a loopback address`, "allow_remote = 1"}},
		{name: "control listen on every address refused", in: "[control]\nlisten = :8743\n",
			wantErr: []string{`[control] listen: ":8743" is not a loopback address`}},
		{name: "control listen beyond loopback allowed with a warning", in: "[control]\nlisten = 0.0.0.0:8743\nallow_remote = 1\n",
			wantWarn: []string{"[control] allow_remote: the API listens on \"0.0.0.0:8743\", beyond this machine"}},
		{name: "control localhost and ::1 are loopback", in: "[control]\nlisten = [::1]:8743\n",
			check: func(t *testing.T, c *Config) {
				if c.Control.Listen != "[::1]:8743" {
					t.Errorf("listen = %q", c.Control.Listen)
				}
			}},
		{name: "control origin wildcard refused", in: "[control]\nallowed_origins = https://*.example.com\n",
			wantErr: []string{`[control] allowed_origins: "https://*.example.com" holds a wildcard`}},
		{name: "control listen and socket none", in: "[control]\nlisten = none\nunix_socket = none\n",
			wantErr: []string{"[control] listen: none with unix_socket = none"}},
		{name: "control defaults: the user's own port, a socket beside the token", in: "[control]\nlisten =\ntoken_file = /run/x/token\n",
			check: func(t *testing.T, c *Config) {
				if want := fmt.Sprintf("127.0.0.1:%d", 20000+os.Getuid()%10000); c.Control.Listen != want {
					t.Errorf("listen = %q, want %q", c.Control.Listen, want)
				}
				if c.Control.SocketPath() != "/run/x/api.sock" || c.Control.MaxConnections != DefaultMaxConnections || c.Control.MaxEventStreams != DefaultMaxEventStreams {
					t.Errorf("control = %+v, socket %q", c.Control, c.Control.SocketPath())
				}
			}},
		{name: "control caps bounded", in: "[control]\nmax_connections = 2\n",
			wantErr: []string{`[control] max_connections: "2" is not a whole number from 4 to 65536`}},
		{name: "bad log level", in: "[system.log]\nlevel = loud\n",
			wantErr: []string{`"loud" is not one of debug, info, warn, error`}},
		{name: "backend null", in: "[system.audio]\nbackend = null\n",
			check: func(t *testing.T, c *Config) {
				if c.Audio.Backend != "null" {
					t.Errorf("backend = %q", c.Audio.Backend)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns, err := Parse("test.ini", []byte(tt.in))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			joined := strings.Join(warns, "\n")
			for _, w := range tt.wantWarn {
				if !strings.Contains(joined, w) {
					t.Errorf("warnings %q do not contain %q", joined, w)
				}
			}
			if len(tt.wantWarn) == 0 && len(warns) > 0 {
				t.Errorf("unexpected warnings: %q", warns)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func wantCode(t *testing.T, c *Config, code int) {
	t.Helper()
	if c.Session.SIPCodeWhenHeadsetNA != code {
		t.Errorf("sip_code_when_headset_na = %d, want %d", c.Session.SIPCodeWhenHeadsetNA, code)
	}
}

func wantSessionExpires(t *testing.T, c *Config, d time.Duration) {
	t.Helper()
	if c.Session.SessionExpires != d {
		t.Errorf("session_expires = %v, want %v", c.Session.SessionExpires, d)
	}
}

// TestExampleConfig keeps configs/softphone.ini loadable and complete: it
// must load without warnings and name every key the loader knows.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "softphone.ini")
	c, warns, err := Load(path)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if len(warns) > 0 {
		t.Errorf("example config warns: %q", warns)
	}
	if c.File != path {
		t.Errorf("File = %q", c.File)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, k := range knownKeys(t) {
		if !strings.Contains(text, k) {
			t.Errorf("configs/softphone.ini does not document %s", k)
		}
	}
}

// knownKeys lists every section's keys the loader accepts.
func knownKeys(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, sec := range Sections() {
		keys := Keys(sec)
		if len(keys) == 0 {
			t.Fatalf("no keys for %s", sec)
		}
		out = append(out, keys...)
	}
	return out
}

func TestLocate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.ini")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv(EnvConfig, "")
	if got, err := Locate(file); err != nil || got != file {
		t.Errorf("Locate(flag) = %q, %v", got, err)
	}
	if _, err := Locate(filepath.Join(dir, "missing.ini")); err == nil || !strings.Contains(err.Error(), "-c names") {
		t.Errorf("Locate(missing flag) err = %v", err)
	}
	t.Setenv(EnvConfig, file)
	if got, err := Locate(""); err != nil || got != file {
		t.Errorf("Locate(env) = %q, %v", got, err)
	}
	t.Setenv(EnvConfig, "")
	xdg := filepath.Join(dir, "xdg", "softphone", "softphone.ini")
	if err := os.MkdirAll(filepath.Dir(xdg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(xdg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Locate(""); err != nil || got != xdg {
		t.Errorf("Locate(xdg) = %q, %v", got, err)
	}
}
