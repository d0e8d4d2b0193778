package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// mediaBed is a daemon whose output is a virtual headset (recorded from its
// monitor) and whose input is a separate virtual microphone fed by paplay,
// so what we send and what we play can be told apart.
type mediaBed struct {
	*daemon
	pa              *testbed.Pulse
	ev              <-chan phone.Event
	out, spare      *testbed.Headset
	feedMod, micMod int    // the feed sink and its microphone
	sipAddr         string // the daemon's SIP address, "127.0.0.1:port"
}

const (
	feedSink = "feed"
	feedMic  = "Feed Mic"
)

func startMediaBed(t *testing.T, endpoint, extra string) *mediaBed {
	t.Helper()
	return startMediaBedOn(t, testbed.PulseAudio, endpoint, extra)
}

// startMediaBedOn is startMediaBed on the named sound server.
func startMediaBedOn(t *testing.T, srv testbed.SoundServer, endpoint, extra string) *mediaBed {
	t.Helper()
	testbed.Require(t, "parec", "paplay", "baresip")
	pa := testbed.StartSoundServer(t, srv)
	out := pa.AddHeadset(t, "jabra_evolve2_65", jabra)
	spare := pa.AddHeadset(t, "spare", "Spare Headset")
	feedMod, micMod := addFeed(t, pa)
	base, sipPort := daemonConfig(t)
	base = strings.Replace(base, "[policy.endpoint]\n", "[policy.endpoint]\n"+endpoint, 1)
	cfg := writeConfig(t, base+`
[policy.device]
audio_in_device = `+feedMic+`
audio_out_device = `+jabra+`
audio_out_device = Spare Headset
device_poll_interval = 100ms
[policy.session]
zip_tone = 0
; The tests feed test tones into the microphone: a steady tone is
; stationary noise to the noise suppressor, which would take it off.
noise_suppression = 0
echo_cancellation = 0
`+extra)
	d := startDaemon(t, pa.Env(), cfg)
	return &mediaBed{daemon: d, pa: pa, ev: d.events(t), out: out, spare: spare, feedMod: feedMod, micMod: micMod,
		sipAddr: "127.0.0.1:" + strconv.Itoa(sipPort)}
}

// addFeed adds the feed sink and the microphone that records it, and
// returns their module indexes.
func addFeed(t *testing.T, pa *testbed.Pulse) (feedMod, micMod int) {
	t.Helper()
	feedMod = pa.AddSink(t, feedSink, "Feed")
	micMod = pa.LoadModule(t, "module-remap-source", "source_name=feed_mic", "master="+feedSink+".monitor",
		`source_properties='device.description="`+feedMic+`"'`)
	return feedMod, micMod
}

// activeCall waits until the only call is up and media flows both ways.
func (mb *mediaBed) activeCall(t *testing.T) phone.CallInfo {
	t.Helper()
	return mb.waitCall(t, "two-way media", 15*time.Second, func(ci phone.CallInfo) bool {
		return ci.Media.PacketsReceived > 50 && ci.Media.PacketsSent > 50
	})
}

// waitCall waits until the daemon has one call, up, with media figures,
// for which ok holds, and returns it; it fails t naming what after timeout.
func (mb *mediaBed) waitCall(t *testing.T, what string, timeout time.Duration, ok func(phone.CallInfo) bool) phone.CallInfo {
	t.Helper()
	var calls []phone.CallInfo
	var err error
	if !testbed.WaitFor(timeout, func() bool {
		calls, err = mb.client.Calls(context.Background())
		return err == nil && len(calls) == 1 && calls[0].State == "active" && calls[0].Media != nil && ok(calls[0])
	}) {
		var media []byte
		if len(calls) > 0 {
			media, _ = json.Marshal(calls[0].Media)
		}
		t.Fatalf("no %s within %s: calls %+v %v; media %s\n%s", what, timeout, calls, err, media, mb.proc.Log())
	}
	return calls[0]
}

// answeredCall has sipp call the daemon (which answers: auto_answer=1)
// and waits until the call is up; sipp then waits for the daemon's BYE.
func (mb *mediaBed) answeredCall(t *testing.T) *testbed.Sipp {
	t.Helper()
	s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_wait_bye.xml", Target: mb.sipAddr, Service: "agent", Timeout: 60 * time.Second})
	waitEvent(t, mb.ev, "call", 15*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), `"state":"active"`) })
	return s
}

// hangUp ends the only call from the daemon and waits for sipp to see it.
func (mb *mediaBed) hangUp(t *testing.T, s *testbed.Sipp) {
	t.Helper()
	if err := mb.client.Hangup(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Wait(15 * time.Second); err != nil {
		t.Errorf("sipp: %v", err)
	}
}

// TestCallAudioBothWays: for each codec, with SRTP off and on, baresip
// sends a 440 Hz tone that must come out of our headset, and a 1 kHz tone
// fed into our microphone must reach baresip.
func TestCallAudioBothWays(t *testing.T) {
	for _, codec := range []string{"PCMU", "PCMA", "G722", "opus"} {
		for _, srtp := range []bool{false, true} {
			name := codec
			if srtp {
				name += "+SRTP"
			}
			t.Run(name, func(t *testing.T) { testCallAudio(t, testbed.PulseAudio, codec, srtp) })
		}
	}
}

// testCallAudio is one TestCallAudioBothWays call on the named sound
// server.
func testCallAudio(t *testing.T, srv testbed.SoundServer, codec string, srtp bool) {
	mode := ""
	if srtp {
		mode = "srtp"
	}
	testCallAudioWith(t, srv, codec, mode)
}

// TestWebRTCGatewayCallAudio: the agent registers over SIP over
// WebSocket at Kamailio (websocket module) with rtpengine as its WebRTC
// media gateway, its connection's media left at auto (webrtc on ws); it
// calls baresip, registered over UDP with plain RTP, and baresip calls it
// (auto-answered). rtpengine gives the agent ICE and DTLS-SRTP (passive)
// with rtcp-mux and a=mid, and baresip plain RTP/AVP: the tones go both
// ways (PCMU and Opus), the call shows webrtc with its ICE pair and DTLS
// role, holds and resumes with re-INVITEs, carries DTMF, and (outgoing
// PCMU and Opus) moves to the spare headset when ours is unplugged.
func TestWebRTCGatewayCallAudio(t *testing.T) {
	for _, codec := range []string{"PCMU", "opus"} {
		t.Run(codec, func(t *testing.T) { testCallAudioWith(t, testbed.PulseAudio, codec, "gateway") })
		t.Run(codec+"/incoming", func(t *testing.T) { testCallAudioWith(t, testbed.PulseAudio, codec, "gateway-in") })
	}
}

// TestWebRTCRelayCallAudio: as TestWebRTCGatewayCallAudio, with
// ice_policy = relay and a TURN server (coturn): the call's media goes
// through the relay, tones both ways.
func TestWebRTCRelayCallAudio(t *testing.T) {
	testCallAudioWith(t, testbed.PulseAudio, "PCMU", "relay")
}

// testCallAudioWith is one call of the audio tests: mode "" is plain RTP
// straight to baresip, "srtp" SDES-SRTP (mandatory), "gateway" WebRTC
// media through Kamailio over WebSocket and rtpengine ("gateway-in":
// baresip calls; "relay": our media through a TURN relay too).
func testCallAudioWith(t *testing.T, srv testbed.SoundServer, codec, mode string) {
	endpoint, extra := "", ""
	srtp := mode != ""
	bo := testbed.BaresipOptions{User: "peer", AnswerMode: "auto", Codecs: []string{codec}, Record: true}
	var k *testbed.Kamailio
	var turn *testbed.Coturn
	switch mode {
	case "srtp":
		endpoint = "srtp = mandatory\nsrtp_over_insecure_signalling = 1\n"
		bo.MediaEnc = "srtp-mand"
	case "gateway", "gateway-in", "relay":
		if mode == "relay" {
			turn = testbed.StartCoturn(t)
			u, pw := turn.Credentials()
			endpoint = fmt.Sprintf("ice_policy = relay\nturn_server = %s\nturn_user = %s\nturn_password = %s\n", turn.Addr(), u, pw)
		}
		rtpe := testbed.StartRtpengine(t)
		k = testbed.StartKamailio(t, testbed.KamailioOptions{Auth: true, WS: true, RTPEngine: rtpe.NGAddr(), WebRTCUser: "alice"})
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("kamailio log:\n%s\nrtpengine log:\n%s", k.Log(), rtpe.Log())
			}
		})
		extra = fmt.Sprintf("[connectivity.0]\nuser = alice\npassword = %s\nserver = %s\nprotocol = ws\nreg_timeout = 60\n", k.Users()["alice"], k.WSAddr())
		bo.User, bo.Password, bo.Registrar = "bob", k.Users()["bob"], k.Addr()
		if mode == "gateway-in" {
			extra = "auto_answer = 1\n" + extra
		}
	}
	mb := startMediaBedOn(t, srv, endpoint, extra)
	if k != nil {
		k.WaitContacts(t, "alice", 1, 10*time.Second)
	}
	tone := filepath.Join(t.TempDir(), "tone440.wav")
	rate := 8000
	if codec == "G722" {
		rate = 16000
	}
	if codec == "opus" {
		rate = 48000
	}
	if err := testbed.WriteToneWAV(tone, rate, 440, 30, 0.5); err != nil {
		t.Fatal(err)
	}
	bo.AudioSource = tone
	b := testbed.StartBaresip(t, bo)
	target := b.URI()
	if k != nil {
		target = "sip:bob@" + k.Addr()
	}
	// Our microphone hears a 1 kHz tone for the whole call.
	mb.pa.Play(t, feedSink, testbed.Tone(1000, 48000, 48000*30, 0.5), 48000)
	if mode == "gateway-in" {
		// baresip calls the agent through Kamailio and rtpengine.
		if err := b.WaitRegistered(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := b.Dial("sip:alice@" + k.Addr()); err != nil {
			t.Fatal(err)
		}
	} else if _, errOut, code := runCLI(t, mb.env, "dial", "-c", mb.cfg, target); code != 0 {
		t.Fatalf("dial: %s", errOut)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("baresip log:\n%s", b.Log())
		}
	})
	ci := mb.activeCall(t)
	if !strings.EqualFold(ci.Media.Codec, codec) || ci.Media.SRTP != srtp {
		t.Errorf("media %+v, want %s srtp=%v", ci.Media, codec, srtp)
	}
	if k != nil {
		ci = mb.waitCall(t, "the ICE pair", 10*time.Second, func(ci phone.CallInfo) bool { return ci.Media.ICEPair != "" })
		if ci.Media.Transport != "webrtc" || ci.Media.DTLSRole == "" {
			t.Errorf("media %+v, want webrtc with an ICE pair and a DTLS role", ci.Media)
		}
		if turn != nil {
			// ice_policy = relay: our side of the pair is the TURN
			// server's relay, which granted the allocation.
			local, _, _ := strings.Cut(ci.Media.ICEPair, "<->")
			first, last := turn.RelayPorts()
			port := 0
			if f := strings.Fields(local); len(f) >= 3 {
				if ap, err := netip.ParseAddrPort(f[2]); err == nil {
					port = int(ap.Port())
				}
			}
			if !strings.Contains(local, "relay") || port < first || port > last {
				t.Errorf("ICE pair %q, want our side on a relay port of coturn's (%d-%d)", ci.Media.ICEPair, first, last)
			}
		}
	}
	// What comes out of our headset: the 440 Hz tone.
	mb.hearsTone(t, 440)
	if k != nil {
		// Hold and resume are re-INVITEs on the same ICE and DTLS
		// session; DTMF goes as RFC 4733 events through the gateway;
		// and the tone comes back after the resume.
		ctx := context.Background()
		for _, step := range []struct {
			state string
			do    func(context.Context, string) error
		}{{"held", mb.client.Hold}, {"active", mb.client.Resume}} {
			if err := step.do(ctx, ci.ID); err != nil {
				t.Fatalf("%s: %v", step.state, err)
			}
			waitEvent(t, mb.ev, "call", 15*time.Second, func(d json.RawMessage) bool {
				var c phone.CallInfo
				return json.Unmarshal(d, &c) == nil && c.State == step.state
			})
		}
		if err := mb.client.DTMF(ctx, ci.ID, "12#"); err != nil {
			t.Fatal(err)
		}
		var digits []string
		for range 3 {
			e, err := b.WaitEvent("CALL_DTMF_START", 10*time.Second)
			if err != nil {
				t.Fatalf("baresip did not receive our DTMF: %v", err)
			}
			digits = append(digits, e.Param)
		}
		if strings.Join(digits, "") != "12#" {
			t.Errorf("baresip received DTMF %q, want 12#", digits)
		}
		mb.hearsTone(t, 440)
		if c := mb.waitCall(t, "the call's figures", 10*time.Second, func(ci phone.CallInfo) bool { return ci.Media.RTCPReceived > 0 }); c.Media.MOS < 3.5 {
			t.Errorf("media figures after the resume: %+v", *c.Media)
		}
		if mode == "gateway" {
			// The headset is unplugged mid-call: the WebRTC call stays up
			// and its audio moves to the spare headset, as a plain one's.
			mb.out.Unplug(t)
			waitEvent(t, mb.ev, "media", 10*time.Second, func(d json.RawMessage) bool {
				return strings.Contains(string(d), "devices_switched") && strings.Contains(string(d), "Spare Headset")
			})
			if !testbed.WaitFor(10*time.Second, func() bool { return mb.hears(t, "spare", 440, 1500*time.Millisecond) > 0.1 }) {
				t.Error("no tone on the spare headset after the unplug")
			}
			mb.out.Plug(t)
			waitEvent(t, mb.ev, "media", 10*time.Second, func(d json.RawMessage) bool {
				return strings.Contains(string(d), "devices_switched") && strings.Contains(string(d), jabra)
			})
			mb.waitCall(t, "the call after the headset came back", 5*time.Second, func(phone.CallInfo) bool { return true })
		}
	}
	if err := mb.client.Hangup(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent("CALL_CLOSED", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// What baresip received: our 1 kHz tone.
	var dec []string
	testbed.WaitFor(5*time.Second, func() bool { dec, _ = b.Recordings(); return len(dec) > 0 })
	if len(dec) == 0 {
		t.Fatal("baresip recorded nothing")
	}
	r, ch, samples, err := testbed.ReadWAV(dec[len(dec)-1])
	if err != nil {
		t.Fatal(err)
	}
	if ch == 2 { // baresip decodes Opus to stereo: keep the left channel
		for i := 0; 2*i < len(samples); i++ {
			samples[i] = samples[2*i]
		}
		samples = samples[:len(samples)/2]
	}
	if len(samples) > 2*r {
		samples = samples[len(samples)-2*r:] // the last 2 s
	}
	if l := maxLevel(samples, 1000, r); l < 0.3 {
		t.Errorf("1 kHz at baresip: level %.3f over %d samples at %d Hz", l, len(samples), r)
	}
}

// hearsTone records our headset for 4 s and fails t unless the last 2 s
// carry hz, clean of the 1 kHz our microphone hears. (A PulseAudio null
// sink stalls for about 2 s after a stream's first period; the last
// seconds of the recording are past that.)
func (mb *mediaBed) hearsTone(t *testing.T, hz float64) {
	t.Helper()
	before := mb.callMedia(t)
	rec := mb.pa.Record(t, mb.out.SinkName+".monitor", 16000)
	time.Sleep(4 * time.Second) // recording length, not synchronisation
	got := rec.Stop(t)
	after := mb.callMedia(t)
	// The playout kept to the packets' pace: every frame concealed stands
	// for a packet lost or late. A playout that ran ahead of the packets
	// concealed 5 to 20 % of its frames, with nothing lost or late, and
	// the playback queue trimmed as much again.
	concealed := after.FramesConcealed - before.FramesConcealed
	missing := after.PacketsLate - before.PacketsLate + uint64(max(after.PacketsLost-before.PacketsLost, 0))
	if concealed > missing+2 {
		t.Errorf("%.0f Hz: %d frames concealed in 4 s with %d packets lost or late (%.0f ms trimmed at the output); media %+v",
			hz, concealed, missing, after.OutputTrimmedMillis-before.OutputTrimmedMillis, after)
	}
	if len(got) > 2*16000 {
		got = got[len(got)-2*16000:] // the last 2 s
	}
	// The best 250 ms window: a loaded test machine may starve a stream
	// for a moment; the tone must be there, clean.
	if l := maxLevel(got, hz, 16000); l < 0.3 {
		calls, _ := mb.client.Calls(context.Background())
		var media []byte
		if len(calls) > 0 {
			media, _ = json.Marshal(calls[0].Media)
		}
		t.Errorf("%.0f Hz at our output: best level %.3f (recorded %d samples); calls %+v %s\n%s", hz, l, len(got), calls, media, mb.proc.Log())
	}
	if hz != 1000 {
		if l := maxLevel(got, 1000, 16000); l > 0.05 {
			t.Errorf("our own 1 kHz leaks into our output: level %.3f", l)
		}
	}
	// And it is whole: at most a tenth of its 20 ms blocks under half
	// its level (a starved moment on a loaded machine, not a playout
	// that skips frames, which cut a fifth to a half of them).
	if bad, _ := testbed.Dropouts(got, 16000, hz, 20*time.Millisecond, 0.5); bad > len(got)/320/10 {
		calls, _ := mb.client.Calls(context.Background())
		var media []byte
		if len(calls) > 0 {
			media, _ = json.Marshal(calls[0].Media)
		}
		t.Errorf("%.0f Hz at our output: %d of %d blocks of 20 ms drop out; media %s", hz, bad, len(got)/320, media)
	}
}

// callMedia returns the media figures of the daemon's call.
func (mb *mediaBed) callMedia(t *testing.T) phone.MediaInfo {
	t.Helper()
	return *mb.waitCall(t, "the call's figures", 5*time.Second, func(phone.CallInfo) bool { return true }).Media
}

// TestUnplugMidCall: the output headset is unplugged during a call, on
// PulseAudio and on PipeWire; the call stays up and the tone goes on on the next device the policy
// selects; plugged back, it returns.
func TestUnplugMidCall(t *testing.T) {
	testbed.EachSoundServer(t, testUnplugMidCall)
}

func testUnplugMidCall(t *testing.T, srv testbed.SoundServer) {
	mb := startMediaBedOn(t, srv, "", "")
	b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "peer", AnswerMode: "auto", AudioSource: "ausine,440"})
	if _, errOut, code := runCLI(t, mb.env, "dial", "-c", mb.cfg, b.URI()); code != 0 {
		t.Fatalf("dial: %s", errOut)
	}
	mb.activeCall(t)
	hears := func(sink string) float64 { t.Helper(); return mb.hears(t, sink, 440, 1500*time.Millisecond) }
	// (A PulseAudio null sink stalls for about 2 s after a stream starts:
	// listen until the tone is there.)
	if !testbed.WaitFor(10*time.Second, func() bool { return hears(mb.out.SinkName) > 0.1 }) {
		t.Fatal("no tone on the headset before the unplug")
	}
	mb.out.Unplug(t)
	waitEvent(t, mb.ev, "media", 10*time.Second, func(d json.RawMessage) bool {
		return strings.Contains(string(d), "devices_switched") && strings.Contains(string(d), "Spare Headset")
	})
	testbed.WaitFor(5*time.Second, func() bool { return hears("spare") > 0.1 })
	if l := hears("spare"); l < 0.1 {
		t.Errorf("no tone on the spare headset after the unplug: %.3f", l)
	}
	calls, err := mb.client.Calls(context.Background())
	if err != nil || len(calls) != 1 || calls[0].State != "active" {
		t.Fatalf("the call did not survive the unplug: %+v %v", calls, err)
	}
	if m := calls[0].Media; m.Output != "Spare Headset" || m.DeviceSwitches == 0 || m.OutputGapMillis <= 0 {
		t.Errorf("media after the switch: output %q, %d switches, gap %.1f ms", m.Output, m.DeviceSwitches, m.OutputGapMillis)
	} else {
		t.Logf("output switch gap %.1f ms", m.OutputGapMillis)
	}
	mb.out.Plug(t)
	waitEvent(t, mb.ev, "media", 10*time.Second, func(d json.RawMessage) bool {
		return strings.Contains(string(d), "devices_switched") && strings.Contains(string(d), jabra)
	})
	testbed.WaitFor(5*time.Second, func() bool { return hears(mb.out.SinkName) > 0.1 })
	if l := hears(mb.out.SinkName); l < 0.1 {
		t.Errorf("no tone on the headset after it came back: %.3f", l)
	}
	if _, err := b.WaitEvent("CALL_CLOSED", 100*time.Millisecond); err == nil {
		t.Error("baresip saw the call close")
	}
}

// maxLevel is the strongest 250 ms window of a tone in a recording.
func maxLevel(samples []int16, hz float64, rate int) float64 {
	best, win := 0.0, rate/4
	for i := 0; i+win <= len(samples); i += win / 2 {
		best = max(best, testbed.ToneLevel(samples[i:i+win], hz, rate))
	}
	return best
}

// TestRingingAndNoDeviceLeft: a ringing call rings on the selected output
// and on the ringing_device entries; once answered, with every device
// unplugged the call stays up (media goes on) and an event says so. On
// PipeWire the "Dummy Output" left then is not taken for a device.
func TestRingingAndNoDeviceLeft(t *testing.T) {
	testbed.EachSoundServer(t, testRingingAndNoDeviceLeft)
}

func testRingingAndNoDeviceLeft(t *testing.T, srv testbed.SoundServer) {
	mb := startMediaBedOn(t, srv, "", "auto_answer = 0\n[policy.device]\nringing_device = Spare\n")
	s := testbed.StartSipp(t, testbed.SippOptions{Scenario: "invite_ring_then_200.xml", Target: mb.sipAddr, Service: "agent",
		Pause: 30 * time.Second, Timeout: 60 * time.Second})
	waitEvent(t, mb.ev, "call", 15*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), `"state":"ringing"`) })
	// The cadence is 1 s of 425 Hz every 5 s: 7 s of recording hold one
	// burst past the null sinks' start-up stall.
	recOut := mb.pa.Record(t, mb.out.SinkName+".monitor", 16000)
	recSpare := mb.pa.Record(t, "spare.monitor", 16000)
	time.Sleep(7 * time.Second) // recording length
	if l := maxLevel(recOut.Stop(t), 425, 16000); l < 0.1 {
		t.Errorf("no ring tone on the headset: %.3f", l)
	}
	if l := maxLevel(recSpare.Stop(t), 425, 16000); l < 0.1 {
		t.Errorf("no ring tone on the ringing_device: %.3f", l)
	}
	if err := mb.client.Answer(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, mb.ev, "call", 15*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), `"state":"active"`) })

	// Every device goes away.
	mb.out.Unplug(t)
	mb.spare.Unplug(t)
	mb.pa.UnloadModule(t, mb.micMod)
	mb.pa.UnloadModule(t, mb.feedMod)
	// The modules go one after the other: the no_device event (said once,
	// when the call first lacks a device) may still name the feed sink as
	// the fallback output; the move that follows leaves none on either side.
	waitEvent(t, mb.ev, "media", 15*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), "no_device") })
	mb.waitCall(t, "no device on either side", 15*time.Second, func(ci phone.CallInfo) bool {
		return ci.Media != nil && ci.Media.Input == "none" && ci.Media.Output == "none"
	})
	calls, err := mb.client.Calls(context.Background())
	if err != nil || len(calls) != 1 || calls[0].Media == nil {
		t.Fatalf("calls: %+v %v", calls, err)
	}
	before := calls[0].Media.PacketsSent
	if !testbed.WaitFor(5*time.Second, func() bool {
		calls, err := mb.client.Calls(context.Background())
		return err == nil && len(calls) == 1 && calls[0].State == "active" && calls[0].Media.PacketsSent > before+25
	}) {
		t.Errorf("with no device left the call stopped or sends nothing: %+v", calls)
	}
	if err := mb.client.Hangup(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	s.Stop()
}

// TestHeadsetFlapsDuringACall: the headset's plug flaps (unplugged and
// plugged back 15 times in quick succession, as a loose USB connector
// does) during an answered call, on PulseAudio and on PipeWire. The daemon survives, the call stays up,
// and once the flapping stops the call's audio is back on the headset.
func TestHeadsetFlapsDuringACall(t *testing.T) {
	testbed.EachSoundServer(t, testHeadsetFlapsDuringACall)
}

func testHeadsetFlapsDuringACall(t *testing.T, srv testbed.SoundServer) {
	mb := startMediaBedOn(t, srv, "", "auto_answer = 1\n")
	s := mb.answeredCall(t)
	for range 15 {
		mb.out.Unplug(t)
		mb.out.Plug(t)
	}
	// The daemon saw the headset go at least once.
	waitEvent(t, mb.ev, "media", 15*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), "devices_switched") })
	ci := mb.waitCall(t, "the call's audio on the headset after the flapping", 15*time.Second, func(ci phone.CallInfo) bool {
		return ci.Media.Output == jabra
	})
	t.Logf("after 15 flaps: output %s, switches gap max %.1f ms", ci.Media.Output, ci.Media.OutputMaxGap)
	mb.hangUp(t, s)
}
