package testbed

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of the baresip helper.
var (
	// ErrBaresipTimeout means an awaited event or answer did not come in time.
	ErrBaresipTimeout = errors.New("testbed: baresip: timeout")
	// ErrBaresipClosed means the control connection to baresip is closed.
	ErrBaresipClosed = errors.New("testbed: baresip: control connection closed")
	// ErrBaresipCommand means baresip answered a command with ok=false.
	ErrBaresipCommand = errors.New("testbed: baresip: command failed")
)

// Baresip event types sent on the control connection (baresip's
// ua_event names).
const (
	EventRegisterOK      = "REGISTER_OK"
	EventRegisterFail    = "REGISTER_FAIL"
	EventCallIncoming    = "CALL_INCOMING"
	EventCallOutgoing    = "CALL_OUTGOING"
	EventCallRinging     = "CALL_RINGING"
	EventCallProgress    = "CALL_PROGRESS"
	EventCallEstablished = "CALL_ESTABLISHED"
	EventCallRTPEstab    = "CALL_RTPESTAB"
	EventCallClosed      = "CALL_CLOSED"
)

// BaresipOptions describes a baresip user agent. The zero value is a UA
// with no account registration that answers manually and sends a 440 Hz
// sine in PCMU.
type BaresipOptions struct {
	// User is the account's user part (default "baresip").
	User string
	// Password answers digest challenges (auth_pass).
	Password string
	// Registrar is the "host:port" the account registers at; empty means
	// no registration (the UA is reached directly at URI()).
	Registrar string
	// Transport is "udp" (default), "tcp" or "tls" towards the registrar.
	Transport string
	// AnswerMode is "manual" (default: CALL_INCOMING, then Accept) or
	// "auto".
	AnswerMode string
	// AudioSource is what the UA sends: "" or "ausine" (a 440 Hz sine),
	// "ausine,HZ", "alsa,pulse" (the microphone of PulseEnv, through
	// ALSA's pulse plugin, at the codec's own rate and channels, as
	// baresip's users configure it), or the path of an S16LE WAV file
	// (see WriteToneWAV); a file's rate and channels are read from its
	// header. A file stops at its end, so make it longer than the call.
	AudioSource string
	// Codecs are the audio codecs offered, in order (default PCMU).
	// Known modules: PCMU/PCMA (g711), G722, opus.
	Codecs []string
	// PulseEnv, when set, plays received audio into PulseAudio through
	// ALSA's pulse plugin, with this extra environment (for example
	// PULSE_SERVER=..., PULSE_SINK=...). Otherwise audio goes to a
	// player that keeps real time and plays nowhere (aubridge).
	PulseEnv []string
	// Record writes the audio of each call as WAV files into RecordDir
	// (sndfile: "-enc.wav" is what was sent, "-dec.wav" what was received).
	Record bool
	// CAFile verifies a TLS registrar (sip_cafile).
	CAFile string
	// Regint is the re-registration interval in seconds (default 300).
	Regint int
	// AccountParams are extra ";name=value" account parameters.
	AccountParams []string
	// MediaEnc turns on media encryption: "srtp" (SDES offered, plain RTP
	// accepted), "srtp-mand" (SDES required) or "dtls_srtp" (DTLS-SRTP
	// with ICE, medianat=ice: baresip as a WebRTC peer); "" = off.
	MediaEnc string
	// RTPTimeout, in seconds, makes baresip end a sendrecv call when no
	// RTP arrived for that long (rtp_timeout); 0 = never.
	RTPTimeout int
}

// BaresipEvent is one event from baresip's control connection.
type BaresipEvent struct {
	Type       string `json:"type"`
	Class      string `json:"class"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	ID         string `json:"id"`
	Param      string `json:"param"`
	// Raw is the whole JSON object (it also holds rtcp_stats on CALL_RTCP).
	Raw string `json:"-"`
}

// BaresipResponse is baresip's answer to a command.
type BaresipResponse struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

// Baresip is a running baresip driven over its ctrl_tcp connection
// (JSON in netstrings). It is stopped at cleanup.
type Baresip struct {
	opts     BaresipOptions
	dir      string
	sipPort  int
	ctrlPort int
	rtpPort  int
	proc     *Process
	conn     net.Conn

	mu       sync.Mutex
	events   []BaresipEvent
	used     []bool
	changed  chan struct{} // closed and replaced on every new event
	pending  map[string]chan BaresipResponse
	token    int
	readErr  error
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// StartBaresip writes a configuration for o into a folder of its own,
// starts baresip on free ports, connects to its control port and, with a
// Registrar, waits until the account is registered.
func StartBaresip(t TB, o BaresipOptions) *Baresip {
	t.Helper()
	if o.User == "" {
		o.User = "baresip"
	}
	if o.Transport == "" {
		o.Transport = "udp"
	}
	if o.AnswerMode == "" {
		o.AnswerMode = "manual"
	}
	if len(o.Codecs) == 0 {
		o.Codecs = []string{"PCMU"}
	}
	if o.Regint == 0 {
		o.Regint = 300
	}
	b := &Baresip{
		opts:     o,
		dir:      Dir(t, "baresip-"+o.User),
		sipPort:  FreePort(t, 2),
		ctrlPort: FreePort(t, 1),
		rtpPort:  FreePort(t, 16),
		changed:  make(chan struct{}),
		pending:  map[string]chan BaresipResponse{},
	}
	cfg, err := b.config()
	if err != nil {
		t.Fatalf("baresip: %v", err)
	}
	if err := os.MkdirAll(b.RecordDir(), 0o755); err != nil {
		t.Fatalf("baresip: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config"), []byte(cfg), 0o644); err != nil {
		t.Fatalf("baresip: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "accounts"), []byte(b.account()+"\n"), 0o644); err != nil {
		t.Fatalf("baresip: %v", err)
	}
	// Empty contacts file: baresip would otherwise write an example one.
	if err := os.WriteFile(filepath.Join(b.dir, "contacts"), nil, 0o644); err != nil {
		t.Fatalf("baresip: %v", err)
	}
	b.proc = Start(t, b.dir, o.PulseEnv, "baresip", "-f", b.dir)
	var conn net.Conn
	ok := WaitFor(10*time.Second, func() bool {
		select {
		case <-b.proc.Done():
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.ctrlPort)), 200*time.Millisecond)
		if err != nil {
			return false
		}
		conn = c
		return true
	})
	if conn == nil || !ok {
		t.Fatalf("baresip: control port %d not reachable\n%s", b.ctrlPort, b.proc.Log())
	}
	if !WaitFor(5*time.Second, func() bool { return portBound("udp", b.sipPort) }) {
		conn.Close()
		t.Fatalf("baresip: sip port %d not bound\n%s", b.sipPort, b.proc.Log())
	}
	b.conn = conn
	b.wg.Add(1)
	go b.readLoop()
	t.Cleanup(b.Stop)
	if o.Registrar != "" {
		if err := b.WaitRegistered(10 * time.Second); err != nil {
			t.Fatalf("%v\n%s", err, b.proc.Log())
		}
	}
	return b
}

// URI is the UA's own contact, "sip:user@127.0.0.1:port" (with
// ;transport=tcp for TCP): dial it to reach the UA without a registrar.
func (b *Baresip) URI() string {
	u := "sip:" + b.opts.User + "@127.0.0.1:" + strconv.Itoa(b.sipPort)
	if b.opts.Transport == "tcp" {
		u += ";transport=tcp"
	}
	return u
}

// AOR is the account's address of record: "sip:user@registrar", or URI()
// without a registrar.
func (b *Baresip) AOR() string {
	if b.opts.Registrar == "" {
		return b.URI()
	}
	return "sip:" + b.opts.User + "@" + b.opts.Registrar
}

// SIPPort is the UDP/TCP SIP port (TLS is SIPPort()+1).
func (b *Baresip) SIPPort() int { return b.sipPort }

// RTPPorts returns the first and last port of the UA's RTP range.
func (b *Baresip) RTPPorts() (first, last int) { return b.rtpPort, b.rtpPort + 15 }

// Dir is the folder holding config, accounts and the log.
func (b *Baresip) Dir() string { return b.dir }

// RecordDir is where the sndfile module writes WAV files when Record is set.
func (b *Baresip) RecordDir() string { return filepath.Join(b.dir, "rec") }

// Recordings lists the WAV files written so far: dec (received audio)
// and enc (sent audio), sorted by name (which starts with the time).
func (b *Baresip) Recordings() (dec, enc []string) {
	dec, _ = filepath.Glob(filepath.Join(b.RecordDir(), "*-dec.wav"))
	enc, _ = filepath.Glob(filepath.Join(b.RecordDir(), "*-enc.wav"))
	sort.Strings(dec)
	sort.Strings(enc)
	return dec, enc
}

// Log returns everything baresip printed.
func (b *Baresip) Log() string { return b.proc.Log() }

// Stop closes the control connection and stops baresip. It is idempotent.
func (b *Baresip) Stop() {
	b.stopOnce.Do(func() {
		b.conn.Close()
		b.wg.Wait()
		b.proc.Stop()
	})
}

// Command sends a ctrl_tcp command (for example "dial", "sip:bob@...")
// and waits up to 5 s for its answer.
func (b *Baresip) Command(cmd, params string) (BaresipResponse, error) {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return BaresipResponse{}, ErrBaresipClosed
	}
	b.token++
	tok := strconv.Itoa(b.token)
	ch := make(chan BaresipResponse, 1)
	b.pending[tok] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, tok)
		b.mu.Unlock()
	}()
	msg, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": tok})
	if err != nil {
		return BaresipResponse{}, err
	}
	frame := strconv.Itoa(len(msg)) + ":" + string(msg) + ","
	if _, err := io.WriteString(b.conn, frame); err != nil {
		return BaresipResponse{}, fmt.Errorf("%w: %v", ErrBaresipClosed, err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			return r, fmt.Errorf("%w: %s %s: %s", ErrBaresipCommand, cmd, params, r.Data)
		}
		return r, nil
	case <-time.After(5 * time.Second):
		return BaresipResponse{}, fmt.Errorf("%w: no answer to %s", ErrBaresipTimeout, cmd)
	}
}

// Dial calls uri.
func (b *Baresip) Dial(uri string) error {
	_, err := b.Command("dial", uri)
	return err
}

// Accept answers the current incoming call.
func (b *Baresip) Accept() error {
	_, err := b.Command("accept", "")
	return err
}

// Hangup ends the current call; on an incoming call that is not answered
// yet it rejects it (baresip answers 486 Busy Here).
func (b *Baresip) Hangup() error {
	_, err := b.Command("hangup", "")
	return err
}

// Events returns a copy of every event received so far.
func (b *Baresip) Events() []BaresipEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BaresipEvent(nil), b.events...)
}

// WaitEvent returns the oldest event of type typ that no earlier
// WaitEvent returned, waiting up to timeout for it to arrive.
func (b *Baresip) WaitEvent(typ string, timeout time.Duration) (BaresipEvent, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		b.mu.Lock()
		for i, e := range b.events {
			if !b.used[i] && e.Type == typ {
				b.used[i] = true
				b.mu.Unlock()
				return e, nil
			}
		}
		changed, rerr := b.changed, b.readErr
		b.mu.Unlock()
		if rerr != nil {
			return BaresipEvent{}, fmt.Errorf("%w: waiting for %s: %v", ErrBaresipClosed, typ, rerr)
		}
		select {
		case <-changed:
		case <-timer.C:
			return BaresipEvent{}, fmt.Errorf("%w: no %s within %s; events: %s", ErrBaresipTimeout, typ, timeout, b.eventTypes())
		}
	}
}

func (b *Baresip) eventTypes() string {
	var s []string
	for _, e := range b.Events() {
		s = append(s, e.Type)
	}
	return strings.Join(s, ",")
}

// WaitRegistered waits until the account is registered: a REGISTER_OK
// event, or "OK" in the reginfo answer when the registration finished
// before the control connection was up.
func (b *Baresip) WaitRegistered(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b.mu.Lock()
		for i, e := range b.events {
			if e.Type == EventRegisterOK {
				b.used[i] = true
				b.mu.Unlock()
				return nil
			}
		}
		changed := b.changed
		b.mu.Unlock()
		if r, err := b.Command("reginfo", ""); err == nil && strings.Contains(r.Data, "OK") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s not registered within %s; events: %s", ErrBaresipTimeout, b.AOR(), timeout, b.eventTypes())
		}
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readLoop parses netstrings from the control connection until it is
// closed; responses go to their Command, events to the event list.
func (b *Baresip) readLoop() {
	defer b.wg.Done()
	r := bufio.NewReader(b.conn)
	var err error
	for {
		var msg []byte
		msg, err = readNetstring(r)
		if err != nil {
			break
		}
		var head struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		if json.Unmarshal(msg, &head) != nil {
			continue
		}
		switch {
		case head.Response:
			var resp BaresipResponse
			if json.Unmarshal(msg, &resp) != nil {
				continue
			}
			b.mu.Lock()
			if ch, ok := b.pending[resp.Token]; ok {
				ch <- resp
			}
			b.mu.Unlock()
		case head.Event:
			var ev BaresipEvent
			if json.Unmarshal(msg, &ev) != nil {
				continue
			}
			ev.Raw = string(msg)
			b.mu.Lock()
			b.events = append(b.events, ev)
			b.used = append(b.used, false)
			close(b.changed)
			b.changed = make(chan struct{})
			b.mu.Unlock()
		}
	}
	b.mu.Lock()
	b.readErr = err
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// readNetstring reads one "len:payload," frame.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[:len(head)-1]))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("testbed: baresip: bad netstring length %q", head)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("testbed: baresip: netstring without trailing comma")
	}
	return buf[:n], nil
}

func (b *Baresip) account() string {
	o := b.opts
	var a string
	if o.Registrar != "" {
		a = "<sip:" + o.User + "@" + o.Registrar
		if o.Transport != "udp" {
			a += ";transport=" + o.Transport
		}
		a += ">;regint=" + strconv.Itoa(o.Regint)
	} else {
		a = "<sip:" + o.User + "@127.0.0.1:" + strconv.Itoa(b.sipPort) + ">;regint=0"
	}
	if o.Password != "" {
		a += ";auth_pass=" + o.Password
	}
	// An account's codec list names Opus with its rate and channels
	// ("opus" alone is read as opus/8000/1, which does not exist, and
	// the whole list is then ignored).
	codecs := make([]string, len(o.Codecs))
	for i, c := range o.Codecs {
		codecs[i] = c
		if strings.EqualFold(c, "opus") {
			codecs[i] = "opus/48000/2"
		}
	}
	a += ";answermode=" + o.AnswerMode + ";audio_codecs=" + strings.Join(codecs, ",")
	if o.MediaEnc != "" {
		a += ";mediaenc=" + o.MediaEnc
	}
	if o.MediaEnc == "dtls_srtp" {
		a += ";medianat=ice"
	}
	for _, p := range o.AccountParams {
		a += ";" + strings.TrimPrefix(p, ";")
	}
	return a
}

func (b *Baresip) config() (string, error) {
	o := b.opts
	rtcpMux := "no"
	if o.MediaEnc == "dtls_srtp" {
		rtcpMux = "yes" // as WebRTC peers require (RFC 8834 §5.1.1)
	}
	lines := [][2]string{
		{"poll_method", "epoll"},
		// loopback for the Contact and the SDP c= line
		{"net_interface", "127.0.0.1"},
		// keep any DNS query on the machine; IP-literal URIs need none
		{"dns_server", "127.0.0.1:53"},
		{"sip_listen", "127.0.0.1:" + strconv.Itoa(b.sipPort)},
		{"rtp_ports", strconv.Itoa(b.rtpPort) + "-" + strconv.Itoa(b.rtpPort+15)},
		{"call_local_timeout", "120"},
		{"call_max_calls", "4"},
		{"module_path", "/usr/lib/baresip/modules"},
		{"audio_path", "/usr/share/baresip"},
		{"audio_alert", "alsa,null"},
		{"audio_level", "no"},
		{"ausrc_format", "s16"},
		{"auplay_format", "s16"},
		{"auenc_format", "s16"},
		{"audec_format", "s16"},
		{"audio_buffer", "20-160"},
		{"rtcp_mux", rtcpMux},
		{"jitter_buffer_delay", "5-10"},
		{"rtp_stats", "no"},
		{"ctrl_tcp_listen", "127.0.0.1:" + strconv.Itoa(b.ctrlPort)},
		{"snd_path", b.RecordDir()},
	}
	if o.CAFile != "" {
		lines = append(lines, [2]string{"sip_cafile", o.CAFile})
	}
	if o.RTPTimeout > 0 {
		lines = append(lines, [2]string{"rtp_timeout", strconv.Itoa(o.RTPTimeout)})
	}
	if len(o.PulseEnv) > 0 {
		lines = append(lines, [2]string{"audio_player", "alsa,pulse"})
	} else {
		// A player nobody hears that still keeps real time: aubridge's,
		// with no source on its bridge. ALSA's null device takes every
		// write at once, so baresip's playback thread spun a whole core
		// for as long as a call lasted.
		lines = append(lines, [2]string{"audio_player", "aubridge,void"})
	}
	src := o.AudioSource
	switch {
	case src == "" || src == "ausine":
		src = "ausine,440"
		fallthrough
	case strings.HasPrefix(src, "ausine,"):
		// ausine only produces 48 kHz stereo; baresip resamples it
		lines = append(lines, [2]string{"audio_source", src},
			[2]string{"ausrc_srate", "48000"}, [2]string{"ausrc_channels", "2"})
	case strings.HasPrefix(src, "alsa,"):
		// No ausrc_srate/ausrc_channels: the device opens at the codec's
		// rate and channels, and the sound server converts.
		lines = append(lines, [2]string{"audio_source", src})
	default:
		rate, ch, err := wavFormat(src)
		if err != nil {
			return "", err
		}
		lines = append(lines, [2]string{"audio_source", "aufile," + src},
			[2]string{"ausrc_srate", strconv.Itoa(rate)}, [2]string{"ausrc_channels", strconv.Itoa(ch)})
	}
	mods := []string{"g711.so", "aufile.so", "ausine.so", "alsa.so", "aubridge.so", "ctrl_tcp.so"}
	for _, c := range o.Codecs {
		switch strings.ToLower(strings.SplitN(c, "/", 2)[0]) {
		case "opus":
			mods = append(mods, "opus.so")
		case "g722":
			mods = append(mods, "g722.so")
		}
	}
	if o.Record {
		mods = append(mods, "sndfile.so")
	}
	switch o.MediaEnc {
	case "":
	case "dtls_srtp":
		mods = append(mods, "dtls_srtp.so", "ice.so")
	default:
		mods = append(mods, "srtp.so")
	}
	var s strings.Builder
	s.WriteString("# baresip configuration generated by internal/testbed\n")
	for _, l := range lines {
		fmt.Fprintf(&s, "%-24s%s\n", l[0], l[1])
	}
	for _, m := range mods {
		fmt.Fprintf(&s, "%-24s%s\n", "module", m)
	}
	s.WriteString("module_tmp              uuid.so\nmodule_tmp              account.so\nmodule_app              menu.so\n")
	return s.String(), nil
}

// WriteToneWAV writes a mono S16LE WAV file holding a sine of hz at the
// given sample rate, seconds long, with amplitude as a fraction of full
// scale (0..1).
func WriteToneWAV(path string, rate, hz int, seconds, amplitude float64) error {
	if rate <= 0 || hz <= 0 || seconds <= 0 || amplitude < 0 || amplitude > 1 {
		return fmt.Errorf("testbed: tone wav: bad parameters rate=%d hz=%d seconds=%g amplitude=%g", rate, hz, seconds, amplitude)
	}
	n := int(float64(rate) * seconds)
	data := make([]byte, 44+2*n)
	copy(data[0:], "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1) // PCM
	binary.LittleEndian.PutUint16(data[22:], 1) // mono
	binary.LittleEndian.PutUint32(data[24:], uint32(rate))
	binary.LittleEndian.PutUint32(data[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		v := amplitude * 32767 * math.Sin(2*math.Pi*float64(hz)*float64(i)/float64(rate))
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(int16(math.Round(v))))
	}
	return os.WriteFile(path, data, 0o644)
}

// ReadWAV reads a PCM S16LE WAV file (such as a baresip recording) and
// returns its sample rate, channel count and interleaved samples.
func ReadWAV(path string) (rate, channels int, samples []int16, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0, 0, nil, fmt.Errorf("testbed: wav %s: not a RIFF/WAVE file", path)
	}
	bits := 0
	for off := 12; off+8 <= len(b); {
		id := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4:]))
		body := b[off+8:]
		if size > len(body) || (id == "data" && size == 0) {
			// a recording still being written may not have its size yet
			size = len(body)
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return 0, 0, nil, fmt.Errorf("testbed: wav %s: short fmt chunk", path)
			}
			if f := binary.LittleEndian.Uint16(body[0:]); f != 1 {
				return 0, 0, nil, fmt.Errorf("testbed: wav %s: format %d is not PCM", path, f)
			}
			channels = int(binary.LittleEndian.Uint16(body[2:]))
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			bits = int(binary.LittleEndian.Uint16(body[14:]))
		case "data":
			if bits != 16 {
				return 0, 0, nil, fmt.Errorf("testbed: wav %s: %d bits per sample, want 16", path, bits)
			}
			samples = make([]int16, size/2)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return rate, channels, samples, nil
		}
		off += 8 + size + size%2
	}
	return 0, 0, nil, fmt.Errorf("testbed: wav %s: no data chunk", path)
}

func wavFormat(path string) (rate, channels int, err error) {
	rate, channels, _, err = ReadWAV(path)
	return rate, channels, err
}
