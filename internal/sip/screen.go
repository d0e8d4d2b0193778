package sip

// Screening of what arrives on the SIP sockets, before sipgo parses it.
//
// sipgo drops a request it cannot parse (it only logs it), and hands on
// requests that parse but break RFC 3261 rules a UAS must check. Both kinds
// are answered here, statelessly (RFC 3261 §8.2: a UAS may reject a request
// without a transaction), and never reach the transaction layer, so they can
// neither ring nor hold a transaction:
//
//	socket ─▶ readFilter ─▶ frame (stream) ─▶ parse ─▶ admit (admit.go) ─▶ check ─▶ sipgo
//	                                   │           │                  │
//	                                   ▼           ▼                  ▼
//	                          400 from raw text   403        400/405/406/416/420/505
//	                          (or drop, RFC 4475)
//
// The checks follow RFC 4475's torture tests (§3.1.2 syntax, §3.3 semantics).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// maxStreamMessage bounds one message on a stream transport; a peer that
// sends more without a message boundary is cut off.
const maxStreamMessage = 64 * 1024

// statusUnsupportedURIScheme is RFC 3261 §21.4.14's 416 (sipgo names 416
// after HTTP's range error).
const statusUnsupportedURIScheme = 416

// errStreamFraming closes a stream connection whose framing is lost (RFC
// 3261 §18.3: without a valid Content-Length there is no next message).
var errStreamFraming = errors.New("sip: stream framing lost")

// rejection is a stateless answer to a request the UA will not process.
type rejection struct {
	code   int
	reason string
	why    string   // for the Warning header and the log
	hdrs   []string // extra "Name: value" lines
}

// checkRequest applies the checks RFC 3261 asks of a UAS before it
// processes a request that parsed; nil means the request goes on.
func checkRequest(req *sip.Request, raw []byte) *rejection {
	if line := firstLine(raw); !validRequestLine(line) {
		// RFC 3261 §25.1 Request-Line = Method SP Request-URI SP SIP-Version
		// CRLF, single spaces, no LWS in the URI (RFC 4475 §3.1.2.7-10).
		return &rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: "malformed request line"}
	}
	if req.SipVersion != "SIP/2.0" {
		// RFC 3261 §8.2.2 / §21.5.6 (RFC 4475 §3.1.2.16).
		return &rejection{code: sip.StatusVersionNotSupported, reason: "Version Not Supported", why: "sip version " + req.SipVersion}
	}
	// RFC 3261 §8.1.1: To, From, CSeq, Call-ID, Max-Forwards and Via are
	// mandatory; Max-Forwards is tolerated missing (RFC 2543 peers). The
	// single-valued ones must appear once (RFC 4475 §3.3.8, §3.3.9).
	for _, name := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		if len(req.GetHeaders(name)) == 0 {
			return &rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: "missing " + name}
		}
	}
	hs := rawHeaders(raw)
	for _, name := range []string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"} {
		if n := rawHeaderCount(hs, name); n > 1 {
			return &rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: "more than one " + name}
		}
	}
	if cs := req.CSeq(); cs == nil || !strings.EqualFold(string(cs.MethodName), string(req.Method)) {
		// RFC 3261 §8.1.1.5: the CSeq method matches the request's (RFC
		// 4475 §3.1.2.17-18).
		return &rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: "cseq method does not match"}
	}
	if via := req.Via(); via != nil {
		if b, ok := via.Params.Get("branch"); ok && b == sip.RFC3261BranchMagicCookie {
			// RFC 4475 §3.2.1: the magic cookie with no identifier.
			return &rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: "via branch has no transaction id"}
		}
	}
	if req.Recipient.Headers != nil && req.Recipient.Headers.Length() > 0 {
		// RFC 3261 §19.1.1 (table): headers are not allowed in a
		// Request-URI (RFC 4475 §3.1.2.11).
		return &rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: "headers in request-uri"}
	}
	if v := rawHeader(hs, "Date"); v != "" && !strings.HasSuffix(strings.TrimSpace(v), "GMT") {
		// RFC 3261 §20.17: SIP-date is always in GMT (RFC 4475 §3.1.2.12).
		return &rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: "date not in gmt"}
	}
	for _, name := range []string{"From", "To", "Contact"} {
		if v := rawHeader(hs, name); v != "" && !strings.Contains(v, "<") && strings.ContainsAny(addrSpecPart(v), "?,") {
			// RFC 3261 §20: an addr-spec with a comma, question mark or
			// semicolon in its URI must be in angle brackets (RFC 4475
			// §3.1.2.13).
			return &rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: name + " uri not in angle brackets"}
		}
	}
	switch strings.ToLower(req.Recipient.Scheme) {
	case "sip", "sips", "tel":
	default:
		// RFC 3261 §8.2.2.1 (RFC 4475 §3.3.2-3).
		return &rejection{code: statusUnsupportedURIScheme, reason: "Unsupported URI Scheme", why: "request-uri scheme " + req.Recipient.Scheme}
	}
	if req.Method != sip.ACK && req.Method != sip.CANCEL {
		if bad := unsupportedRequire(headerValues(req, "Require")); len(bad) > 0 {
			// RFC 3261 §8.2.2.3 (RFC 4475 §3.3.5).
			return &rejection{code: sip.StatusBadExtension, reason: "Bad Extension", why: "unsupported extension",
				hdrs: []string{"Unsupported: " + strings.Join(bad, ", ")}}
		}
	}
	if req.Method == sip.INVITE && !acceptsSDP(headerValues(req, "Accept")) {
		// RFC 3261 §21.4.7: our answer would be SDP, which the caller says
		// it cannot take (RFC 4475 §3.3.15).
		return &rejection{code: sip.StatusNotAcceptable, reason: "Not Acceptable", why: "accept excludes application/sdp",
			hdrs: []string{"Accept: " + acceptValue}}
	}
	return nil
}

// acceptsSDP reports whether Accept values allow application/sdp (no
// Accept header means application/sdp, RFC 3261 §20.1).
func acceptsSDP(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, r := range strings.Split(v, ",") {
			mt := strings.ToLower(strings.TrimSpace(strings.SplitN(r, ";", 2)[0]))
			switch mt {
			case "application/sdp", "application/*", "*/*", "":
				return true
			}
		}
	}
	return false
}

// addrSpecPart is the URI of a From/To/Contact value without brackets,
// before its header parameters.
func addrSpecPart(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return v
}

func firstLine(raw []byte) string {
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		raw = raw[:i]
	}
	return strings.TrimSuffix(string(raw), "\r")
}

// validRequestLine checks Method SP Request-URI SP SIP-Version.
func validRequestLine(line string) bool {
	parts := strings.Split(line, " ")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "\t<>") {
			return false
		}
	}
	return strings.HasPrefix(parts[2], "SIP/")
}

// compactNames maps RFC 3261 §7.3.3 compact header names to full ones.
var compactNames = map[string]string{
	"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length",
	"c": "content-type", "m": "contact", "k": "supported", "e": "content-encoding", "s": "subject",
}

// rawHeaders splits the header section of a raw message into name/value
// pairs (folded lines joined, names lower-cased and expanded).
func rawHeaders(raw []byte) [][2]string {
	head := raw
	if i := headerEnd(raw); i >= 0 {
		head = raw[:i]
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	var out [][2]string
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			// RFC 3261 §7.3.1 line folding.
			out[len(out)-1][1] += " " + strings.TrimSpace(l)
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if full, ok := compactNames[name]; ok {
			name = full
		}
		out = append(out, [2]string{name, strings.TrimSpace(value)})
	}
	return out
}

func rawHeaderCount(hs [][2]string, name string) int {
	n := 0
	name = strings.ToLower(name)
	for _, h := range hs {
		if h[0] == name {
			n++
		}
	}
	return n
}

func rawHeader(hs [][2]string, name string) string {
	name = strings.ToLower(name)
	for _, h := range hs {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// headerEnd returns the index of the blank line ending the header
// section, or -1.
func headerEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	j := bytes.Index(b, []byte("\n\n"))
	switch {
	case i < 0:
		return j
	case j < 0 || i < j:
		return i
	}
	return j
}

// rawRejection builds a stateless response to a request sipgo cannot parse
// from its raw text (RFC 3261 §8.2.6: Via, From, To, Call-ID and CSeq
// copied; a To tag added). It returns nil when no response can be formed:
// not a request, or no Via to send it along (RFC 4475 §3.1.2 asks for a
// 400 "where a response can be formed").
func rawRejection(raw []byte, rj rejection, agent string) []byte {
	line := firstLine(raw)
	method, _, ok := strings.Cut(line, " ")
	if !ok || method == "" || strings.HasPrefix(line, "SIP/") || !isToken(method) {
		return nil
	}
	hs := rawHeaders(raw)
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", rj.code, rj.reason)
	vias := 0
	for _, h := range hs {
		if h[0] == "via" {
			fmt.Fprintf(&b, "Via: %s\r\n", h[1])
			vias++
		}
	}
	if vias == 0 {
		return nil
	}
	for _, name := range []string{"from", "to", "call-id", "cseq"} {
		for _, h := range hs {
			if h[0] != name {
				continue
			}
			v := h[1]
			if name == "to" && !strings.Contains(strings.ToLower(v), ";tag=") {
				v += ";tag=" + sip.GenerateTagN(10)
			}
			fmt.Fprintf(&b, "%s: %s\r\n", canonicalName(name), v)
			break
		}
	}
	for _, h := range rj.hdrs {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Warning: %s\r\nContent-Length: 0\r\n\r\n", warningValue(agent, rj.why))
	return []byte(b.String())
}

func canonicalName(n string) string {
	switch n {
	case "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

// isToken reports whether s is an RFC 3261 §25.1 token.
func isToken(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-.!%*_+`'~", r):
		default:
			return false
		}
	}
	return s != ""
}

// streamFramer cuts a stream transport's bytes into messages by
// Content-Length (RFC 3261 §18.3), one buffer per connection.
type streamFramer struct {
	mu   sync.Mutex
	bufs map[string]*streamBuf
}

type streamBuf struct {
	data []byte
	seen time.Time
	dead bool // framing was lost: the connection is closing
	// closeAt is when a dead connection's reads start failing (sipgo
	// then closes it); until then they are dropped (see lingerClose).
	closeAt time.Time
}

// lingerClose is how long a connection whose framing was lost stays open
// before it is closed. Requests that came before the bad bytes are still
// being answered: sipgo handles each in a goroutine of its own, and a
// connection closed at once would swallow their answers (a REGISTER's 405
// sent just ahead of a message with a bad Content-Length, RFC 4475
// §3.1.1.13 over TCP). What arrives meanwhile is dropped, unread.
const lingerClose = time.Second

// errStreamLinger drops a read of a connection that is closing.
var errStreamLinger = errors.New("sip: stream closing")

// streamIdle is how long a partial message of a connection is kept: a
// connection closed mid-message leaves its buffer behind.
const streamIdle = 2 * time.Minute

// frame appends data read on connection key and returns the complete
// messages now buffered. A keep-alive CRLF between messages is returned as
// its own element (RFC 5626 §3.5.1). A message that cannot be framed is
// returned in bad with errStreamFraming.
func (f *streamFramer) frame(key string, data []byte, now time.Time) (msgs [][]byte, bad []byte, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bufs == nil {
		f.bufs = map[string]*streamBuf{}
	}
	for k, b := range f.bufs {
		if now.Sub(b.seen) > streamIdle {
			delete(f.bufs, k)
		}
	}
	sb := f.bufs[key]
	if sb == nil {
		sb = &streamBuf{}
		f.bufs[key] = sb
	}
	sb.seen = now
	if sb.dead {
		if now.Before(sb.closeAt) {
			return nil, nil, errStreamLinger
		}
		delete(f.bufs, key)
		return nil, nil, errStreamFraming
	}
	sb.data = append(sb.data, data...)
	defer func() {
		switch {
		case errors.Is(err, errStreamFraming):
			// The connection lingers (lingerClose), then closes.
			f.bufs[key] = &streamBuf{seen: now, dead: true, closeAt: now.Add(lingerClose)}
		case len(sb.data) == 0 || err != nil:
			delete(f.bufs, key)
		}
	}()
	for len(sb.data) > 0 {
		if n := leadingCRLF(sb.data); n > 0 {
			msgs = append(msgs, sb.data[:n:n])
			sb.data = sb.data[n:]
			continue
		}
		he := headerEnd(sb.data)
		if he < 0 {
			if len(sb.data) > maxStreamMessage {
				return msgs, sb.data, errStreamFraming
			}
			return msgs, nil, nil
		}
		sep := 4
		if sb.data[he] == '\n' {
			sep = 2
		}
		head := sb.data[:he+sep]
		cls := 0
		length := 0
		for _, h := range rawHeaders(head) {
			if h[0] == "content-length" {
				cls++
				n, perr := strconv.Atoi(h[1])
				if perr != nil || n < 0 {
					cls = -1
					break
				}
				length = n
			}
		}
		if cls != 1 || len(head)+length > maxStreamMessage {
			// RFC 3261 §18.3: Content-Length must be present, once and
			// valid, on a stream (RFC 4475 §3.1.2.3, §3.3.9).
			return msgs, sb.data, errStreamFraming
		}
		total := len(head) + length
		if len(sb.data) < total {
			return msgs, nil, nil
		}
		msgs = append(msgs, append([]byte(nil), sb.data[:total]...))
		sb.data = sb.data[total:]
	}
	return msgs, nil, nil
}

func leadingCRLF(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

// screen decides what happens to one message read from a socket: the
// bytes to hand on to sipgo (nil: nothing) and the stateless answer to
// send back (nil: none).
func (u *UA) screen(src net.Addr, raw []byte) (pass, answer []byte) {
	if len(bytes.Trim(raw, "\r\n")) == 0 {
		return raw, nil // keep-alive
	}
	if !bytes.HasPrefix(raw, []byte("SIP/")) {
		if u.closing.Load() {
			return nil, nil
		}
		u.lastRequest.Store(time.Now().UnixNano())
	}
	raw = normalizeSWS(raw)
	msg, err := sip.ParseMessage(raw)
	if err != nil {
		if bytes.HasPrefix(raw, []byte("SIP/")) {
			// An unparsable response: nothing can answer it (RFC 4475
			// §3.1.2.19).
			u.noteDropped(src, "unparsable response", err)
			return nil, nil
		}
		if !u.admitSource(src, true) {
			u.noteDropped(src, "unparsable request from a source not admitted", err)
			return nil, nil
		}
		ans := rawRejection(raw, rawVerdict(raw, err), u.o.UserAgent)
		u.noteDropped(src, "unparsable request", err)
		return nil, ans
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return raw, nil
	}
	if req.Source() == "" && src != nil {
		req.SetSource(src.String())
	}
	outOfDialog := true
	if to := req.To(); to != nil && to.Params != nil && to.Params.Has("tag") {
		outOfDialog = false
	}
	if !u.admitSource(src, outOfDialog) {
		u.noteDropped(src, "request from a source not admitted", nil)
		if req.IsAck() {
			return nil, nil
		}
		// RFC 3261 §21.4.4: 403, the request is understood and refused.
		return nil, statelessResponse(req, &rejection{code: sip.StatusForbidden, reason: "Forbidden", why: "source not admitted"}, u.o.UserAgent)
	}
	if rj := checkRequest(req, raw); rj != nil {
		u.noteDropped(src, "request rejected: "+rj.why, nil)
		if req.IsAck() {
			return nil, nil // RFC 3261 §17.2.3: an ACK is never answered
		}
		return nil, statelessResponse(req, rj, u.o.UserAgent)
	}
	return raw, nil
}

// rawVerdict picks the answer to a request sipgo could not parse from its
// request line: 505 for another SIP version (RFC 3261 §21.5.6), 416 for a
// Request-URI scheme we do not know (§8.2.2.1), else 400.
func rawVerdict(raw []byte, err error) rejection {
	parts := strings.Split(firstLine(raw), " ")
	if len(parts) == 3 && parts[1] != "" {
		if v := parts[2]; strings.HasPrefix(v, "SIP/") && v != "SIP/2.0" {
			return rejection{code: sip.StatusVersionNotSupported, reason: "Version Not Supported", why: "sip version " + v}
		}
		scheme, _, ok := strings.Cut(parts[1], ":")
		switch strings.ToLower(scheme) {
		case "sip", "sips", "tel":
		default:
			if ok && isToken(scheme) {
				return rejection{code: statusUnsupportedURIScheme, reason: "Unsupported URI Scheme", why: "request-uri scheme " + scheme}
			}
		}
	}
	return rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: shortParseError(err)}
}

// swsHeaders are the headers whose parameters sipgo reads only without
// white space around ";" and "=".
var swsHeaders = map[string]bool{"via": true, "from": true, "to": true, "contact": true, "route": true, "record-route": true}

// normalizeSWS unfolds header lines (RFC 3261 §7.3.1) and removes the
// white space RFC 3261 §25.1 allows around SEMI and EQUAL in the address
// and Via headers (RFC 4475 §3.1.1.1), which sipgo's parser would take
// into parameter names and values. The body is untouched, so
// Content-Length stays right. A message needing neither is returned as is.
func normalizeSWS(raw []byte) []byte {
	he := headerEnd(raw)
	if he < 0 {
		return raw
	}
	sep := 4
	if raw[he] == '\n' {
		sep = 2
	}
	lines := strings.Split(strings.ReplaceAll(string(raw[:he]), "\r\n", "\n"), "\n")
	var out []string
	changed := false
	for _, l := range lines {
		if len(out) > 0 && l != "" && (l[0] == ' ' || l[0] == '\t') {
			out[len(out)-1] += " " + strings.TrimLeft(l, " \t")
			changed = true
			continue
		}
		out = append(out, l)
	}
	for i := 1; i < len(out); i++ {
		name, value, ok := strings.Cut(out[i], ":")
		if !ok {
			continue
		}
		n := strings.ToLower(strings.TrimSpace(name))
		if full, ok := compactNames[n]; ok {
			n = full
		}
		if !swsHeaders[n] {
			continue
		}
		if v := squeezeSWS(value); v != value {
			out[i] = name + ":" + v
			changed = true
		}
	}
	if !changed {
		return raw
	}
	var b bytes.Buffer
	b.WriteString(strings.Join(out, "\r\n"))
	b.WriteString("\r\n\r\n")
	b.Write(raw[he+sep:])
	return b.Bytes()
}

// squeezeSWS drops white space around ";" and "=" outside quoted strings
// and angle brackets.
func squeezeSWS(v string) string {
	var b strings.Builder
	inQuote, inAngle, escaped := false, false, false
	pending := ""
	afterSep := false
	for _, r := range v {
		if inQuote {
			b.WriteRune(r)
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == '"':
				inQuote = false
			}
			continue
		}
		if r == ' ' || r == '\t' {
			pending += string(r)
			continue
		}
		if (r == ';' || r == '=') && !inAngle {
			pending = ""
			b.WriteRune(r)
			afterSep = true
			continue
		}
		if !afterSep {
			b.WriteString(pending)
		}
		pending, afterSep = "", false
		switch r {
		case '"':
			inQuote = true
		case '<':
			inAngle = true
		case '>':
			inAngle = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func shortParseError(err error) string {
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return "unparsable: " + s
}

// statelessResponse builds a response to a parsed request.
func statelessResponse(req *sip.Request, rj *rejection, agent string) []byte {
	res := sip.NewResponseFromRequest(req, rj.code, rj.reason, nil)
	for _, h := range rj.hdrs {
		name, value, _ := strings.Cut(h, ":")
		res.AppendHeader(sip.NewHeader(name, strings.TrimSpace(value)))
	}
	res.AppendHeader(sip.NewHeader("Warning", warningValue(agent, rj.why)))
	return []byte(res.String())
}

// filterDatagram screens one UDP datagram and sends its answer from the
// socket it came in on.
func (u *UA) filterDatagram(props sip.TransportReadProps, data []byte) []byte {
	pass, answer := u.screen(props.RemoteAddr, data)
	if answer != nil {
		if pc := u.packetConn(props.LocalAddr); pc != nil {
			if _, err := pc.WriteTo(answer, props.RemoteAddr); err != nil {
				u.log.Debug("stateless answer", "to", props.RemoteAddr.String(), "error", err)
			}
		}
	}
	return pass
}

// filterStream frames a stream connection's bytes and screens each
// message; answers go back on the same connection.
func (u *UA) filterStream(props sip.TransportReadProps, data []byte) ([]byte, error) {
	key := props.LocalAddr.String() + "|" + props.RemoteAddr.String()
	msgs, bad, ferr := u.scr.framer.frame(key, data, time.Now())
	if errors.Is(ferr, errStreamLinger) {
		return nil, nil
	}
	var out []byte
	var w io.Writer
	writer := func() io.Writer {
		if w == nil && u.sua != nil {
			if c, err := u.sua.TransportLayer().GetConnection(strings.ToLower(props.Transport), props.RemoteAddr.String()); err == nil && c != nil {
				if cw, ok := c.(io.Writer); ok {
					w = cw
				}
			}
		}
		return w
	}
	for _, m := range msgs {
		pass, answer := u.screen(props.RemoteAddr, m)
		out = append(out, pass...)
		if answer != nil {
			if cw := writer(); cw != nil {
				if _, err := cw.Write(answer); err != nil {
					u.log.Debug("stateless answer", "to", props.RemoteAddr.String(), "error", err)
				}
			}
		}
	}
	if ferr != nil {
		if u.admitSource(props.RemoteAddr, true) {
			if ans := rawRejection(bad, rejection{code: sip.StatusBadRequest, reason: "Bad Request", why: "bad content-length"}, u.o.UserAgent); ans != nil {
				if cw := writer(); cw != nil {
					_, _ = cw.Write(ans)
				}
			}
		}
		u.noteDropped(props.RemoteAddr, "stream framing lost, connection closed", nil)
		// Hand on what came before; the connection closes once the
		// answers to it had time to go out (lingerClose), or at its
		// first read after that.
		u.closeLater(props, key)
		return out, nil
	}
	return out, nil
}

// closeLater closes the stream connection of props after lingerClose,
// unless the UA is closing by then (its transports close it anyway).
func (u *UA) closeLater(props sip.TransportReadProps, key string) {
	if u.sua == nil {
		return
	}
	network, raddr := strings.ToLower(props.Transport), props.RemoteAddr.String()
	time.AfterFunc(lingerClose, func() {
		if u.closing.Load() {
			return
		}
		if c, err := u.sua.TransportLayer().GetConnection(network, raddr); err == nil && c != nil {
			_ = c.Close()
		}
		u.scr.framer.forget(key)
	})
}

// forget drops what is kept of connection key once it is closed, so a new
// connection with the same addresses starts afresh.
func (f *streamFramer) forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.bufs, key)
}

// packetConn finds our UDP listener bound to addr.
func (u *UA) packetConn(addr net.Addr) net.PacketConn {
	if addr == nil {
		return nil
	}
	if pc, ok := u.scr.udp.Load(addr.String()); ok {
		return pc.(net.PacketConn)
	}
	return nil
}
