package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// TestWebRTCOfferMismatch: an offer the connection's media cannot take is
// refused with 488 and a Warning that names what is missing, and the call
// shows in the events as refused for that reason. baresip calls the
// agent through Kamailio (no media gateway between them):
//   - a plain RTP/AVP offer to a connection whose media is webrtc;
//   - a DTLS-SRTP offer with ICE (baresip's dtls_srtp and ice) to a
//     connection whose media is rtp.
func TestWebRTCOfferMismatch(t *testing.T) {
	for _, tc := range []struct {
		name, media, mediaEnc, want string
	}{
		{"plain offer to webrtc", "webrtc", "", "UDP/TLS/RTP/SAVPF"},
		{"webrtc offer to rtp", "rtp", "dtls_srtp", "WebRTC offer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, WS: true})
			extra := fmt.Sprintf("auto_answer = 1\n[connectivity.0]\nuser = alice\npassword = %s\nserver = %s\nprotocol = ws\nmedia = %s\nreg_timeout = 60\n",
				k.Users()["alice"], k.WSAddr(), tc.media)
			mb := startMediaBedOn(t, testbed.PulseAudio, "", extra)
			k.WaitContacts(t, "alice", 1, 10*time.Second)
			b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: k.Users()["bob"], Registrar: k.Addr(), MediaEnc: tc.mediaEnc})
			if err := b.WaitRegistered(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := b.Dial("sip:alice@" + k.Addr()); err != nil {
				t.Fatal(err)
			}
			e, err := b.WaitEvent("CALL_CLOSED", 15*time.Second)
			if err != nil {
				t.Fatalf("baresip: %v\n%s", err, b.Log())
			}
			if !strings.Contains(e.Param, "488") {
				t.Errorf("baresip's call closed with %q, want 488", e.Param)
			}
			// The refusal's Warning, as Kamailio relayed it.
			if !testbed.WaitFor(10*time.Second, func() bool {
				return strings.Contains(k.Log(), "reply 488 INVITE") && strings.Contains(k.Log(), tc.want)
			}) {
				t.Errorf("no Warning naming %q in the 488:\n%s", tc.want, k.Log())
			}
			for _, l := range strings.Split(k.Log(), "\n") {
				if strings.Contains(l, "reply 488") {
					t.Log(strings.TrimSpace(l))
				}
			}
			waitEvent(t, mb.ev, "call", 10*time.Second, func(d json.RawMessage) bool {
				var c phone.CallInfo
				return json.Unmarshal(d, &c) == nil && c.State == "ended" && strings.Contains(c.Reason, tc.want)
			})
		})
	}
}

// TestWebRTCGatewayLost: the media gateway goes away in the middle of a
// WebRTC call. ICE consent checks stop being answered (RFC 7675), the
// transport fails, and the call ends with that reason and a
// webrtc_failed media event (rtp_timeout is off here, so it is ICE that
// notices).
func TestWebRTCGatewayLost(t *testing.T) {
	rtpe := testbed.StartRtpengine(t)
	k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, WS: true, RTPEngine: rtpe.NGAddr(), WebRTCUser: "alice"})
	extra := fmt.Sprintf("rtp_timeout = 0\n[connectivity.0]\nuser = alice\npassword = %s\nserver = %s\nprotocol = ws\nreg_timeout = 60\n",
		k.Users()["alice"], k.WSAddr())
	mb := startMediaBedOn(t, testbed.PulseAudio, "", extra)
	k.WaitContacts(t, "alice", 1, 10*time.Second)
	b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "bob", Password: k.Users()["bob"], Registrar: k.Addr(), AnswerMode: "auto", AudioSource: "ausine,440"})
	if err := b.WaitRegistered(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, mb.env, "dial", "-c", mb.cfg, "sip:bob@"+k.Addr()); code != 0 {
		t.Fatalf("dial: %s", errOut)
	}
	ci := mb.activeCall(t)
	if ci.Media.Transport != "webrtc" {
		t.Fatalf("media %+v, want webrtc", *ci.Media)
	}
	rtpe.Stop()
	waitEvent(t, mb.ev, "media", 60*time.Second, func(d json.RawMessage) bool {
		return strings.Contains(string(d), "webrtc_failed") && strings.Contains(string(d), "ICE connectivity lost")
	})
	waitEvent(t, mb.ev, "call", 10*time.Second, func(d json.RawMessage) bool {
		var c phone.CallInfo
		return json.Unmarshal(d, &c) == nil && c.ID == ci.ID && c.State == "ended" && strings.Contains(c.Reason, "ICE connectivity lost")
	})
}
