package media

import (
	"errors"
	"strings"
	"testing"
)

// TestRemoteDirection is the one table of how a peer's SDP reads as hold or
// resume (RFC 3264 §5.1, §8.4): attributes at media and session level, the
// RFC 2543 zero connection address in IPv4 and IPv6, and the m-lines that do
// not count.
func TestRemoteDirection(t *testing.T) {
	const v4 = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	const v6 = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"
	const audio = "m=audio 4000 RTP/AVP 0\r\n"
	zero4 := strings.Replace(v4, "c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0", 1)
	zero6 := strings.Replace(v6, "c=IN IP6 2001:db8::1", "c=IN IP6 ::", 1)
	tests := []struct {
		name     string
		sdp      string
		want     Direction
		wantHold bool
		wantErr  bool
	}{
		{name: "no attribute is sendrecv", sdp: v4 + audio, want: SendRecv},
		{name: "a=sendrecv", sdp: v4 + audio + "a=sendrecv\r\n", want: SendRecv},
		{name: "a=sendonly holds", sdp: v4 + audio + "a=sendonly\r\n", want: SendOnly, wantHold: true},
		{name: "a=inactive holds", sdp: v4 + audio + "a=inactive\r\n", want: Inactive, wantHold: true},
		{name: "a=recvonly is no hold", sdp: v4 + audio + "a=recvonly\r\n", want: RecvOnly},
		{name: "session-level sendonly", sdp: v4 + "a=sendonly\r\n" + audio, want: SendOnly, wantHold: true},
		{name: "media level over session level", sdp: v4 + "a=sendonly\r\n" + audio + "a=sendrecv\r\n", want: SendRecv},
		{name: "c=0.0.0.0 holds", sdp: zero4 + audio, want: SendOnly, wantHold: true},
		{name: "c=0.0.0.0 with sendonly", sdp: zero4 + audio + "a=sendonly\r\n", want: SendOnly, wantHold: true},
		{name: "c=0.0.0.0 with recvonly is inactive", sdp: zero4 + audio + "a=recvonly\r\n", want: Inactive, wantHold: true},
		{name: "c=0.0.0.0 at media level", sdp: v4 + audio + "c=IN IP4 0.0.0.0\r\n", want: SendOnly, wantHold: true},
		{name: "media c= over session c=0.0.0.0", sdp: zero4 + audio + "c=IN IP4 192.0.2.9\r\n", want: SendRecv},
		{name: "c=0.0.0.0 with ICE is a placeholder", sdp: zero4 + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\n", want: SendRecv},
		{name: "ICE with sendonly holds", sdp: zero4 + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:abcd\r\na=sendonly\r\n", want: SendOnly, wantHold: true},
		{name: "ipv6 address", sdp: v6 + audio, want: SendRecv},
		{name: "ipv6 c=:: holds", sdp: zero6 + audio, want: SendOnly, wantHold: true},
		{name: "ipv6 c=:: with recvonly is inactive", sdp: zero6 + audio + "a=recvonly\r\n", want: Inactive, wantHold: true},
		{name: "ipv6 c=:: at media level", sdp: v6 + audio + "c=IN IP6 ::\r\n", want: SendOnly, wantHold: true},
		{name: "video line ignored", sdp: v4 + "m=video 5000 RTP/AVP 96\r\na=inactive\r\n" + audio, want: SendRecv},
		{name: "refused audio line skipped", sdp: v4 + "m=audio 0 RTP/AVP 0\r\na=inactive\r\n" + audio + "a=sendonly\r\n", want: SendOnly, wantHold: true},
		{name: "only the first audio line", sdp: v4 + audio + "m=audio 4002 RTP/AVP 0\r\na=inactive\r\n", want: SendRecv},
		{name: "no audio", sdp: v4 + "m=video 5000 RTP/AVP 96\r\n", wantErr: true},
		{name: "only refused audio", sdp: v4 + "m=audio 0 RTP/AVP 0\r\n", wantErr: true},
		{name: "malformed", sdp: "not sdp", wantErr: true},
		{name: "empty", sdp: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RemoteDirection([]byte(tc.sdp))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrNotAcceptable) {
					t.Fatalf("err = %v, want ErrNotAcceptable", err)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("direction = %s, want %s", got, tc.want)
			}
			if got.Holds() != tc.wantHold {
				t.Fatalf("%s.Holds() = %v, want %v", got, got.Holds(), tc.wantHold)
			}
		})
	}
}

// TestRemoteDirectionFiles reads the recorded hold offers the negotiator's
// tests use, so the two readings cannot drift apart.
func TestRemoteDirectionFiles(t *testing.T) {
	for file, want := range map[string]Direction{
		"hold_zero.sdp":          SendOnly,
		"hold_zero_recvonly.sdp": Inactive,
		"hold_sendonly.sdp":      SendOnly,
		"hold_inactive.sdp":      Inactive,
		"baresip_offer.sdp":      SendRecv,
		"ipv6_offer.sdp":         SendRecv,
	} {
		got, err := RemoteDirection(readSDP(t, file))
		if err != nil || got != want {
			t.Errorf("%s: RemoteDirection = %s, %v; want %s", file, got, err, want)
		}
	}
}
