package media

// WebRTC media for a SIP call: ICE, DTLS-SRTP, UDP/TLS/RTP/SAVPF and
// rtcp-mux, as WebRTC gateways (Kamailio with rtpengine, an SBC) and
// browsers expect on their side.
//
// pion/webrtc's PeerConnection does the transport: it gathers the ICE
// candidates (host, server-reflexive and relay from the configured STUN
// and TURN servers), runs the checks and the DTLS handshake (a=setup per
// RFC 5763: actpass in offers), keys SRTP, and writes the SDP's transport
// attributes (ice-ufrag/pwd, fingerprint, setup, mid, BUNDLE, rtcp-mux,
// candidates). SIP carries one offer and one answer, so the SDP is handed
// over only once gathering is complete (no trickle ICE).
//
// Everything above the transport stays the call's own Session: codecs,
// the jitter buffer and concealment, RFC 4733 DTMF, comfort noise, RTCP
// reports with their loss, jitter, RTT and MOS. The PeerConnection is
// used without pion's interceptors, so no second RTCP stream is made; the
// Session's packets go through two PacketConns (webrtcConn): what it
// writes to the RTP one is sent on the PeerConnection's audio track (SRTP
// by pion), and what the remote track delivers, already decrypted, is what
// it reads; likewise RTCP with the PeerConnection's WriteRTCP and its
// RTP sender's and receiver's ReadRTCP. Both conns report a single remote
// address, webrtcRemote: ICE, not the Session's latch, decides where
// packets go.
//
//	Session ─► webrtcConn ─► localTrack (SSRC, PT of the bound codec) ─► pion: SRTP ─► DTLS/ICE
//	Session ◄─ webrtcConn ◄─ TrackRemote.ReadRTP ◄─────────────────────── pion: SRTP ◄─ DTLS/ICE
//
// The codec is the first one pion bound the track to: the answerer's
// preference among the formats both sides listed.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// webrtcRemote is the remote address a WebRTC transport's conns report
// and the Negotiated of a WebRTC call names (TEST-NET-1, never on the
// wire: ICE picks the real path).
var webrtcRemote = netip.MustParseAddrPort("192.0.2.1:9")

// ErrWebRTC is a WebRTC transport failure: ICE found no path, or DTLS
// failed.
var ErrWebRTC = errors.New("media: webrtc")

// gatherTimeout bounds ICE gathering before an offer or answer is sent.
const gatherTimeout = 10 * time.Second

// WebRTCConfig describes a call's WebRTC transport.
type WebRTCConfig struct {
	// Addr is the address host candidates are gathered on (loopback
	// included when it is one); the zero Addr gathers on every interface.
	Addr netip.Addr
	// PortMin and PortMax bound the local UDP ports; 0 lets the system
	// pick.
	PortMin, PortMax uint16
	// Codecs are the audio codecs in preference order (Local.Codecs
	// keys: "opus", "g722", "pcmu", "pcma"); telephone-event is always
	// offered.
	Codecs []string
	// PTime is our packet time in ms; 0 means 20.
	PTime int
	// ICEServers are the STUN and TURN servers; RelayOnly uses relay
	// candidates only (ice_policy = relay).
	ICEServers []webrtc.ICEServer
	RelayOnly  bool
	// Certificate is the DTLS certificate (see LoadOrCreateCertificate);
	// nil makes one for this call.
	Certificate *webrtc.Certificate
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// OnFailed is called once when ICE or DTLS fails or the connection
	// is lost for good; the call should end.
	OnFailed func(error)
}

// WebRTC is one call's WebRTC transport; see the comment at the top of
// this file.
type WebRTC struct {
	cfg   WebRTCConfig
	log   *slog.Logger
	pc    *webrtc.PeerConnection
	track *localTrack
	tr    *webrtc.RTPTransceiver
	rtp   *webrtcConn
	rtcp  *webrtcConn
	wg    sync.WaitGroup

	mu        sync.Mutex
	failed    bool
	closed    bool
	connected bool // ICE found a working pair once
	pair      string
	dtlsRole  string
}

// NewWebRTC makes the PeerConnection of one call.
func NewWebRTC(cfg WebRTCConfig) (*WebRTC, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PTime == 0 {
		cfg.PTime = 20
	}
	me := &webrtc.MediaEngine{}
	n := 0
	for _, key := range cfg.Codecs {
		spec, ok := lookupCodec(key)
		if !ok {
			continue
		}
		p := webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(spec.pt), RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: "audio/" + spec.name, ClockRate: spec.clock, Channels: uint16(spec.channels)}}
		if spec.key == codecOpus {
			p.SDPFmtpLine = "minptime=10;useinbandfec=1"
		}
		if err := me.RegisterCodec(p, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("%w: codec %s: %w", ErrWebRTC, key, err)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no usable codec in %v", ErrWebRTC, cfg.Codecs)
	}
	for _, clock := range []uint32{48000, 8000} {
		ev := eventSpec(clock)
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(ev.pt), RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: "audio/telephone-event", ClockRate: clock, SDPFmtpLine: "0-16"}}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("%w: telephone-event: %w", ErrWebRTC, err)
		}
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if cfg.Addr.IsValid() && !cfg.Addr.IsUnspecified() {
		want := cfg.Addr.Unmap()
		se.SetIPFilter(func(ip net.IP) bool {
			a, ok := netip.AddrFromSlice(ip)
			return ok && a.Unmap() == want
		})
	}
	// Candidates on this machine's own addresses, without mDNS names: a
	// SIP peer cannot resolve .local names.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// A peer whose SDP declares no a=ssrc (a media gateway bridging a
	// plain SIP phone, a SIP phone itself) still sends us one audio
	// stream in our one media section: take it as that section's track.
	// pion does so for an offer it answers, but not for an answer to our
	// offer unless told.
	se.SetHandleUndeclaredSSRCWithoutAnswer(true)
	if cfg.PortMin != 0 && cfg.PortMax >= cfg.PortMin {
		if err := se.SetEphemeralUDPPortRange(cfg.PortMin, cfg.PortMax); err != nil {
			return nil, fmt.Errorf("%w: port range: %w", ErrWebRTC, err)
		}
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pcfg := webrtc.Configuration{
		ICEServers:    cfg.ICEServers,
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
	}
	if cfg.RelayOnly {
		pcfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	if cfg.Certificate != nil {
		pcfg.Certificates = []webrtc.Certificate{*cfg.Certificate}
	}
	pc, err := api.NewPeerConnection(pcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWebRTC, err)
	}
	w := &WebRTC{cfg: cfg, log: cfg.Logger, pc: pc}
	w.track = &localTrack{bound: make(chan struct{})}
	w.rtp = newWebRTCConn(w.track.writeRTP)
	w.rtcp = newWebRTCConn(w.writeRTCP)
	tr, err := pc.AddTransceiverFromTrack(w.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("%w: %w", ErrWebRTC, err)
	}
	w.tr = tr
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.readRTCP(tr.Sender())
	}()
	pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		if remote.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		w.wg.Add(2)
		go func() {
			defer w.wg.Done()
			w.readTrack(remote)
		}()
		go func() {
			defer w.wg.Done()
			w.readRTCP(recv)
		}()
	})
	pc.OnConnectionStateChange(w.stateChanged)
	return w, nil
}

// stateChanged follows the PeerConnection: connected notes the pair in
// use; failed ends the call.
func (w *WebRTC) stateChanged(st webrtc.PeerConnectionState) {
	w.log.Debug("webrtc connection", "state", st.String())
	switch st {
	case webrtc.PeerConnectionStateConnected:
		pair := ""
		if t := w.tr.Sender().Transport(); t != nil {
			if p, err := t.ICETransport().GetSelectedCandidatePair(); err == nil && p != nil {
				pair = p.Local.String() + " <-> " + p.Remote.String()
			}
		}
		w.mu.Lock()
		w.pair = pair
		w.connected = true
		w.mu.Unlock()
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		// Closed without our Close: pion closes the PeerConnection when
		// the peer ends DTLS (close_notify), which may also be how a
		// failed handshake shows on our side.
		w.mu.Lock()
		first := !w.failed && !w.closed
		w.failed = true
		connected := w.connected
		w.mu.Unlock()
		if first && w.cfg.OnFailed != nil {
			why := failure(w.pc.ICEConnectionState(), connected)
			if st == webrtc.PeerConnectionStateClosed && connected {
				why = "DTLS session closed by the peer"
			}
			w.cfg.OnFailed(fmt.Errorf("%w: %s", ErrWebRTC, why))
		}
	}
}

// failure says why a PeerConnection failed: ICE found no working pair,
// ICE lost the pair it had (the peer stopped answering consent checks,
// RFC 7675), or ICE worked and the DTLS handshake did not (a certificate
// that does not match the fingerprint, no common SRTP profile).
func failure(ice webrtc.ICEConnectionState, connected bool) string {
	switch {
	case ice == webrtc.ICEConnectionStateFailed && connected:
		return "ICE connectivity lost: the peer stopped answering"
	case ice == webrtc.ICEConnectionStateFailed:
		return "ICE failed: no candidate pair works"
	case connected:
		return "DTLS session ended"
	default:
		return "DTLS handshake failed"
	}
}

// noteRole works out our DTLS role from the a=setup of both SDPs (RFC
// 4145 §4, RFC 5763 §5): active is the DTLS client, passive the server;
// the actpass side takes the other role.
func (w *WebRTC) noteRole(local, remote []byte) {
	role := ""
	switch setupOf(local) {
	case "active":
		role = "client"
	case "passive":
		role = "server"
	case "actpass":
		switch setupOf(remote) {
		case "active":
			role = "server"
		case "passive":
			role = "client"
		}
	}
	w.mu.Lock()
	w.dtlsRole = role
	w.mu.Unlock()
}

// setupOf is the a=setup of an SDP's first audio stream (or its session
// level).
func setupOf(body []byte) string {
	sd, err := parseSDP(body)
	if err != nil {
		return ""
	}
	for _, md := range sd.MediaDescriptions {
		if v, ok := md.Attribute("setup"); ok {
			return v
		}
	}
	v, _ := sd.Attribute("setup")
	return v
}

// Path returns the ICE candidate pair in use ("" before it connected) and
// our DTLS role ("client" or "server").
func (w *WebRTC) Path() (pair, dtlsRole string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pair, w.dtlsRole
}

// Conns returns the packet conns the call's Session runs on, and the
// SSRC of our stream the SDP announced.
func (w *WebRTC) Conns() (rtpConn, rtcpConn PacketConn, ssrc uint32) {
	return w.rtp, w.rtcp, w.track.ssrc()
}

// Offer makes a complete offer: gathering is done when it returns.
func (w *WebRTC) Offer(ctx context.Context) ([]byte, error) {
	o, err := w.pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: offer: %w", ErrWebRTC, err)
	}
	return w.setLocal(ctx, o)
}

// Answer takes a remote offer and makes a complete answer, with what it
// agreed.
func (w *WebRTC) Answer(ctx context.Context, offer []byte) ([]byte, Negotiated, error) {
	if err := CheckWebRTCOffer(offer); err != nil {
		return nil, Negotiated{}, err
	}
	if err := w.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(forPion(offer))}); err != nil {
		return nil, Negotiated{}, fmt.Errorf("%w: %w: %w", ErrNotAcceptable, ErrWebRTC, err)
	}
	a, err := w.pc.CreateAnswer(nil)
	if err != nil {
		return nil, Negotiated{}, fmt.Errorf("%w: %w: answer: %w", ErrNotAcceptable, ErrWebRTC, err)
	}
	ans, err := w.setLocal(ctx, a)
	if err != nil {
		return nil, Negotiated{}, err
	}
	w.noteRole(ans, offer)
	neg, err := w.negotiated(ctx, offer)
	return ans, neg, err
}

// SetAnswer applies the answer to our offer.
func (w *WebRTC) SetAnswer(ctx context.Context, answer []byte) (Negotiated, error) {
	if err := CheckWebRTCOffer(answer); err != nil {
		return Negotiated{}, err
	}
	if err := w.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(forPion(answer))}); err != nil {
		return Negotiated{}, fmt.Errorf("%w: %w: %w", ErrNotAcceptable, ErrWebRTC, err)
	}
	if ld := w.pc.LocalDescription(); ld != nil {
		w.noteRole([]byte(ld.SDP), answer)
	}
	return w.negotiated(ctx, answer)
}

// setLocal sets d as the local description, waits for gathering to
// finish and returns the complete SDP.
func (w *WebRTC) setLocal(ctx context.Context, d webrtc.SessionDescription) ([]byte, error) {
	done := webrtc.GatheringCompletePromise(w.pc)
	if err := w.pc.SetLocalDescription(d); err != nil {
		return nil, fmt.Errorf("%w: local description: %w", ErrWebRTC, err)
	}
	ctx, cancel := context.WithTimeout(ctx, gatherTimeout)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: ICE gathering: %w", ErrWebRTC, ctx.Err())
	}
	ld := w.pc.LocalDescription()
	if ld == nil {
		return nil, fmt.Errorf("%w: no local description", ErrWebRTC)
	}
	return withDefaultCandidates([]byte(ld.SDP)), nil
}

// withDefaultCandidates puts each stream's default candidate (its best
// RTP candidate) in its m= port and c= address, as RFC 8839 §4.2.1.2
// asks of a complete SDP. pion leaves the placeholders "9" and
// "IN IP4 0.0.0.0" there, which a media gateway that does not read the
// candidates (and a plain SIP peer, RFC 3264 §8.4) takes for a hold: the
// gateway then offers the far end sendonly and no audio comes back.
func withDefaultCandidates(body []byte) []byte {
	sd, err := parseSDP(body)
	if err != nil {
		return body
	}
	changed := false
	for _, md := range sd.MediaDescriptions {
		var best ice.Candidate
		for _, a := range md.Attributes {
			if a.Key != "candidate" {
				continue
			}
			c, err := ice.UnmarshalCandidate(a.Value)
			if err != nil || c.Component() != ice.ComponentRTP {
				continue
			}
			if best == nil || c.Priority() > best.Priority() {
				best = c
			}
		}
		if best == nil || md.MediaName.Port.Value == 0 {
			continue
		}
		ip, err := netip.ParseAddr(best.Address())
		if err != nil {
			continue
		}
		addrType := "IP4"
		if ip.Unmap().Is6() {
			addrType = "IP6"
		}
		md.MediaName.Port.Value = best.Port()
		md.ConnectionInformation = &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: ip.Unmap().String()}}
		changed = true
	}
	if !changed {
		return body
	}
	out, err := sd.Marshal()
	if err != nil {
		return body
	}
	return out
}

// negotiated waits until pion bound our track to a codec and describes
// the agreement in the Session's terms.
func (w *WebRTC) negotiated(ctx context.Context, remote []byte) (Negotiated, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	select {
	case <-w.track.bound:
	case <-ctx.Done():
		return Negotiated{}, fmt.Errorf("%w: %w: no common codec", ErrNotAcceptable, ErrWebRTC)
	}
	codecs := w.track.codecs()
	var neg Negotiated
	found := false
	for _, c := range codecs {
		name := strings.TrimPrefix(c.MimeType, "audio/")
		if strings.EqualFold(name, "telephone-event") {
			continue
		}
		spec, ok := lookupCodec(name)
		if !ok {
			continue
		}
		neg.Codec = Codec{Name: spec.name, PayloadType: uint8(c.PayloadType), ClockRate: spec.clock, SampleRate: spec.sampleRate, Channels: 1, Fmtp: c.SDPFmtpLine}
		found = true
		break
	}
	if !found {
		return Negotiated{}, fmt.Errorf("%w: no common codec", ErrNotAcceptable)
	}
	for _, c := range codecs {
		if strings.EqualFold(strings.TrimPrefix(c.MimeType, "audio/"), "telephone-event") && c.ClockRate == neg.Codec.ClockRate {
			ev := eventSpec(c.ClockRate)
			neg.DTMF = &Codec{Name: ev.name, PayloadType: uint8(c.PayloadType), ClockRate: ev.clock, SampleRate: ev.sampleRate, Channels: 1}
		}
	}
	neg.RecvPayloadType = neg.Codec.PayloadType
	neg.Remote, neg.RemoteRTCP = webrtcRemote, webrtcRemote
	neg.PTime = w.cfg.PTime
	neg.RemoteDirection, neg.LocalDirection = SendRecv, SendRecv
	if d, err := RemoteDirection(remote); err == nil {
		neg.RemoteDirection = d
		neg.LocalDirection = SendRecv.Intersect(d.Reverse())
	}
	if sd, err := parseSDP(remote); err == nil && len(sd.MediaDescriptions) > 0 {
		if v, ok := sd.MediaDescriptions[0].Attribute("ptime"); ok {
			var pt int
			if _, err := fmt.Sscan(v, &pt); err == nil && pt >= 10 && pt <= 60 {
				neg.PTime = pt
			}
		}
	}
	return neg, nil
}

// readTrack hands the remote track's RTP to the Session.
func (w *WebRTC) readTrack(t *webrtc.TrackRemote) {
	buf := make([]byte, maxPacket)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		w.rtp.deliver(buf[:n])
	}
}

// readRTCP hands the RTCP the peer sends about either stream to the
// Session, as one compound packet per read.
func (w *WebRTC) readRTCP(r interface {
	Read([]byte) (int, interceptor.Attributes, error)
}) {
	buf := make([]byte, maxPacket)
	for {
		n, _, err := r.Read(buf)
		if err != nil {
			return
		}
		w.rtcp.deliver(buf[:n])
	}
}

// writeRTCP sends the Session's RTCP compound packet.
func (w *WebRTC) writeRTCP(b []byte) error {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return err
	}
	return w.pc.WriteRTCP(pkts)
}

// Close ends the PeerConnection and joins its readers. It is idempotent.
func (w *WebRTC) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	err := w.pc.Close()
	w.rtp.Close()
	w.rtcp.Close()
	w.wg.Wait()
	return err
}

// localTrack is our audio track: whatever codec pion binds it to, the
// Session's packets go out with the bound SSRC.
type localTrack struct {
	mu     sync.Mutex
	bound  chan struct{}
	once   sync.Once
	ctx    webrtc.TrackLocalContext
	params []webrtc.RTPCodecParameters
}

func (t *localTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	params := ctx.CodecParameters()
	for _, p := range params {
		if !strings.EqualFold(p.MimeType, "audio/telephone-event") {
			t.mu.Lock()
			t.ctx, t.params = ctx, params
			t.mu.Unlock()
			t.once.Do(func() { close(t.bound) })
			return p, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

func (t *localTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	t.ctx = nil
	t.mu.Unlock()
	return nil
}

func (t *localTrack) ID() string                { return "audio" }
func (t *localTrack) RID() string               { return "" }
func (t *localTrack) StreamID() string          { return "softphone" }
func (t *localTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

func (t *localTrack) codecs() []webrtc.RTPCodecParameters {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.params
}

func (t *localTrack) ssrc() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil {
		return 0
	}
	return uint32(t.ctx.SSRC())
}

// writeRTP sends one packet the Session made; before the track is bound
// there is nowhere to send it, and it is dropped.
func (t *localTrack) writeRTP(b []byte) error {
	t.mu.Lock()
	ctx := t.ctx
	t.mu.Unlock()
	if ctx == nil {
		return nil
	}
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return err
	}
	p.SSRC = uint32(ctx.SSRC())
	_, err := ctx.WriteStream().WriteRTP(&p.Header, p.Payload)
	return err
}

// webrtcConn is a PacketConn between a Session and a PeerConnection.
type webrtcConn struct {
	in     chan []byte
	closed chan struct{}
	once   sync.Once
	write  func([]byte) error
}

func newWebRTCConn(write func([]byte) error) *webrtcConn {
	return &webrtcConn{in: make(chan []byte, 64), closed: make(chan struct{}), write: write}
}

// deliver queues a received packet for the Session; a Session that fell
// 64 packets behind loses the oldest news, as a full socket buffer would.
func (c *webrtcConn) deliver(b []byte) {
	p := append([]byte(nil), b...)
	select {
	case c.in <- p:
	case <-c.closed:
	default:
	}
}

func (c *webrtcConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	select {
	case p := <-c.in:
		return copy(b, p), webrtcRemote, nil
	case <-c.closed:
		return 0, netip.AddrPort{}, net.ErrClosed
	}
}

func (c *webrtcConn) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if err := c.write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *webrtcConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// forPion fits a remote SDP to what pion's PeerConnection reads:
//   - every media section without a=mid gets its index: pion needs a mid
//     on each (RFC 8843 makes it mandatory only with BUNDLE), and
//     DTLS-SRTP peers from before BUNDLE, baresip's among them, write none;
//   - an SDP with one media section and no a=group:BUNDLE gets a group of
//     that one section: pion answers an offer without a BUNDLE group by
//     rejecting every section (port 0), as media gateways such as
//     rtpengine offer it, while a group of one section changes nothing on
//     the wire (one transport either way).
//
// An SDP that does not parse is returned as it is.
func forPion(body []byte) []byte {
	sd, err := parseSDP(body)
	if err != nil {
		return body
	}
	changed := false
	for i, md := range sd.MediaDescriptions {
		if _, ok := md.Attribute("mid"); !ok {
			md.WithValueAttribute("mid", fmt.Sprint(i))
			changed = true
		}
	}
	if _, ok := sd.Attribute("group"); !ok && len(sd.MediaDescriptions) == 1 {
		mid, _ := sd.MediaDescriptions[0].Attribute("mid")
		sd.WithValueAttribute("group", "BUNDLE "+mid)
		changed = true
	}
	if !changed {
		return body
	}
	out, err := sd.Marshal()
	if err != nil {
		return body
	}
	return out
}

// IsWebRTCOffer reports whether an SDP body offers WebRTC media: an audio
// stream over UDP/TLS/RTP/SAVP(F) with a DTLS fingerprint (RFC 5763).
func IsWebRTCOffer(body []byte) bool {
	return CheckWebRTCOffer(body) == nil
}

// CheckWebRTCOffer says what a body lacks for WebRTC media, wrapping
// ErrNotAcceptable; nil when it has an audio stream over
// UDP/TLS/RTP/SAVP(F) with ICE credentials and a DTLS fingerprint.
func CheckWebRTCOffer(body []byte) error {
	sd, err := parseSDP(body)
	if err != nil {
		return err
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		proto := strings.Join(md.MediaName.Protos, "/")
		if !strings.HasPrefix(proto, "UDP/TLS/RTP/SAVP") {
			return fmt.Errorf("%w: profile %s is not UDP/TLS/RTP/SAVPF (DTLS-SRTP)", ErrNotAcceptable, proto)
		}
		if !hasAttr(sd, md, "fingerprint") {
			return fmt.Errorf("%w: no a=fingerprint (DTLS, RFC 5763)", ErrNotAcceptable)
		}
		if !hasAttr(sd, md, "ice-ufrag") {
			return fmt.Errorf("%w: no a=ice-ufrag (ICE)", ErrNotAcceptable)
		}
		return nil
	}
	return fmt.Errorf("%w: no audio stream", ErrNotAcceptable)
}

// hasAttr reports whether the media or the session level has attribute
// key.
func hasAttr(sd *sdp.SessionDescription, md *sdp.MediaDescription, key string) bool {
	if _, ok := md.Attribute(key); ok {
		return true
	}
	_, ok := sd.Attribute(key)
	return ok
}

// LoadOrCreateCertificate reads the DTLS certificate kept in path (PEM:
// the private key, then the certificate), or makes one (ECDSA P-256) and
// keeps it there with mode 0600, so that the fingerprint in our SDP stays
// the same across restarts.
func LoadOrCreateCertificate(path string) (*webrtc.Certificate, error) {
	if b, err := os.ReadFile(path); err == nil {
		c, err := webrtc.CertificateFromPEM(string(b))
		if err == nil {
			return c, nil
		}
		return nil, fmt.Errorf("%w: certificate %s: %w", ErrWebRTC, path, err)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: certificate: %w", ErrWebRTC, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate key: %w", ErrWebRTC, err)
	}
	c, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrWebRTC, err)
	}
	out, err := c.PEM()
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrWebRTC, err)
	}
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrWebRTC, err)
	}
	return c, nil
}
