package main

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/softphone/softphone/internal/control"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/testbed"
)

// Mute and hold keep the call (issue 15 part 2): a muted call goes on
// sending RTP (comfort noise or silence), a held call goes on with RTCP,
// and our own RTP timeout ends neither while the peer is alive.
//
// The far ends: baresip (its own rtp_timeout, its own hold), and sipp
// for the signalling with a small RTP/RTCP peer in the test for the media,
// which counts what the daemon sends (by payload type) and sends what a
// peer in each state would: speech, a SID and then only RTCP, only RTCP,
// or nothing at all.

// peerTimeout is the RTP timeout both far ends apply (baresip's
// rtp_timeout; the gap the small peer tolerates), and our own rtp_timeout.
const peerTimeout = 2 * time.Second

// Payload types of the small peer's offer.
const (
	ptPCMU = 0
	ptCN   = 13
)

// peerMode is what the small peer sends.
type peerMode int

const (
	peerTalk     peerMode = iota + 1 // PCMU every 20 ms, RTCP every peerRTCPInterval
	peerCN                           // one SID, then RTCP only (RFC 3389 §4: quiet until the noise changes)
	peerRTCPOnly                     // RTCP only: a held or holding peer
	peerDead                         // nothing: the peer is gone
)

// peerRTCPInterval is the small peer's report interval.
const peerRTCPInterval = 500 * time.Millisecond

// peerPacket is an RTP packet the small peer received.
type peerPacket struct {
	pt      uint8
	marker  bool
	payload int
	at      time.Time
}

// mediaPeer is the far end's RTP and RTCP: it answers to the daemon's
// source addresses (symmetric RTP, RFC 4961) and counts what arrives.
type mediaPeer struct {
	rtpConn, rtcpConn *net.UDPConn

	mu        sync.Mutex
	mode      peerMode
	dest      netip.AddrPort // the daemon's RTP source
	got       []peerPacket
	rtcpGot   int // RTCP compound packets from the daemon
	rtcpSent  int
	sidSent   bool
	readErr   error
	stop      chan struct{}
	wg        sync.WaitGroup
	seq       uint16
	ts        uint32
	ssrc      uint32
	rtcpCount int
}

// startMediaPeer binds an RTP/RTCP pair on loopback and starts reading and
// sending; it is stopped at cleanup.
func startMediaPeer(t *testing.T) *mediaPeer {
	t.Helper()
	var p *mediaPeer
	for range 20 {
		port := testbed.FreePort(t, 2)
		if port%2 == 1 {
			continue
		}
		r, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:"+strconv.Itoa(port))))
		if err != nil {
			continue
		}
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:"+strconv.Itoa(port+1))))
		if err != nil {
			r.Close()
			continue
		}
		p = &mediaPeer{rtpConn: r, rtcpConn: c, mode: peerTalk, stop: make(chan struct{}), ssrc: rand.Uint32(),
			seq: uint16(rand.Uint32()), ts: rand.Uint32()}
		break
	}
	if p == nil {
		t.Fatal("media peer: no free even/odd port pair")
	}
	p.wg.Add(3)
	go p.readRTP()
	go p.readRTCP()
	go p.send()
	t.Cleanup(func() {
		close(p.stop)
		p.rtpConn.Close()
		p.rtcpConn.Close()
		p.wg.Wait()
	})
	return p
}

// port is the RTP port named in the peer's SDP.
func (p *mediaPeer) port() int { return p.rtpConn.LocalAddr().(*net.UDPAddr).Port }

func (p *mediaPeer) setMode(m peerMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.sidSent = m, false
}

func (p *mediaPeer) readRTP() {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := p.rtpConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.mu.Lock()
				p.readErr = err
				p.mu.Unlock()
			}
			return
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		p.mu.Lock()
		p.dest = from
		p.got = append(p.got, peerPacket{pt: pkt.PayloadType, marker: pkt.Marker, payload: len(pkt.Payload), at: time.Now()})
		p.mu.Unlock()
	}
}

func (p *mediaPeer) readRTCP() {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := p.rtcpConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if _, err := rtcp.Unmarshal(buf[:n]); err != nil {
			continue
		}
		p.mu.Lock()
		p.rtcpGot++
		p.mu.Unlock()
	}
}

// send is the peer's sending goroutine: a packet time's tick.
func (p *mediaPeer) send() {
	defer p.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = 0xFF // PCMU silence
	}
	perRTCP := int(peerRTCPInterval / (20 * time.Millisecond))
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		mode, dest := p.mode, p.dest
		var pkt []byte
		if dest.IsValid() {
			switch {
			case mode == peerTalk:
				pkt, _ = (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptPCMU, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc},
					Payload: payload}).Marshal()
			case mode == peerCN && !p.sidSent:
				pkt, _ = (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptCN, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc},
					Payload: []byte{70}}).Marshal()
				p.sidSent = true
			}
		}
		if pkt != nil {
			p.seq++
		}
		p.ts += 160
		p.rtcpCount++
		sendRTCP := dest.IsValid() && mode != peerDead && p.rtcpCount%perRTCP == 0
		p.mu.Unlock()
		if pkt != nil {
			_, _ = p.rtpConn.WriteToUDPAddrPort(pkt, dest)
		}
		if sendRTCP {
			raw, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: p.ssrc}, rtcp.NewCNAMESourceDescription(p.ssrc, "peer")})
			if err == nil {
				// RFC 3550 §11: RTCP on the port above the RTP port.
				to := netip.AddrPortFrom(dest.Addr(), dest.Port()+1)
				if _, err := p.rtcpConn.WriteToUDPAddrPort(raw, to); err == nil {
					p.mu.Lock()
					p.rtcpSent++
					p.mu.Unlock()
				}
			}
		}
	}
}

// counts returns how many RTP packets and RTCP packets arrived and how
// many RTCP packets were sent so far.
func (p *mediaPeer) counts() (rtpGot, rtcpGot, rtcpSent int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.got), p.rtcpGot, p.rtcpSent
}

// since returns the RTP packets received after the first n.
func (p *mediaPeer) since(n int) []peerPacket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]peerPacket(nil), p.got[min(n, len(p.got)):]...)
}

// count returns how many of pkts carry payload type pt.
func count(pkts []peerPacket, pt uint8) int {
	n := 0
	for _, k := range pkts {
		if k.pt == pt {
			n++
		}
	}
	return n
}

// waitPeer waits until cond holds on the packets received after the
// first `from`, and returns them.
func (p *mediaPeer) waitPeer(t *testing.T, what string, from int, timeout time.Duration, cond func([]peerPacket) bool) []peerPacket {
	t.Helper()
	var pkts []peerPacket
	if !testbed.WaitFor(timeout, func() bool { pkts = p.since(from); return cond(pkts) }) {
		p.mu.Lock()
		err := p.readErr
		p.mu.Unlock()
		t.Fatalf("media peer on %d: no %s within %s: %d packets (%d PCMU, %d CN); read error %v", p.port(), what, timeout, len(pkts),
			count(pkts, ptPCMU), count(pkts, ptCN), err)
	}
	return pkts
}

// peerCall has sipp place a call to the daemon with the small peer as its
// media, using the scenario given, and waits until the call is up and
// the peer gets the daemon's RTP.
func (mb *mediaBed) peerCall(t *testing.T, scenario string, peer *mediaPeer) *testbed.Sipp {
	t.Helper()
	// The microphone hears a quiet tone (room noise) for the whole call:
	// a feed sink nobody plays into may be suspended, and its microphone
	// then delivers nothing to pace our sending.
	mb.pa.Play(t, feedSink, testbed.Tone(1000, 48000, 48000*90, 0.01), 48000)
	path, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	s := testbed.StartSipp(t, testbed.SippOptions{Scenario: path, Target: mb.sipAddr,
		Service: "agent", Vars: map[string]string{"mport": strconv.Itoa(peer.port())}, Timeout: 120 * time.Second})
	waitEvent(t, mb.ev, "call", 15*time.Second, func(d json.RawMessage) bool { return strings.Contains(string(d), `"state":"active"`) })
	t.Cleanup(func() {
		if t.Failed() {
			calls, err := mb.client.Calls(context.Background())
			t.Logf("calls %+v %v", calls, err)
			for _, c := range calls {
				t.Logf("media %+v", c.Media)
			}
			t.Logf("daemon log:\n%s", mb.proc.Log())
		}
	})
	peer.waitPeer(t, "speech from the daemon", 0, 10*time.Second, func(p []peerPacket) bool { return count(p, ptPCMU) >= 25 })
	return s
}

// call returns the daemon's only call.
func (mb *mediaBed) call(t *testing.T) phone.CallInfo {
	t.Helper()
	calls, err := mb.client.Calls(context.Background())
	if err != nil || len(calls) != 1 || calls[0].Media == nil {
		t.Fatalf("calls %+v %v, want one with media\n%s", calls, err, mb.proc.Log())
	}
	return calls[0]
}

// waitState waits until the daemon's only call is in state with media
// figures for which ok holds, and returns it.
func (mb *mediaBed) waitState(t *testing.T, state, what string, timeout time.Duration, ok func(phone.CallInfo) bool) phone.CallInfo {
	t.Helper()
	var calls []phone.CallInfo
	var err error
	if !testbed.WaitFor(timeout, func() bool {
		calls, err = mb.client.Calls(context.Background())
		return err == nil && len(calls) == 1 && calls[0].State == state && calls[0].Media != nil && ok(calls[0])
	}) {
		t.Fatalf("no %s call with %s within %s: calls %+v %v\n%s", state, what, timeout, calls, err, mb.proc.Log())
	}
	return calls[0]
}

// setMute mutes or unmutes the agent's microphone.
func (mb *mediaBed) setMute(t *testing.T, on bool) {
	t.Helper()
	if _, err := mb.client.SetAudio(context.Background(), control.AudioRequest{Microphone: &control.AudioSide{Muted: &on}}); err != nil {
		t.Fatal(err)
	}
}

// TestMuteSendsComfortNoise: with CN agreed (the small peer offers
// PCMU and CN/8000), a muted agent's call sends SIDs, no speech packets,
// never leaving the peer without RTP for its timeout; a peer that goes
// quiet after a SID (RFC 3389 §4) but keeps its RTCP is not ended by our
// own rtp_timeout; unmuted, speech resumes with a talkspurt's marker.
func TestMuteSendsComfortNoise(t *testing.T) {
	testbed.Require(t, "pulseaudio", "pactl", "sipp")
	mb := startMediaBed(t, "", "auto_answer = 1\nrtp_timeout = 2\n")
	peer := startMediaPeer(t)
	s := mb.peerCall(t, "peer_call.xml", peer)

	mb.setMute(t, true)
	from, _, _ := peer.counts()
	// 20 SIDs: four seconds, twice the peer's timeout.
	pkts := peer.waitPeer(t, "comfort noise", from, 20*time.Second, func(p []peerPacket) bool { return count(p, ptCN) >= 20 })
	first := 0
	for first < len(pkts) && pkts[first].pt != ptCN {
		first++
	}
	muted := pkts[first:]
	if n := count(muted, ptPCMU); n != 0 {
		t.Errorf("%d speech packets among %d after the first SID", n, len(muted))
	}
	var maxGap time.Duration
	for i := 1; i < len(muted); i++ {
		maxGap = max(maxGap, muted[i].at.Sub(muted[i-1].at))
		if muted[i].payload != 1 {
			t.Errorf("SID %d: %d bytes, want the level byte only", i, muted[i].payload)
		}
	}
	t.Logf("muted: %d SIDs, longest gap %s (SID interval 200 ms)", len(muted), maxGap)
	if maxGap >= peerTimeout {
		t.Errorf("the peer went %s without RTP while we were muted: its %s RTP timeout would end the call", maxGap, peerTimeout)
	}
	if ci := mb.call(t); ci.State != "active" || ci.Media.ComfortNoiseSent < 20 {
		t.Errorf("call %s, %d SIDs sent, want active and 20", ci.State, ci.Media.ComfortNoiseSent)
	}

	// The peer goes quiet after a SID, keeping its RTCP, for twice our
	// rtp_timeout.
	peer.setMode(peerCN)
	_, _, sent := peer.counts()
	if !testbed.WaitFor(20*time.Second, func() bool { _, _, n := peer.counts(); return n >= sent+8 }) {
		t.Fatal("the peer sent no RTCP")
	}
	if ci := mb.call(t); ci.State != "active" || ci.Media.ComfortNoiseReceived < 1 {
		t.Errorf("after the peer's SID and %s of RTCP only: call %s, %d SIDs received, want active and 1", 4*time.Second, ci.State, ci.Media.ComfortNoiseReceived)
	}
	peer.setMode(peerTalk)

	// Counted from before the unmute: the first speech packet may go out
	// before the API's answer is read (no speech is sent while muted, as
	// checked above).
	from, _, _ = peer.counts()
	mb.setMute(t, false)
	pkts = peer.waitPeer(t, "speech after unmute", from, 10*time.Second, func(p []peerPacket) bool { return count(p, ptPCMU) >= 10 })
	for _, k := range pkts {
		if k.pt == ptPCMU {
			if !k.marker {
				t.Error("the first speech packet after the mute has no marker bit (RFC 3551 §4.1)")
			}
			break
		}
	}
	mb.hangUp(t, s)
}

// TestHoldKeepsRTCP: a held call, held by us or by the peer, lasts longer
// than our own rtp_timeout while RTCP flows both ways, counted at both
// ends; a held call whose peer falls silent altogether (no RTCP either)
// is still ended, after RFC 3550 §6.3.5's five report intervals (25 s).
func TestHoldKeepsRTCP(t *testing.T) {
	testbed.Require(t, "pulseaudio", "pactl", "sipp")
	if media.RTCPTimeout < 10*peerTimeout {
		t.Fatalf("the RTCP timeout %s is not well above rtp_timeout %s", media.RTCPTimeout, peerTimeout)
	}
	// RTCP both ways during the hold: the daemon reports every 5 s, the
	// peer every 500 ms; waiting for two of ours is at least 5 s, more
	// than twice rtp_timeout.
	holdRTCP := func(t *testing.T, mb *mediaBed, peer *mediaPeer) {
		t.Helper()
		ci := mb.call(t)
		_, got, _ := peer.counts()
		after := mb.waitState(t, "held", "RTCP both ways", 30*time.Second, func(c phone.CallInfo) bool {
			_, g, _ := peer.counts()
			return g >= got+2 && c.Media.RTCPSent >= ci.Media.RTCPSent+2 && c.Media.RTCPReceived >= ci.Media.RTCPReceived+8
		})
		_, g, _ := peer.counts()
		t.Logf("held: we sent %d RTCP packets, the peer got %d; it sent us %d", after.Media.RTCPSent-ci.Media.RTCPSent, g-got,
			after.Media.RTCPReceived-ci.Media.RTCPReceived)
	}

	t.Run("we hold", func(t *testing.T) {
		mb := startMediaBed(t, "", "auto_answer = 1\nrtp_timeout = 2\n")
		peer := startMediaPeer(t)
		s := mb.peerCall(t, "peer_held_by_ua.xml", peer)
		if err := mb.client.Hold(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
		mb.waitState(t, "held", "hold", 10*time.Second, func(phone.CallInfo) bool { return true })
		peer.setMode(peerRTCPOnly) // it answered recvonly
		from, _, _ := peer.counts()
		holdRTCP(t, mb, peer)
		if n := count(peer.since(from), ptPCMU); n > 5 {
			t.Errorf("%d speech packets reached the peer while held", n)
		}
		if err := mb.client.Resume(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
		mb.waitState(t, "active", "resume", 10*time.Second, func(phone.CallInfo) bool { return true })
		peer.setMode(peerTalk)
		from, _, _ = peer.counts()
		peer.waitPeer(t, "speech after resume", from, 10*time.Second, func(p []peerPacket) bool { return count(p, ptPCMU) >= 10 })
		mb.hangUp(t, s)
	})

	t.Run("the peer holds", func(t *testing.T) {
		mb := startMediaBed(t, "", "auto_answer = 1\nrtp_timeout = 2\n")
		peer := startMediaPeer(t)
		s := mb.peerCall(t, "peer_holds.xml", peer)
		mb.waitState(t, "held", "the peer's hold", 10*time.Second, func(phone.CallInfo) bool { return true })
		peer.setMode(peerRTCPOnly) // a holding peer often sends no RTP, sendonly or not
		holdRTCP(t, mb, peer)

		// The peer falls silent: no RTCP either. RFC 3550 §6.3.5: after
		// five report intervals (25 s, more than rtp_timeout) it has left,
		// and the call ends.
		peer.setMode(peerDead)
		var ci phone.CallInfo
		waitEvent(t, mb.ev, "call", 45*time.Second, func(d json.RawMessage) bool {
			return json.Unmarshal(d, &ci) == nil && ci.State == "ended"
		})
		if !strings.Contains(ci.Reason, "rtp timeout") {
			t.Errorf("ended: %q, want an rtp timeout", ci.Reason)
		}
		if _, err := s.Wait(15 * time.Second); err != nil {
			t.Errorf("sipp: %v", err)
		}
	})
}

// TestMuteAndHoldWithBaresip: against baresip with its own rtp_timeout
// (2 s), muting for 2.5 times that keeps the call up (encoded silence:
// baresip offers no CN); holding by us and by baresip for longer than our
// rtp_timeout (2 s) keeps it up, with RTCP arriving from baresip and sent
// to it during the hold.
func TestMuteAndHoldWithBaresip(t *testing.T) {
	testbed.Require(t, "pulseaudio", "pactl", "baresip")
	mb := startMediaBed(t, "", "rtp_timeout = 2\n")
	b := testbed.StartBaresip(t, testbed.BaresipOptions{User: "peer", AnswerMode: "auto", Codecs: []string{"PCMU"},
		RTPTimeout: int(peerTimeout / time.Second)})
	if _, errOut, code := runCLI(t, mb.env, "dial", "-c", mb.cfg, b.URI()); code != 0 {
		t.Fatalf("dial: %s", errOut)
	}
	ci := mb.activeCall(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s\nbaresip log:\n%s", mb.proc.Log(), b.Log())
		}
	})
	closed := func() bool {
		for _, e := range b.Events() {
			if e.Type == testbed.EventCallClosed {
				return true
			}
		}
		return false
	}

	mb.setMute(t, true)
	// 250 packets: five seconds of silence, 2.5 times baresip's timeout.
	muted := mb.waitState(t, "active", "silence sent while muted", 20*time.Second, func(c phone.CallInfo) bool {
		return c.Media.PacketsSent >= ci.Media.PacketsSent+250
	})
	if closed() {
		t.Fatalf("baresip ended the muted call:\n%s", b.Log())
	}
	t.Logf("muted: %d packets sent, %d CN", muted.Media.PacketsSent-ci.Media.PacketsSent, muted.Media.ComfortNoiseSent)
	mb.setMute(t, false)

	hold := func(what string, start, stop func() error) {
		t.Helper()
		if err := start(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		before := mb.waitState(t, "held", what, 10*time.Second, func(phone.CallInfo) bool { return true })
		after := mb.waitState(t, "held", "RTCP both ways", 30*time.Second, func(c phone.CallInfo) bool {
			return c.Media.RTCPReceived >= before.Media.RTCPReceived+2 && c.Media.RTCPSent >= before.Media.RTCPSent+2
		})
		t.Logf("%s: RTCP %d sent, %d received during the hold", what, after.Media.RTCPSent-before.Media.RTCPSent,
			after.Media.RTCPReceived-before.Media.RTCPReceived)
		if closed() {
			t.Fatalf("%s: baresip ended the held call:\n%s", what, b.Log())
		}
		if err := stop(); err != nil {
			t.Fatalf("%s: resume: %v", what, err)
		}
		mb.waitState(t, "active", what+" resumed", 10*time.Second, func(c phone.CallInfo) bool {
			return c.Media.PacketsReceived > after.Media.PacketsReceived+25
		})
	}
	ctx := context.Background()
	hold("we hold", func() error { return mb.client.Hold(ctx, "") }, func() error { return mb.client.Resume(ctx, "") })
	cmd := func(c string) func() error {
		return func() error {
			r, err := b.Command(c, "")
			if err == nil && !r.OK {
				err = errors.New(c + ": " + r.Data)
			}
			return err
		}
	}
	hold("baresip holds", cmd("hold"), cmd("resume"))

	if err := mb.client.Hangup(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitEvent(testbed.EventCallClosed, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
