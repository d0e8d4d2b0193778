package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// TestWebRTCBrowserCalls: a browser is the other end. Headless Chromium
// runs a SIP.js phone registered over WebSocket at Kamailio, with no media
// gateway between it and the agent (connection media left at auto, so
// webrtc on ws): the browser's own WebRTC talks ICE and DTLS-SRTP to ours.
// The browser calls the agent (auto-answered), and the agent calls the
// browser; in each call the browser's fake microphone (a 440 Hz WAV) is
// heard at our headset and our microphone's 1 kHz in the browser's Web
// Audio analyser.
func TestWebRTCBrowserCalls(t *testing.T) {
	for _, dir := range []string{"browser calls the agent", "the agent calls the browser"} {
		t.Run(dir, func(t *testing.T) {
			k := testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, WS: true})
			extra := fmt.Sprintf("auto_answer = 1\n[connectivity.0]\nuser = alice\npassword = %s\nserver = %s\nprotocol = ws\nreg_timeout = 60\n",
				k.Users()["alice"], k.WSAddr())
			mb := startMediaBedOn(t, testbed.PulseAudio, "", extra)
			k.WaitContacts(t, "alice", 1, 10*time.Second)
			tone := filepath.Join(t.TempDir(), "tone440.wav")
			if err := testbed.WriteToneWAV(tone, 48000, 440, 30, 0.5); err != nil {
				t.Fatal(err)
			}
			bp := testbed.StartBrowserPhone(t, testbed.BrowserPhoneOptions{
				WS: "ws://" + k.WSAddr() + "/", AOR: "sip:carol@127.0.0.1", User: "carol", Password: k.Users()["carol"], Microphone: tone,
			})
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("browser errors %v\nkamailio log:\n%s", bp.Errors(t), k.Log())
				}
			})
			mb.pa.Play(t, feedSink, testbed.Tone(1000, 48000, 48000*30, 0.5), 48000)
			if strings.HasPrefix(dir, "browser") {
				bp.Call(t, "sip:alice@"+k.Addr())
			} else if _, errOut, code := runCLI(t, mb.env, "dial", "-c", mb.cfg, "sip:carol@"+k.Addr()); code != 0 {
				t.Fatalf("dial: %s", errOut)
			}
			ci := mb.activeCall(t)
			ci = mb.waitCall(t, "the ICE pair", 10*time.Second, func(ci phone.CallInfo) bool { return ci.Media.ICEPair != "" })
			if ci.Media.Transport != "webrtc" || ci.Media.DTLSRole == "" || !strings.EqualFold(ci.Media.Codec, "opus") {
				t.Errorf("media %+v, want webrtc with Opus, an ICE pair and a DTLS role", *ci.Media)
			}
			if s := bp.State(t); s != "Established" {
				t.Errorf("browser session %q, want Established", s)
			}
			// The browser's microphone at our headset; ours in the browser.
			mb.hearsTone(t, 440)
			if !testbed.WaitFor(10*time.Second, func() bool { return bp.Level(t, 1000) > 0.05 }) {
				t.Errorf("the browser does not hear our 1 kHz: level %.3f (440 Hz %.3f)", bp.Level(t, 1000), bp.Level(t, 440))
			}
			if l := bp.Level(t, 440); l > 0.05 {
				t.Errorf("the browser hears its own 440 Hz back: %.3f", l)
			}
			t.Logf("the browser hears 1 kHz at %.3f; ICE pair %s, our DTLS role %s", bp.Level(t, 1000), ci.Media.ICEPair, ci.Media.DTLSRole)
			bp.Hangup(t)
			if !testbed.WaitFor(10*time.Second, func() bool {
				calls, err := mb.client.Calls(t.Context())
				return err == nil && len(calls) == 0
			}) {
				t.Error("the call did not end on our side after the browser hung up")
			}
		})
	}
}
