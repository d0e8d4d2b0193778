package main

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/testbed"
)

// TestGenesysEndpointKeysE2E runs the daemon with a [policy.endpoint]
// written with the Genesys spellings and reads what it sends to a
// registrar: the SIP port moves up the sip_port_min–sip_port_max range past
// a busy port, the REGISTER carries signaling_qos in its TOS byte and the
// OS version in User-Agent, and a known key not acted on is named in one
// warning.
func TestGenesysEndpointKeysE2E(t *testing.T) {
	if !testbed.Integration() {
		t.Skip("set SOFTPHONE_INTEGRATION=1")
	}
	base := testbed.FreePort(t, 4)
	busy, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(base))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	reg := listenTOS(t)
	defer reg.Close()
	ctl := testbed.FreePort(t, 1)
	rtp := testbed.FreePort(t, 1)
	cfg := writeConfig(t, fmt.Sprintf(`[policy.endpoint]
sip_address = 127.0.0.1
sip_port_min = %d
sip_port_max = %d
rtp_port_min = %d
rtp_port_max = %d
signaling_qos = 104
audio_qos = 184
include_os_version_in_user_agent_header = 1
video_qos = 136

[policy.session]
dtmf_method = Rfc2833
rtp_inactivity_timeout = 20

[connectivity.0]
user = agent7
server = %s
reg_timeout = 60

[control]
listen = 127.0.0.1:%d
token_file = %s/token
`, base, base+3, rtp-rtp%2+2, rtp-rtp%2+20, reg.LocalAddr(), ctl, t.TempDir()))
	d := startDaemon(t, nil, cfg)
	if n := strings.Count(d.proc.Log(), "video_qos: is accepted but not acted on"); n != 1 {
		t.Errorf("video_qos warned %d times, want once:\n%s", n, d.proc.Log())
	}

	msg, tos := readTOS(t, reg, 20*time.Second)
	if !strings.HasPrefix(msg, "REGISTER ") {
		t.Fatalf("first message is not a REGISTER:\n%s", msg)
	}
	if tos != 104 {
		t.Errorf("REGISTER TOS byte = %d, want 104 (signaling_qos)", tos)
	}
	if m := regexp.MustCompile(`(?mi)^User-Agent: (.*)\r$`).FindStringSubmatch(msg); m == nil || !regexp.MustCompile(`^softphone/\S+ \(Linux [^)]+\)$`).MatchString(m[1]) {
		t.Errorf("User-Agent %q does not name the OS version", m)
	}
	if m := regexp.MustCompile(`(?mi)^Via: SIP/2.0/UDP [^:;]+:(\d+)`).FindStringSubmatch(msg); m == nil || m[1] != strconv.Itoa(base+1) {
		t.Errorf("Via sent-by port %v, want %d (sip_port_min %d is busy)", m, base+1, base)
	}
}

// listenTOS opens a UDP socket on loopback that reports each datagram's
// TOS byte (IP_RECVTOS).
func listenTOS(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_RECVTOS, 1) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return c
}

// readTOS reads one datagram and its TOS byte.
func readTOS(t *testing.T, c *net.UDPConn, timeout time.Duration) (string, int) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 65536), make([]byte, 512)
	n, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		t.Fatalf("nothing received: %v", err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_TOS && len(m.Data) > 0 {
			return string(buf[:n]), int(m.Data[0])
		}
	}
	t.Fatal("no IP_TOS control message")
	return "", 0
}
