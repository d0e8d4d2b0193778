package phone

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/media"
)

// WebRTC calls. A connection whose media is webrtc ([connectivity.N]
// media, auto on ws/wss) carries each call's audio over a media.WebRTC
// transport (ICE, DTLS-SRTP) instead of a pair of RTP sockets; the
// call's Session, voice path and everything above are the same. The DTLS
// certificate is made at first start and kept beside the token file, so
// the fingerprint our SDP carries stays the same across restarts.

// dtlsCertificateName is the certificate file beside the token file.
const dtlsCertificateName = "dtls-certificate.pem"

// dtlsCert loads (or makes and keeps) the DTLS certificate once.
type dtlsCert struct {
	once sync.Once
	cert *webrtc.Certificate
	err  error
}

func (d *dtlsCert) get(cfg *config.Config) (*webrtc.Certificate, error) {
	d.once.Do(func() {
		path := filepath.Join(filepath.Dir(cfg.Control.TokenFile), dtlsCertificateName)
		d.cert, d.err = media.LoadOrCreateCertificate(path)
	})
	return d.cert, d.err
}

// mediaKind is the media of connection: config.MediaWebRTC or
// config.MediaRTP (a connection not configured, as standalone 0, is
// plain RTP).
func (p *Phone) mediaKind(connection int) string {
	for _, c := range p.config().Connections {
		if c.Index == connection {
			return c.EffectiveMedia()
		}
	}
	return config.MediaRTP
}

// usesWebRTC reports whether any connection has WebRTC media.
func usesWebRTC(c *config.Config) bool {
	for _, cn := range c.Connections {
		if cn.EffectiveMedia() == config.MediaWebRTC {
			return true
		}
	}
	return false
}

// iceServers turns [policy.endpoint]'s STUN and TURN servers into pion's.
func iceServers(e config.Endpoint) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range e.STUNServers {
		if !strings.HasPrefix(s, "stun:") && !strings.HasPrefix(s, "stuns:") {
			s = "stun:" + s
		}
		out = append(out, webrtc.ICEServer{URLs: []string{s}})
	}
	for _, s := range e.TURNServers {
		if !strings.HasPrefix(s, "turn:") && !strings.HasPrefix(s, "turns:") {
			s = "turn:" + s
		}
		out = append(out, webrtc.ICEServer{URLs: []string{s}, Username: e.TURNUser, Credential: e.TURNPassword, CredentialType: webrtc.ICECredentialTypePassword})
	}
	return out
}

// newMediaFor makes a call's media as its connection says: a WebRTC
// transport, or RTP sockets (transport is the call's signalling
// transport, for the SDES rule of newCallMedia).
func (p *Phone) newMediaFor(connection int, transport string) (*callMedia, error) {
	if p.mediaKind(connection) == config.MediaWebRTC {
		return p.newWebRTCMedia()
	}
	return p.newCallMedia(transport)
}

// newWebRTCMedia makes the media of a call on a WebRTC connection.
func (p *Phone) newWebRTCMedia() (*callMedia, error) {
	cfg := p.config()
	cert, err := p.dtls.get(cfg)
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	m := &callMedia{log: p.log.With("component", "media")}
	w, err := media.NewWebRTC(media.WebRTCConfig{
		Addr: p.mediaAddr(), PortMin: uint16(cfg.Endpoint.RTPPortMin), PortMax: uint16(cfg.Endpoint.RTPPortMax),
		Codecs: cfg.Codecs.Enabled, PTime: cfg.Codecs.PTime,
		ICEServers: iceServers(cfg.Endpoint), RelayOnly: cfg.Endpoint.ICEPolicy == "relay",
		Certificate: cert, Logger: m.log,
		OnFailed: func(err error) {
			m.mu.Lock()
			f := m.onFailed
			m.mu.Unlock()
			if f != nil {
				f(err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("phone: %w", err)
	}
	m.web = w
	return m, nil
}

// webOffer is Offer on a WebRTC call: pion's complete offer, its direction
// set to dir (a hold is a re-INVITE with sendonly, RFC 3264 §8.4; ICE and
// DTLS go on as they are).
func (m *callMedia) webOffer(dir media.Direction) ([]byte, error) {
	b, err := m.web.Offer(context.Background())
	if err != nil {
		return nil, err
	}
	if dir != media.SendRecv && dir != media.DirectionUnknown {
		b = []byte(strings.ReplaceAll(string(b), "a=sendrecv\r\n", "a="+dir.String()+"\r\n"))
	}
	return b, nil
}

// webInfo fills the WebRTC part of a call's media figures.
func (m *callMedia) webInfo(mi *MediaInfo) {
	mi.Transport = "rtp"
	if m.web == nil {
		return
	}
	mi.Transport = "webrtc"
	mi.SRTP = true
	mi.ICEPair, mi.DTLSRole = m.web.Path()
	mi.Remote = ""
}
