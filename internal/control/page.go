package control

import (
	"embed"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The status page: plain HTML, CSS and JavaScript embedded in the binary,
// served at / without a token. It holds no data: the script reads the
// token from the URL fragment (never sent to the server), then reads
// /v1/status and follows /v1/events with that token.

//go:embed web/index.html web/app.js web/style.css
var webFiles embed.FS

//go:embed openapi.json
var openAPIDoc []byte

// pageCSP keeps the page to its own scripts, styles and API.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	s.serveWebFile(w, "index.html", "text/html; charset=utf-8")
}

func (s *Server) pageFile(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { s.serveWebFile(w, name, contentType) }
}

func (s *Server) serveWebFile(w http.ResponseWriter, name, contentType string) {
	b, err := webFiles.ReadFile("web/" + name)
	if err != nil {
		s.log.Error("control page file missing", "file", name, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "control: page file "+name+" missing")
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Server) getOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
}

// PageURL is the status page's address for a daemon listening on listen
// ("127.0.0.1:21000"; an unspecified host becomes 127.0.0.1), with the
// token in the fragment so it never reaches a server log or a Referer.
func PageURL(listen, token string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = listen, "80"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "80" {
		if _, err := strconv.Atoi(port); err == nil {
			host += ":" + port
		}
	}
	frag := url.Values{"token": {token}}.Encode()
	return "http://" + host + "/#" + frag
}
