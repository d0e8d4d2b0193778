package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// Error is one problem in a configuration file.
type Error struct {
	File    string
	Line    int // 0 when unknown
	Section string
	Key     string // "" for a problem with the whole section
	Msg     string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Section != "" {
		fmt.Fprintf(&b, "[%s] ", e.Section)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads the file at path over the defaults and validates the result.
// path "" gives the built-in defaults. The error, when not nil, joins every
// problem found (each an *Error); warnings are problems that do not stop the
// softphone (each names section and key too).
func Load(path string) (*Config, []string, error) {
	c := Default()
	if path == "" {
		return c, nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	c.File = path
	warnings, err := c.overlay(path, data)
	return c, warnings, err
}

// Parse is Load on bytes already read; name is used in messages.
func Parse(name string, data []byte) (*Config, []string, error) {
	c := Default()
	c.File = name
	warnings, err := c.overlay(name, data)
	return c, warnings, err
}

var iniOptions = ini.LoadOptions{
	AllowShadows:                true,
	Insensitive:                 true,
	SpaceBeforeInlineComment:    true,
	UnescapeValueDoubleQuotes:   true,
	UnescapeValueCommentSymbols: true,
	IgnoreContinuation:          true,
}

// sectionNames are the sections a file may hold, besides connectivity.N.
var sectionNames = []string{"policy.device", "policy.session", "policy.endpoint", "codecs", "codecs.opus", "control", "system.log", "system.audio", "connectivity.0"}

var connectivityRe = regexp.MustCompile(`^connectivity\.([0-9]+)$`)

func (c *Config) overlay(file string, data []byte) ([]string, error) {
	f, err := ini.LoadSources(iniOptions, data)
	if err != nil {
		return nil, &Error{File: file, Msg: "not a valid ini file: " + err.Error()}
	}
	p := &parser{file: file, lines: keyLines(data)}
	for _, sec := range f.Sections() {
		name := sec.Name()
		if strings.EqualFold(name, ini.DefaultSection) {
			for _, k := range sec.Keys() {
				p.fail("", k.Name(), "is outside any section: put it under its [domain.section] header")
			}
			continue
		}
		r := p.section(name, sec)
		if !c.readSection(r) {
			msg := "unknown section"
			if s := nearest(name, sectionNames); s != "" {
				msg += fmt.Sprintf(" (did you mean [%s]?)", s)
			}
			p.errs = append(p.errs, &Error{File: file, Line: p.sectionLine(name), Section: name, Msg: msg})
			continue
		}
		r.finish()
	}
	c.sortConnections()
	c.validate(p)
	return p.warnings, errors.Join(p.errs...)
}

// readSection overlays one section's keys; it reports false for a section
// name it does not know.
func (c *Config) readSection(r *sectionReader) bool {
	name, p := r.name, r.p
	switch {
	case name == "policy.device":
		d := &c.Device
		r.boolean("use_headset", &d.UseHeadset)
		r.list("headset_name", &d.HeadsetName)
		r.list("audio_in_device", &d.AudioInDevice)
		r.list("audio_out_device", &d.AudioOutDevice)
		r.duration("device_poll_interval", &d.PollInterval, 10*time.Millisecond, time.Minute)
		r.list("ringing_device", &d.RingingDevice)
	case name == "policy.session":
		s := &c.Session
		r.boolean("auto_answer", &s.AutoAnswer)
		r.boolean("reject_session_when_headset_na", &s.RejectSessionWhenHeadsetNA)
		r.rejectCode("sip_code_when_headset_na", &s.SIPCodeWhenHeadsetNA)
		r.seconds("no_answer_timeout", &s.NoAnswerTimeout)
		r.boolean("auto_answer_by_header", &s.AutoAnswerByHeader)
		r.boolean("call_waiting", &s.CallWaiting)
		r.seconds(r.either("rtp_timeout", "rtp_inactivity_timeout"), &s.RTPTimeout)
		r.boolean("zip_tone", &s.ZipTone)
		r.dtmfMethod("dtmf_method", &s.DTMFMethod)
		r.mos("vq_alarm_threshold", &s.VQAlarmThreshold)
		r.boolean("echo_cancellation", &s.EchoCancellation)
		r.oneOf("echo_canceller", &s.EchoCanceller, "speex+webrtc", "webrtc", "speex")
		r.boolean("noise_suppression", &s.NoiseSuppression)
		r.integer("agc_mode", &s.AGCMode, 0, 1)
		if v := r.seconds("session_expires", &s.SessionExpires); s.SessionExpires > 0 && s.SessionExpires < MinSessionExpires {
			r.bad("session_expires", v, "0 (ask for no session timer) or at least 90 seconds (RFC 4028 §5)")
			s.SessionExpires = DefaultSessionExpires
		}
	case name == "policy.endpoint":
		e := &c.Endpoint
		r.host("sip_address", &e.SIPAddress)
		r.integer(r.either("sip_port", "sip_port_min"), &e.SIPPort, 0, 65535)
		r.integer("sip_port_max", &e.SIPPortMax, 0, 65535)
		r.publicAddress("public_address", &e.PublicAddress)
		r.integer("rtp_port_min", &e.RTPPortMin, 0, 65535)
		r.integer("rtp_port_max", &e.RTPPortMax, 0, 65535)
		r.tos("signaling_qos", &e.SignalingDSCP)
		r.tos("audio_qos", &e.AudioDSCP)
		r.boolean("include_os_version_in_user_agent_header", &e.IncludeOSVersion)
		r.boolean("vq_report_publish", &e.VQReportPublish)
		r.sipURI("vq_report_collector", &e.VQReportCollector)
		r.file("tls_cert_file", &e.TLSCertFile)
		r.file("tls_key_file", &e.TLSKeyFile)
		r.oneOf("srtp", &e.SRTP, "off", "optional", "mandatory")
		r.boolean("srtp_over_insecure_signalling", &e.SRTPOverInsecureSignalling)
		r.oneOf("accept_invites", &e.AcceptInvites, "proxy", "any")
		r.commaList("trusted_hosts", &e.TrustedHosts)
		r.list("stun_server", &e.STUNServers)
		r.list("turn_server", &e.TURNServers)
		r.str("turn_user", &e.TURNUser)
		r.str("turn_password", &e.TURNPassword)
		r.oneOf("ice_policy", &e.ICEPolicy, "all", "relay")
		p.checkICE(name, e)
	case connectivityRe.MatchString(name):
		n, err := strconv.Atoi(connectivityRe.FindStringSubmatch(name)[1])
		if err != nil || n > 99 {
			p.fail(name, "", "the connection number must be 0 to 99")
			return true
		}
		cn := Connectivity{Index: n, Protocol: "udp", WSPath: "/", Media: MediaAuto}
		r.str("user", &cn.User)
		r.str("server", &cn.Server)
		r.oneOf("protocol", &cn.Protocol, "udp", "tcp", "tls", "ws", "wss")
		r.str("ws_path", &cn.WSPath)
		r.oneOf("media", &cn.Media, MediaAuto, MediaRTP, MediaWebRTC)
		r.str("password", &cn.Password)
		r.str("auth_user", &cn.AuthUser)
		r.str("domain", &cn.Domain)
		r.str("display_name", &cn.DisplayName)
		r.seconds("reg_timeout", &cn.RegTimeout)
		r.str("outbound_proxy", &cn.OutboundProxy)
		r.str("backup_server", &cn.BackupServer)
		r.file("ca_file", &cn.CAFile)
		r.seconds("keepalive_interval", &cn.KeepAlive)
		r.integer("dscp", &cn.DSCP, 0, 63)
		p.checkConnection(name, &cn)
		c.Connections = append(c.Connections, cn)
	case name == "codecs":
		r.codecList("enabled", &c.Codecs.Enabled)
		r.integer("ptime", &c.Codecs.PTime, 10, 60)
	case name == "codecs.opus":
		r.boolean("stereo", &c.Codecs.OpusStereo)
		r.boolean("fec", &c.Codecs.OpusFEC)
		r.integer("max_playback_rate", &c.Codecs.OpusMaxPlaybackRate, 0, 48000)
	case name == "control":
		r.str("unix_socket", &c.Control.UnixSocket)
		r.boolean("connector_without_token", &c.Control.ConnectorWithoutToken)
		r.commaList("allowed_origins", &c.Control.AllowedOrigins)
		if v := c.Control.Listen; true {
			r.str("listen", &c.Control.Listen)
			if c.Control.Listen == "" {
				c.Control.Listen = v // empty means the user's own port
			}
		}
		r.boolean("allow_remote", &c.Control.AllowRemote)
		r.integer("max_connections", &c.Control.MaxConnections, 4, 65536)
		r.integer("max_event_streams", &c.Control.MaxEventStreams, 1, 4096)
		if v := c.Control.TokenFile; true {
			r.str("token_file", &c.Control.TokenFile)
			if c.Control.TokenFile == "" {
				c.Control.TokenFile = v // empty means the default
			}
		}
	case name == "system.log":
		r.oneOf("level", &c.Log.Level, "debug", "info", "warn", "error")
		r.str("file", &c.Log.File)
		r.boolean("sip_trace", &c.Log.SIPTrace)
	case name == "system.audio":
		r.oneOf("backend", &c.Audio.Backend, "auto", "pulseaudio", "alsa", "null")
	default:
		return false
	}
	for _, k := range notActedOn[name] {
		r.ignored(k.key, k.why)
	}
	return true
}

// notActedOn lists Genesys Softphone keys an administrator may copy that
// this softphone knows but does not act on: each is accepted with a warning
// naming it, so a copied file loads and nothing passes unnoticed.
var notActedOn = map[string][]struct{ key, why string }{
	"policy.device":  {{"capture_device", "video is not supported"}},
	"policy.session": {{"auto_accept_video", "video is not supported"}},
	"policy.endpoint": {
		{"video_qos", "video is not supported"},
		{"webrtc_audio_layer", "devices are chosen by [system.audio] backend"},
		{"sip_transaction_timeout", "SIP transactions follow the RFC 3261 timers (32 s)"},
	},
}

// Keys returns the keys a section accepts, in the order the loader reads
// them ("connectivity.0" stands for every connection).
func Keys(section string) []string {
	f := ini.Empty(iniOptions)
	sec, err := f.NewSection(section)
	if err != nil {
		return nil
	}
	r := (&parser{file: "keys", lines: map[string][]int{}}).section(section, sec)
	if !Default().readSection(r) {
		return nil
	}
	return r.known
}

// Sections lists the sections a file may hold ("connectivity.0" stands for
// every connection).
func Sections() []string { return append([]string(nil), sectionNames...) }

// validate checks settings that depend on each other.
func (c *Config) validate(p *parser) {
	e := c.Endpoint
	// Both 0 lets the system pick the ports; otherwise the range must hold
	// an even RTP port with its RTCP port above it (RFC 3550 §11), or every
	// call would be refused for want of a media port.
	switch {
	case e.RTPPortMin == 0 && e.RTPPortMax == 0:
	case e.RTPPortMin == 0:
		p.fail("policy.endpoint", "rtp_port_min", fmt.Sprintf("0 with rtp_port_max %d: set both to 0 to let the system pick the ports, or give a range", e.RTPPortMax))
	case e.RTPPortMin > e.RTPPortMax:
		p.fail("policy.endpoint", "rtp_port_max", fmt.Sprintf("%d is below rtp_port_min %d (both 0 let the system pick the ports)", e.RTPPortMax, e.RTPPortMin))
	case e.RTPPortMax-(e.RTPPortMin+e.RTPPortMin%2) < 1:
		p.fail("policy.endpoint", "rtp_port_max", fmt.Sprintf("the range %d-%d holds no even RTP port with its RTCP port", e.RTPPortMin, e.RTPPortMax))
	}
	if e.SIPPortMax != 0 && e.SIPPortMax < e.SIPPort {
		p.fail("policy.endpoint", "sip_port_max", fmt.Sprintf("%d is below sip_port %d (sip_port_min)", e.SIPPortMax, e.SIPPort))
	}
	if e.SIPPortMax != 0 && e.SIPPort == 0 {
		p.fail("policy.endpoint", "sip_port_max", "needs sip_port_min (or sip_port) above 0: port 0 takes any free port")
	}
	if e.VQReportPublish && e.VQReportCollector == "" {
		p.fail("policy.endpoint", "vq_report_collector", "is required when vq_report_publish = 1")
	}
	for _, h := range e.TrustedHosts {
		if err := checkTrustedHost(h); err != nil {
			p.fail("policy.endpoint", "trusted_hosts", err.Error())
		}
	}
	if (e.TLSCertFile == "") != (e.TLSKeyFile == "") {
		p.fail("policy.endpoint", "tls_key_file", "tls_cert_file and tls_key_file go together: set both or neither")
	}
	c.validateControl(p)
	if r := c.Codecs.OpusMaxPlaybackRate; r != 0 && r < 8000 {
		p.fail("codecs.opus", "max_playback_rate", fmt.Sprintf("%d is not 0 or 8000 to 48000", r))
	}
	if c.Endpoint.SRTP != "off" && c.Endpoint.SRTPOverInsecureSignalling {
		p.warn("policy.endpoint", "srtp_over_insecure_signalling", "SRTP keys may travel in clear-text SIP (UDP/TCP): anyone on the path can read them")
	}
	if c.Device.UseHeadset && c.Session.RejectSessionWhenHeadsetNA && len(c.Device.HeadsetName) == 0 {
		p.warn("policy.device", "headset_name", "use_headset=1 and reject_session_when_headset_na=1 with no headset_name: every call will be rejected")
	}
}

func (p *parser) checkConnection(name string, cn *Connectivity) {
	if cn.Registers() {
		if cn.User == "" {
			p.fail(name, "user", "is required when reg_timeout is set")
		}
		if cn.Server == "" {
			p.fail(name, "server", "is required when reg_timeout is set")
		}
	}
	if cn.Server != "" {
		if err := checkHostPort(cn.Server); err != nil {
			p.fail(name, "server", err.Error())
		}
	}
	if !strings.HasPrefix(cn.WSPath, "/") || strings.ContainsAny(cn.WSPath, " \t?#") {
		p.fail(name, "ws_path", fmt.Sprintf("%q is not an HTTP path (it starts with /)", cn.WSPath))
	}
	for _, k := range []struct {
		key, v string
	}{{"outbound_proxy", cn.OutboundProxy}, {"backup_server", cn.BackupServer}} {
		if k.v != "" {
			if err := checkHostPort(k.v); err != nil {
				p.fail(name, k.key, err.Error())
			}
		}
	}
}

// checkICE validates the ICE servers of [policy.endpoint].
func (p *parser) checkICE(name string, e *Endpoint) {
	for _, s := range e.STUNServers {
		h := strings.TrimPrefix(strings.TrimPrefix(s, "stun:"), "stuns:")
		if err := checkHostPort(h); err != nil {
			p.fail(name, "stun_server", err.Error())
		}
	}
	for _, s := range e.TURNServers {
		h := s
		for _, pre := range []string{"turn:", "turns:"} {
			h = strings.TrimPrefix(h, pre)
		}
		h, _, _ = strings.Cut(h, "?") // ?transport=udp|tcp
		if err := checkHostPort(h); err != nil {
			p.fail(name, "turn_server", err.Error())
		}
	}
	if len(e.TURNServers) > 0 && (e.TURNUser == "" || e.TURNPassword == "") {
		p.fail(name, "turn_user", "a turn_server needs turn_user and turn_password")
	}
	if e.ICEPolicy == "relay" && len(e.TURNServers) == 0 {
		p.fail(name, "ice_policy", "relay needs a turn_server: without one no candidate is gathered")
	}
}

func checkHostPort(v string) error {
	host, port := v, ""
	if h, pt, err := net.SplitHostPort(v); err == nil {
		host, port = h, pt
	}
	if host == "" || strings.ContainsAny(host, " /@;") {
		return fmt.Errorf("%q is not host[:port]", v)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has a bad port", v)
		}
	}
	return nil
}

// checkTrustedHost accepts an address, a CIDR or a host name (no port).
func checkTrustedHost(v string) error {
	if strings.Contains(v, "/") {
		if _, err := netip.ParsePrefix(v); err != nil {
			return fmt.Errorf("%q is not a CIDR such as 10.0.0.0/24", v)
		}
		return nil
	}
	if _, err := netip.ParseAddr(strings.Trim(v, "[]")); err == nil {
		return nil
	}
	if strings.ContainsAny(v, " :@;") || strings.Trim(v, ".-") == "" {
		return fmt.Errorf("%q is not a host, an address or a CIDR", v)
	}
	return nil
}

// parser collects problems while the sections are read.
type parser struct {
	file     string
	lines    map[string][]int // "section\x00key" -> lines; "section\x00" -> header line
	errs     []error
	warnings []string
}

func (p *parser) line(section, key string, n int) int {
	ls := p.lines[section+"\x00"+key]
	if n < len(ls) {
		return ls[n]
	}
	return 0
}

func (p *parser) sectionLine(section string) int { return p.line(section, "", 0) }

func (p *parser) fail(section, key, msg string) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.line(section, key, 0), Section: section, Key: key, Msg: msg})
}

func (p *parser) warn(section, key, msg string) {
	p.warnings = append(p.warnings, (&Error{File: p.file, Line: p.line(section, key, 0), Section: section, Key: key, Msg: msg}).Error())
}

// keyLines maps each section header and key to the lines it stands on, so
// errors can name them (the ini library does not keep line numbers).
func keyLines(data []byte) map[string][]int {
	out := map[string][]int{}
	sec := lower(ini.DefaultSection)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == ';' || l[0] == '#':
		case l[0] == '[':
			if i := strings.IndexByte(l, ']'); i > 0 {
				sec = lower(l[1:i])
				out[sec+"\x00"] = append(out[sec+"\x00"], n)
			}
		default:
			if i := strings.IndexAny(l, "=:"); i > 0 {
				k := lower(l[:i])
				out[sec+"\x00"+k] = append(out[sec+"\x00"+k], n)
				if strings.TrimSpace(l[i+1:]) == "" {
					out[sec+"\x00"+k+"\x00empty"] = append(out[sec+"\x00"+k+"\x00empty"], n)
				}
			}
		}
	}
	return out
}

// sectionReader reads the keys of one section into typed fields and
// remembers which keys it knows, so finish can flag the rest.
type sectionReader struct {
	p     *parser
	name  string
	sec   *ini.Section
	known []string
}

func (p *parser) section(name string, sec *ini.Section) *sectionReader {
	return &sectionReader{p: p, name: name, sec: sec}
}

// value returns the key's single value; ok is false when the key is absent
// or was reported as repeated.
func (r *sectionReader) value(key string) (string, bool) {
	r.known = append(r.known, key)
	if !r.sec.HasKey(key) {
		return "", false
	}
	vals := r.sec.Key(key).ValueWithShadows()
	if len(vals) == 0 {
		return "", true
	}
	if len(vals) > 1 {
		r.p.errs = append(r.p.errs, &Error{File: r.p.file, Line: r.p.line(r.name, key, 1), Section: r.name, Key: key,
			Msg: fmt.Sprintf("is given %d times; only headset_name, audio_in_device, audio_out_device, stun_server and turn_server are lists", len(vals))})
		return "", false
	}
	return strings.TrimSpace(vals[0]), true
}

func (r *sectionReader) bad(key, v, want string) {
	r.p.errs = append(r.p.errs, &Error{File: r.p.file, Line: r.p.line(r.name, key, 0), Section: r.name, Key: key,
		Msg: fmt.Sprintf("%q is not %s", v, want)})
}

func (r *sectionReader) boolean(key string, dst *bool) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	switch lower(v) {
	case "1", "true", "yes", "on":
		*dst = true
	case "0", "false", "no", "off", "":
		*dst = false
	default:
		r.bad(key, v, "a boolean (1 or 0)")
	}
}

func (r *sectionReader) integer(key string, dst *int, lo, hi int) {
	v, ok := r.value(key)
	if !ok || v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.bad(key, v, fmt.Sprintf("a whole number from %d to %d", lo, hi))
		return
	}
	*dst = n
}

// duration reads a Go duration ("250ms", "1s").
func (r *sectionReader) duration(key string, dst *time.Duration, lo, hi time.Duration) {
	v, ok := r.value(key)
	if !ok || v == "" {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		r.bad(key, v, fmt.Sprintf("a duration from %s to %s (such as 250ms)", lo, hi))
		return
	}
	*dst = d
}

// seconds reads a number of seconds ("30"); a Go duration ("30s") is
// accepted too. Empty is 0. It returns the value as written, for a
// caller's own range check.
func (r *sectionReader) seconds(key string, dst *time.Duration) string {
	v, ok := r.value(key)
	if !ok {
		return ""
	}
	if v == "" {
		*dst = 0
		return v
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		*dst = time.Duration(n) * time.Second
		return v
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		*dst = d
		return v
	}
	r.bad(key, v, "a number of seconds")
	return v
}

func (r *sectionReader) str(key string, dst *string) {
	if v, ok := r.value(key); ok {
		*dst = v
	}
}

func (r *sectionReader) host(key string, dst *string) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	if v != "" && net.ParseIP(v) == nil {
		r.bad(key, v, "an IP address of this machine (empty = all interfaces)")
		return
	}
	*dst = v
}

func (r *sectionReader) file(key string, dst *string) {
	v, ok := r.value(key)
	if !ok || v == "" {
		return
	}
	if _, err := os.Stat(v); err != nil {
		r.bad(key, v, "a readable file ("+err.Error()+")")
		return
	}
	*dst = v
}

func (r *sectionReader) oneOf(key string, dst *string, allowed ...string) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	for _, a := range allowed {
		if lower(v) == a {
			*dst = a
			return
		}
	}
	r.bad(key, v, "one of "+strings.Join(allowed, ", "))
}

// codecList reads the enabled codecs: a comma-separated list of known
// codec names, each once.
func (r *sectionReader) codecList(key string, dst *[]string) {
	var list []string
	r.commaList(key, &list)
	if !r.sec.HasKey(key) {
		return
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range list {
		c = lower(c)
		switch c {
		case "opus", "g722", "pcmu", "pcma":
		default:
			r.bad(key, c, "a codec (opus, g722, pcmu, pcma)")
			return
		}
		if seen[c] {
			r.bad(key, c, "listed once")
			return
		}
		seen[c] = true
		out = append(out, c)
	}
	if len(out) == 0 {
		r.bad(key, "", "a list of at least one codec")
		return
	}
	*dst = out
}

// commaList reads a comma-separated list.
func (r *sectionReader) commaList(key string, dst *[]string) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	*dst = out
}

// list reads a repeatable key: each occurrence is one entry, first =
// highest priority.
func (r *sectionReader) list(key string, dst *[]string) {
	r.known = append(r.known, key)
	if !r.sec.HasKey(key) {
		return
	}
	// The ini library drops empty values from a list: find them by line.
	for _, n := range r.p.lines[r.name+"\x00"+key+"\x00empty"] {
		r.p.warnings = append(r.p.warnings, (&Error{File: r.p.file, Line: n, Section: r.name, Key: key, Msg: "empty entry ignored"}).Error())
	}
	var out []string
	for _, v := range r.sec.Key(key).ValueWithShadows() {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	*dst = out
}

// rejectCode reads sip_code_when_headset_na. As in the Genesys Softphone a
// missing value or one outside 400–699 means 480; we say so in a warning
// instead of refusing the file.
func (r *sectionReader) rejectCode(key string, dst *int) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		r.p.warnings = append(r.p.warnings, (&Error{File: r.p.file, Line: r.p.line(r.name, key, 0), Section: r.name, Key: key,
			Msg: fmt.Sprintf("%q is not a number: %d is used", v, DefaultRejectCode)}).Error())
		*dst = DefaultRejectCode
	case n < 400 || n > 699:
		r.p.warnings = append(r.p.warnings, (&Error{File: r.p.file, Line: r.p.line(r.name, key, 0), Section: r.name, Key: key,
			Msg: fmt.Sprintf("%d is outside 400–699: %d is used", n, DefaultRejectCode)}).Error())
		*dst = DefaultRejectCode
	default:
		*dst = n
	}
}

// either returns which of two spellings of one setting the section holds
// (ours or the Genesys one), so the caller reads that one; both at once is
// an error, as their values could disagree.
func (r *sectionReader) either(ours, genesys string) string {
	switch {
	case r.sec.HasKey(ours) && r.sec.HasKey(genesys):
		r.p.fail(r.name, genesys, fmt.Sprintf("is the Genesys spelling of %s: give one of them, not both", ours))
		r.known = append(r.known, genesys)
		return ours
	case r.sec.HasKey(genesys):
		r.known = append(r.known, ours)
		return genesys
	default:
		r.known = append(r.known, genesys)
		return ours
	}
}

// ignored accepts a key this softphone knows but does not act on, with one
// warning naming it.
func (r *sectionReader) ignored(key, why string) {
	if _, ok := r.value(key); ok {
		r.p.warn(r.name, key, "is accepted but not acted on: "+why)
	}
}

// dtmfMethod reads dtmf_method: ours (rfc4733, info, inband) or the Genesys
// spellings (Rfc2833, Info, InbandRtp), in any case.
func (r *sectionReader) dtmfMethod(key string, dst *string) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	switch lower(v) {
	case "rfc4733", "rfc2833":
		*dst = "rfc4733"
	case "info":
		*dst = "info"
	case "inband", "inbandrtp":
		*dst = "inband"
	default:
		r.bad(key, v, "one of rfc4733 (or Rfc2833), info, inband (or InbandRtp)")
	}
}

// tos reads a Genesys QoS value: the IP header's TOS byte, whose upper six
// bits are the DSCP (RFC 2474 §3) and whose lower two bits belong to ECN
// (RFC 3168 §5) and must be 0. dst gets the DSCP.
func (r *sectionReader) tos(key string, dst *int) {
	v, ok := r.value(key)
	if !ok || v == "" {
		return
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 0 || n > 255:
		r.bad(key, v, "a TOS byte from 0 to 255 (DSCP×4: 104 = AF31, 184 = EF)")
	case n%4 != 0:
		r.bad(key, v, fmt.Sprintf("a TOS byte (DSCP×4, its two ECN bits 0): for DSCP %d write %d", n, n*4))
	default:
		*dst = n >> 2
	}
}

// mos reads a MOS threshold from 1 to 5; 0 turns the alarm off.
func (r *sectionReader) mos(key string, dst *float64) {
	v, ok := r.value(key)
	if !ok || v == "" {
		return
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || (f != 0 && (f < 1 || f > 5)) {
		r.bad(key, v, "a MOS from 1 to 5, or 0 for no alarm")
		return
	}
	*dst = f
}

// publicAddress reads public_address: an IP address or host name with an
// optional port; "$auto", as the Genesys Softphone writes it, is empty (the
// local address).
func (r *sectionReader) publicAddress(key string, dst *string) {
	v, ok := r.value(key)
	if !ok {
		return
	}
	if lower(v) == "$auto" {
		*dst = ""
		return
	}
	if v != "" {
		if err := checkHostPort(v); err != nil || strings.HasPrefix(v, "$") {
			r.bad(key, v, "an IP address or host name, with an optional :port, or $auto")
			return
		}
	}
	*dst = v
}

// sipURI reads a sip: or sips: URI.
func (r *sectionReader) sipURI(key string, dst *string) {
	v, ok := r.value(key)
	if !ok || v == "" {
		return
	}
	l := lower(v)
	rest, found := strings.CutPrefix(l, "sip:")
	if !found {
		rest, found = strings.CutPrefix(l, "sips:")
	}
	host := rest
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if j := strings.IndexAny(host, ";?"); j >= 0 {
		host = host[:j]
	}
	if !found || checkHostPort(host) != nil {
		r.bad(key, v, "a SIP URI such as sip:collector@example.com")
		return
	}
	*dst = v
}

// finish reports every key of the section that no reader asked for.
func (r *sectionReader) finish() {
	for _, k := range r.sec.Keys() {
		name := k.Name()
		if contains(r.known, name) {
			continue
		}
		msg := "unknown key"
		if s := nearest(name, r.known); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		r.p.errs = append(r.p.errs, &Error{File: r.p.file, Line: r.p.line(r.name, name, 0), Section: r.name, Key: name, Msg: msg})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nearest returns the candidate closest to s by edit distance, or "" when
// none is close enough to be a likely typo.
func nearest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(s, c)
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := len(s)/3 + 1
	if limit < 2 {
		limit = 2
	}
	if bestD > limit && !strings.Contains(best, s) && !strings.Contains(s, best) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// validateControl checks [control]: an API reachable somehow, exact
// origins, and a loopback listener unless allow_remote says otherwise.
func (c *Config) validateControl(p *parser) {
	ctl := c.Control
	if ctl.Listen == ListenNone && ctl.SocketPath() == "" {
		p.fail("control", "listen", "none with unix_socket = none: the API would not be reachable")
	}
	for _, o := range ctl.AllowedOrigins {
		if strings.Contains(o, "*") {
			p.fail("control", "allowed_origins", fmt.Sprintf("%q holds a wildcard: list each origin in full, such as https://desktop.example.com", o))
			continue
		}
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			p.fail("control", "allowed_origins", fmt.Sprintf("%q is not an origin such as https://desktop.example.com", o))
		}
	}
	if ctl.Listen == "" || ctl.Listen == ListenNone {
		return
	}
	host, _, err := net.SplitHostPort(ctl.Listen)
	if err != nil {
		p.fail("control", "listen", fmt.Sprintf("%q is not host:port", ctl.Listen))
		return
	}
	switch {
	case isLoopbackHost(host):
	case !ctl.AllowRemote:
		p.fail("control", "listen", fmt.Sprintf("%q is not a loopback address: other machines could reach the API; set allow_remote = 1 to mean it, or listen on 127.0.0.1", ctl.Listen))
	default:
		p.warn("control", "allow_remote", fmt.Sprintf("the API listens on %q, beyond this machine: the token travels in clear; token-less Connector routes stay loopback-only", ctl.Listen))
	}
}

// isLoopbackHost reports whether a listen host is "localhost" or a
// loopback IP literal; "" (every address) is not.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
