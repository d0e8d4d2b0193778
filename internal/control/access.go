package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
// Both refusals are 403 forbidden.

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

// connKindKey is the context key of a request's connKind.
type connKindKey struct{}

// markUnixConn is the http.Server's ConnContext: it records the listener
// kind of each connection.
func markUnixConn(ctx context.Context, c net.Conn) context.Context {
	kind := connTCP
	if _, ok := c.LocalAddr().(*net.UnixAddr); ok {
		kind = connUnix
	}
	return context.WithValue(ctx, connKindKey{}, kind)
}

func connKindOf(r *http.Request) connKind {
	k, _ := r.Context().Value(connKindKey{}).(connKind)
	return k
}

// guard applies the Host and Origin checks and answers CORS preflights.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		viaUnix := connKindOf(r) == connUnix
		if !viaUnix && !hostAllowed(r.Host, s.boundTCP()) {
			writeError(w, http.StatusForbidden, CodeForbidden,
				fmt.Sprintf("control: host %q does not name this listener", r.Host))
			return
		}
		if len(s.origins) > 0 {
			w.Header().Add("Vary", "Origin")
		}
		origin := r.Header.Get("Origin")
		if origin == "" {
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
			h := w.Header()
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

// authorizeConnector lets loopback clients without an Authorization
// header through when Options.ConnectorWithoutToken is set; everyone else
// needs the token. A header that is sent is always checked.
func (s *Server) authorizeConnector(next http.Handler) http.Handler {
	withToken := s.authorize(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.ConnectorWithoutToken && r.Header.Get("Authorization") == "" && loopbackClient(r) {
			next.ServeHTTP(w, r)
			return
		}
		withToken.ServeHTTP(w, r)
	})
}

// listenUnix binds path as a unix socket only its owner may use (0600).
// A stale socket file left by a crash is replaced; one another process
// still serves is refused with ErrSocketInUse.
func listenUnix(ctx context.Context, path string) (net.Listener, error) {
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
