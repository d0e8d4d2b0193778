package sip

// SIP over WebSocket (RFC 7118), as a client of a WebRTC gateway or an SBC.
//
// A ws/wss account registers over a WebSocket connection it opens to the
// server (the HTTP upgrade asks for the "sip" subprotocol, on the
// account's ws_path) and, as for TCP and TLS (outbound.go), names that
// connection in its Contact: the server cannot open a WebSocket towards
// an agent's desktop, so requests for the agent come back over it. Each
// WebSocket message carries one SIP message (RFC 7118 §5), so no framing
// by Content-Length is needed; each is screened as a datagram is.
// Over wss the server's certificate is verified as for tls (ca_file).

import (
	"io"
	"net"
	"strings"

	"github.com/emiago/sipgo/sip"
)

func init() {
	// sipgo refuses any UDP message over UDPMTUSize-200 bytes. RFC 3261
	// §18.1.1 asks that of requests only (Dial sends a large INVITE over
	// TCP instead); a response goes back the way its request came (§18.2.2)
	// and may be larger: a 200 carrying a WebRTC answer, with its
	// candidates and fingerprint, is about 1.5 kB. IP fragments it.
	sip.UDPMTUSize = 8192
}

// webSocket reports whether transport is ws or wss.
func webSocket(transport string) bool {
	t := strings.ToLower(transport)
	return t == "ws" || t == "wss"
}

// wsURI returns sipgo's DialURI hook for scheme ("ws" or "wss"): the URI
// of the WebSocket upgrade to addr (host:port as dialled), on the HTTP
// path of the account that uses that server, "/" when none says.
func (u *UA) wsURI(scheme string) func(addr string) string {
	return func(addr string) string {
		return scheme + "://" + addr + u.wsPath(addr)
	}
}

// wsPath is the ws_path of the WebSocket account whose server or outbound
// proxy is addr; with a single WebSocket account, its path whatever the
// address (a name resolved to another address, a backup server).
func (u *UA) wsPath(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	var only []string
	for _, a := range u.o.Accounts {
		if !webSocket(a.Protocol) {
			continue
		}
		path := a.WSPath
		if path == "" {
			path = "/"
		}
		only = append(only, path)
		for _, s := range []string{a.Server, a.OutboundProxy, a.BackupServer} {
			if s == "" {
				continue
			}
			if hp := hostPortDefault(s, a.Protocol); hp == addr || (host != "" && hp == net.JoinHostPort(host, port)) {
				return path
			}
		}
	}
	if len(only) == 1 {
		return only[0]
	}
	return "/"
}

// filterWebSocket screens one WebSocket message (one SIP message); a
// stateless answer goes back on the same connection.
func (u *UA) filterWebSocket(props sip.TransportReadProps, data []byte) []byte {
	pass, answer := u.screen(props.RemoteAddr, data)
	if answer != nil && u.sua != nil {
		c, err := u.sua.TransportLayer().GetConnection(strings.ToLower(props.Transport), props.RemoteAddr.String())
		if w, ok := c.(io.Writer); err == nil && ok {
			if _, err := w.Write(answer); err != nil {
				u.log.Debug("stateless answer", "to", props.RemoteAddr.String(), "error", err)
			}
		}
	}
	return pass
}
