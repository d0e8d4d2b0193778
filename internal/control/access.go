package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Browser-facing checks, applied to every request before routing:
//
//	Host    must name this listener: 127.0.0.1:port, localhost:port,
//	        [::1]:port (RFC 9110 §7.2). Any other name is refused, so a
//	        page whose DNS name was rebound to 127.0.0.1 cannot read the
//	        API. Requests over the unix socket are exempt.
//	Origin  when present (RFC 6454 §7), must be one of
//	        Options.AllowedOrigins or the status page's own origin;
//	        allowed cross-origin requests get CORS headers (WHATWG Fetch,
//	        "CORS protocol"), preflights are answered here, including
//	        Chrome's Private Network Access request header.
//
//	Sec-Fetch-Site
//	        "cross-site" on a request without Origin (a form, an image,
//	        a script tag of another site) is refused, except a page
//	        navigation (Sec-Fetch-Mode: navigate) to the status page.
//	Content-Type
//	        a request with a body must say application/json (415
//	        otherwise): a cross-site form cannot send that without a
//	        CORS preflight.
//
// The Host, Origin and Sec-Fetch-Site refusals are 403 forbidden. Every
// answer carries X-Content-Type-Options: nosniff and Cache-Control:
// no-store, and a request body must arrive within Options.ReadTimeout.

// CORS values sent to allowed origins.
const (
	corsMethods = "GET, POST, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type"
	corsMaxAge  = "600"
)

// connKind tells which listener a connection came in on.
type connKind int

const (
	connUnknown connKind = iota
	connTCP
	connUnix
)

func (k connKind) String() string {
	switch k {
	case connTCP:
		return "tcp"
	case connUnix:
		return "unix"
	default:
		return "unknown"
	}
}

// connInfoKey is the context key of a request's *connInfo.
type connInfoKey struct{}

// connInfo is what the server knows of a connection: its listener's kind
// and, on the unix socket, the client's uid (SO_PEERCRED).
type connInfo struct {
	kind   connKind
	uid    uint32
	uidErr error
}

// connContext is the http.Server's ConnContext: it records the listener
// kind of each connection and a unix client's uid.
func connContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{kind: connTCP}
	if u, ok := c.(interface{ Unwrap() net.Conn }); ok {
		c = u.Unwrap()
	}
	if uc, ok := c.(*net.UnixConn); ok {
		ci.kind = connUnix
		ci.uid, ci.uidErr = peerUID(uc)
	}
	return context.WithValue(ctx, connInfoKey{}, ci)
}

func connInfoOf(r *http.Request) *connInfo {
	ci, _ := r.Context().Value(connInfoKey{}).(*connInfo)
	if ci == nil {
		return &connInfo{kind: connUnknown, uidErr: errors.New("control: connection unknown")}
	}
	return ci
}

func connKindOf(r *http.Request) connKind { return connInfoOf(r).kind }

// clientUID is the uid of the local user whose socket sent r: SO_PEERCRED
// on the unix socket, the owner of the client's socket in /proc/net/tcp
// or tcp6 on loopback TCP.
func clientUID(r *http.Request) (uint32, error) {
	ci := connInfoOf(r)
	if ci.kind == connUnix {
		return ci.uid, ci.uidErr
	}
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return 0, fmt.Errorf("control: client address %q: %w", r.RemoteAddr, err)
	}
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	local, ok := addrPort(la)
	if !ok {
		return 0, errors.New("control: no local address for the connection")
	}
	return connUID(remote, local)
}

// remoteOf names a request's client for the log.
func remoteOf(r *http.Request) string {
	if connKindOf(r) == connUnix {
		return "unix"
	}
	return r.RemoteAddr
}

// guard applies the Host and Origin checks and answers CORS preflights.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		viaUnix := connKindOf(r) == connUnix
		if !viaUnix && !hostAllowed(r.Host, s.boundTCP()) {
			writeError(w, http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("control: host %q does not name this listener", r.Host))
			return
		}
		if len(s.origins) > 0 {
			w.Header().Add("Vary", "Origin")
		}
		if !s.bodyAllowed(w, r) {
			return
		}
		origin := r.Header.Get("Origin")
		if origin == "" {
			// Fetch Metadata (W3C): a browser marks what another site
			// made it send; only following a link to the page is fine.
			if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "cross-site") &&
				!(r.Method == http.MethodGet && r.URL.Path == "/" && strings.EqualFold(r.Header.Get("Sec-Fetch-Mode"), "navigate")) {
				writeError(w, http.StatusForbidden, CodeForbidden, "control: cross-site request refused")
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		sameOrigin := !viaUnix && origin == "http://"+r.Host
		listed := s.origins[normaliseOrigin(origin)]
		if !sameOrigin && !listed {
			writeError(w, http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("control: origin %q is not allowed", origin))
			return
		}
		if listed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "Location")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", corsMethods)
				h.Set("Access-Control-Allow-Headers", corsHeaders)
				h.Set("Access-Control-Max-Age", corsMaxAge)
				// Private Network Access: a public page asking for a
				// loopback address must be told so explicitly.
				if strings.EqualFold(r.Header.Get("Access-Control-Request-Private-Network"), "true") {
					h.Set("Access-Control-Allow-Private-Network", "true")
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// drainBodyBytes is the largest refused body that is read before the
// refusal (net/http's own server drains up to 256 KiB, but not on a
// connection the client asked to close).
const drainBodyBytes = 4 * MaxBodyBytes

// bodyAllowed checks a request body's media type and gives the body
// Options.ReadTimeout to arrive; it answers a refusal itself.
func (s *Server) bodyAllowed(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength == 0 {
		return true
	}
	if r.ContentLength > MaxBodyBytes {
		// Read a body that is not much over the limit before refusing it:
		// a server that closes with the client's body unread resets the
		// connection, and the client may then lose the answer.
		if r.ContentLength <= drainBodyBytes {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("control: request body of %d bytes is over %d", r.ContentLength, MaxBodyBytes))
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			fmt.Sprintf("control: a request body must be application/json, not %q", r.Header.Get("Content-Type")))
		return false
	}
	if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.ReadTimeout)); err != nil {
		s.log.Debug("control: no read deadline", "err", err)
	}
	return true
}

// boundTCP is the TCP listener's address, nil without one.
func (s *Server) boundTCP() *net.TCPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	a, _ := s.ln.Addr().(*net.TCPAddr)
	return a
}

// hostAllowed reports whether a Host header names the listener bound at
// addr: the port must match, and the host must be "localhost" or an IP
// literal (loopback, or the bound address itself). DNS names are refused
// as they may have been rebound.
func hostAllowed(host string, bound *net.TCPAddr) bool {
	if bound == nil || host == "" {
		return false
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		// No port: the scheme's default (RFC 9110 §4.2.1).
		name, port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "80"
	}
	if port != strconv.Itoa(bound.Port) {
		return false
	}
	boundIP, _ := netip.AddrFromSlice(bound.IP)
	boundIP = boundIP.Unmap()
	if strings.EqualFold(name, "localhost") {
		return boundIP.IsLoopback() || boundIP.IsUnspecified()
	}
	ip, err := netip.ParseAddr(name)
	if err != nil || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return boundIP.IsLoopback() || boundIP.IsUnspecified()
	case boundIP.IsUnspecified():
		return true
	default:
		return ip == boundIP
	}
}

// normaliseOrigin lower-cases scheme and host and drops a default port,
// a trailing slash and any path; "" when o is no origin.
func normaliseOrigin(o string) string {
	o = strings.TrimSpace(o)
	if o == "null" || o == "" {
		return ""
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}

// loopbackClient reports whether r comes from this machine: over the unix
// socket, or from a loopback address.
func loopbackClient(r *http.Request) bool {
	if connKindOf(r) == connUnix {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// authorizeConnector lets clients without an Authorization header through
// when Options.ConnectorWithoutToken is set and they are the daemon's own
// user on this machine (the unix socket's peer, or the owner of a loopback
// client's socket); other local users get 403, remote clients and
// everyone when the option is off need the token. A header that is sent
// is always checked. Every request is logged with the client's address
// and user.
func (s *Server) authorizeConnector(next http.Handler) http.Handler {
	withToken := s.authorize(next)
	self := uint32(os.Geteuid())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local := loopbackClient(r)
		uid, uidErr := uint32(0), errors.New("control: not a local client")
		if local {
			uid, uidErr = clientUID(r)
		}
		who := "unknown"
		if uidErr == nil {
			who = strconv.FormatUint(uint64(uid), 10)
		}
		level := slog.LevelInfo
		if r.Method == http.MethodGet {
			level = slog.LevelDebug
		}
		if !s.opts.ConnectorWithoutToken || r.Header.Get("Authorization") != "" || !local {
			s.log.Log(r.Context(), level, "connector request", "method", r.Method, "path", r.URL.Path, "remote", remoteOf(r), "uid", who, "auth", "token")
			withToken.ServeHTTP(w, r)
			return
		}
		if uidErr != nil || uid != self {
			s.log.Warn("connector request refused: not the daemon's user", "method", r.Method, "path", r.URL.Path, "remote", remoteOf(r), "uid", who, "err", uidErr)
			writeError(w, http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("control: without a token only uid %d may use %s (this client: uid %s)", self, r.URL.Path, who))
			return
		}
		s.log.Log(r.Context(), level, "connector request", "method", r.Method, "path", r.URL.Path, "remote", remoteOf(r), "uid", who, "auth", "own-user")
		next.ServeHTTP(w, r)
	})
}

// listenUnix binds path as a unix socket only its owner may use (0600).
// A stale socket file left by a crash is replaced; one another process
// still serves is refused with ErrSocketInUse.
func listenUnix(ctx context.Context, path string) (net.Listener, error) {
	// sockaddr_un holds 108 bytes with the terminating NUL (unix(7)).
	if len(path) > 107 {
		return nil, fmt.Errorf("control: unix socket path %s is %d bytes, longer than the 107 a socket address holds: set [control] unix_socket to a shorter path", path, len(path))
	}
	st, err := os.Lstat(path)
	switch {
	case err == nil && st.Mode().Type() != fs.ModeSocket:
		return nil, fmt.Errorf("control: %s exists and is not a socket", path)
	case err == nil:
		d := net.Dialer{Timeout: time.Second}
		if c, derr := d.DialContext(ctx, "unix", path); derr == nil {
			_ = c.Close()
			return nil, fmt.Errorf("%w: %s", ErrSocketInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control: remove stale socket: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("control: unix socket: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("control: listen unix %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("control: unix socket mode: %w", err)
	}
	return ln, nil
}
