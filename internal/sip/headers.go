package sip

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

const (
	// allowValue lists the methods this UA handles (RFC 3261 §20.5 Allow).
	allowValue     = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, INFO, UPDATE"
	acceptValue    = "application/sdp"
	supportedValue = "timer, replaces, norefersub"
	allowEvents    = "talk, hold"
)

// supportedOptions are the option tags we honour in Require (RFC 3261 §8.2.2.3).
var supportedOptions = map[string]bool{"timer": true, "replaces": true}

// unsupportedRequire returns the option tags of Require header values that
// this UA does not support, for a 420 Bad Extension (RFC 3261 §8.2.2.3).
func unsupportedRequire(values []string) []string {
	var out []string
	for _, v := range values {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.ToLower(strings.TrimSpace(tag))
			if tag != "" && !supportedOptions[tag] {
				out = append(out, tag)
			}
		}
	}
	return out
}

var answerAfterRe = regexp.MustCompile(`(?i);\s*answer-after\s*=\s*"?(\d+)`)

// autoAnswer reads the auto-answer request headers of an INVITE:
// Call-Info: <...>;answer-after=N (N seconds), Alert-Info: ...;info=alert-autoanswer
// (immediately) and RFC 5373 §4.1 Answer-Mode: Auto (immediately).
func autoAnswer(h headerGetter) (time.Duration, bool) {
	for _, v := range headerValues(h, "Call-Info") {
		if m := answerAfterRe.FindStringSubmatch(v); m != nil {
			if d, ok := deltaSeconds(m[1]); ok {
				return d, true
			}
		}
	}
	for _, v := range headerValues(h, "Alert-Info") {
		if strings.Contains(strings.ToLower(v), "alert-autoanswer") {
			return 0, true
		}
	}
	for _, name := range []string{"Answer-Mode", "Priv-Answer-Mode"} {
		for _, v := range headerValues(h, name) {
			mode := strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
			if mode == "auto" {
				return 0, true
			}
		}
	}
	return 0, false
}

// headerGetter is the part of a sip.Message used to read headers.
type headerGetter interface {
	GetHeaders(name string) []sip.Header
}

func headerValues(h headerGetter, name string) []string {
	var out []string
	for _, hd := range h.GetHeaders(name) {
		out = append(out, hd.Value())
	}
	return out
}

func headerValue(h headerGetter, name string) string {
	v := headerValues(h, name)
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// reasonValue builds an RFC 3326 §2 Reason header value.
func reasonValue(code int, text string) string {
	return fmt.Sprintf("SIP;cause=%d;text=%q", code, sanitizeQuoted(text))
}

// warningValue builds an RFC 3261 §20.43 Warning header value with code 399
// (miscellaneous warning).
func warningValue(agent, text string) string {
	if agent == "" {
		agent = "softphone"
	}
	return fmt.Sprintf("399 %s %q", agent, sanitizeQuoted(text))
}

func sanitizeQuoted(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 {
			return '\''
		}
		return r
	}, s)
	return s
}

// Response codes sipgo's sip package has no constant for.
const (
	// statusSessionIntervalTooSmall answers a Session-Expires below our
	// Min-SE (RFC 4028 §6).
	statusSessionIntervalTooSmall = 422
	// statusBadEvent answers a SUBSCRIBE or NOTIFY for an event package we
	// do not support (RFC 6665 §8.3.1).
	statusBadEvent = 489
)

// reasonPhrase returns the RFC 3261 §21 reason phrase of a code.
func reasonPhrase(code int) string {
	switch code {
	case sip.StatusTrying:
		return "Trying"
	case sip.StatusRinging:
		return "Ringing"
	case sip.StatusSessionInProgress:
		return "Session Progress"
	case sip.StatusOK:
		return "OK"
	case sip.StatusAccepted:
		return "Accepted"
	case sip.StatusBadRequest:
		return "Bad Request"
	case sip.StatusMovedPermanently:
		return "Moved Permanently"
	case sip.StatusMovedTemporarily:
		return "Moved Temporarily"
	case sip.StatusUnauthorized:
		return "Unauthorized"
	case sip.StatusForbidden:
		return "Forbidden"
	case sip.StatusNotFound:
		return "Not Found"
	case sip.StatusMethodNotAllowed:
		return "Method Not Allowed"
	case sip.StatusProxyAuthRequired:
		return "Proxy Authentication Required"
	case sip.StatusRequestTimeout:
		return "Request Timeout"
	case sip.StatusUnsupportedMediaType:
		return "Unsupported Media Type"
	case sip.StatusBadExtension:
		return "Bad Extension"
	case statusSessionIntervalTooSmall:
		return "Session Interval Too Small"
	case statusBadEvent:
		return "Bad Event"
	case sip.StatusTemporarilyUnavailable:
		return "Temporarily Unavailable"
	case sip.StatusCallTransactionDoesNotExists:
		return "Call/Transaction Does Not Exist"
	case sip.StatusBusyHere:
		return "Busy Here"
	case sip.StatusRequestTerminated:
		return "Request Terminated"
	case sip.StatusNotAcceptableHere:
		return "Not Acceptable Here"
	case sip.StatusRequestPending:
		return "Request Pending"
	case sip.StatusInternalServerError:
		return "Server Internal Error"
	case sip.StatusServiceUnavailable:
		return "Service Unavailable"
	case sip.StatusGlobalBusyEverywhere:
		return "Busy Everywhere"
	case sip.StatusGlobalDecline:
		return "Decline"
	}
	switch {
	case code >= 600:
		return "Global Failure"
	case code >= 500:
		return "Server Error"
	case code >= 400:
		return "Request Failure"
	case code >= 300:
		return "Redirection"
	case code >= 200:
		return "OK"
	}
	return "Progress"
}

// parseDTMF extracts the digits of a SIP INFO body: application/dtmf-relay
// ("Signal=5") or application/dtmf ("5").
func parseDTMF(contentType string, body []byte) (string, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(contentType, ";", 2)[0]))
	switch ct {
	case "application/dtmf-relay":
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			if strings.EqualFold(strings.TrimSpace(k), "signal") {
				d := strings.TrimSpace(v)
				if validDTMF(d) {
					return strings.ToUpper(d), nil
				}
				return "", fmt.Errorf("sip: dtmf-relay signal %q invalid", d)
			}
		}
		return "", fmt.Errorf("sip: dtmf-relay body has no signal")
	case "application/dtmf":
		d := strings.TrimSpace(string(body))
		if validDTMF(d) {
			return strings.ToUpper(d), nil
		}
		// RFC 4733 event numbers 10/11 are * and #.
		switch d {
		case "10":
			return "*", nil
		case "11":
			return "#", nil
		}
		return "", fmt.Errorf("sip: dtmf body %q invalid", d)
	}
	return "", fmt.Errorf("sip: dtmf content type %q not supported", contentType)
}

func validDTMF(d string) bool {
	return len(d) == 1 && strings.ContainsAny(strings.ToUpper(d), "0123456789*#ABCD")
}

// sessionExpires parses an RFC 4028 §4 Session-Expires value: delta-seconds
// and an optional refresher parameter ("uac" or "uas"). delta-seconds
// beyond 2^32-1 (RFC 3261 §25.1 caps such values there) is invalid: it
// would overflow the timer.
func sessionExpires(v string) (time.Duration, string, error) {
	parts := strings.Split(v, ";")
	se, ok := deltaSeconds(parts[0])
	if !ok || se == 0 {
		return 0, "", fmt.Errorf("sip: session-expires %q invalid", v)
	}
	refresher := ""
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
			if refresher != "uac" && refresher != "uas" {
				return 0, "", fmt.Errorf("sip: session-expires refresher %q invalid", val)
			}
		}
	}
	return se, refresher, nil
}

// sipfragStatus reads the status code of a message/sipfrag body (RFC 3420),
// as carried by the NOTIFY of a REFER (RFC 3515 §2.4.5).
func sipfragStatus(body []byte) (int, error) {
	line := strings.TrimSpace(strings.SplitN(string(body), "\n", 2)[0])
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(strings.ToUpper(f[0]), "SIP/") {
		return 0, fmt.Errorf("sip: sipfrag %q invalid", line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 699 {
		return 0, fmt.Errorf("sip: sipfrag status %q invalid", f[1])
	}
	return code, nil
}

// parseTarget turns a dial or transfer target into a SIP URI: a full
// sip:/sips: URI, user@host, or a bare user (number) at defaultHost.
func parseTarget(target, defaultHost string) (sip.Uri, error) {
	t := strings.TrimSpace(target)
	if i := strings.Index(t, "<"); i >= 0 {
		if j := strings.Index(t[i:], ">"); j > 0 {
			t = t[i+1 : i+j]
		}
	}
	if t == "" {
		return sip.Uri{}, fmt.Errorf("%w: empty", ErrInvalidTarget)
	}
	lower := strings.ToLower(t)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		if strings.Contains(lower, ":") && !strings.Contains(lower, "@") {
			// host:port without user
			t = "sip:" + t
		} else if strings.Contains(t, "@") {
			t = "sip:" + t
		} else {
			if defaultHost == "" {
				return sip.Uri{}, fmt.Errorf("%w: %q has no host", ErrInvalidTarget, target)
			}
			t = "sip:" + t + "@" + defaultHost
		}
	}
	var u sip.Uri
	if err := sip.ParseUri(t, &u); err != nil {
		return sip.Uri{}, fmt.Errorf("%w: %q: %v", ErrInvalidTarget, target, err)
	}
	if u.Host == "" {
		return sip.Uri{}, fmt.Errorf("%w: %q has no host", ErrInvalidTarget, target)
	}
	return u, nil
}

var credRe = regexp.MustCompile(`(?im)^((?:proxy-)?authorization\s*:.*?response\s*=\s*)"?[0-9a-f]+"?`)

// maskCredentials hides digest responses in a traced SIP message.
func maskCredentials(msg string) string {
	return credRe.ReplaceAllString(msg, `$1"***"`)
}

// contactExpires picks the binding lifetime granted by a 2xx to REGISTER:
// the expires parameter of the Contact matching ours, else the Expires
// header, else def (RFC 3261 §10.2.4).
func contactExpires(res *sip.Response, ours sip.Uri, def time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		if c.Address.User == ours.User && strings.EqualFold(c.Address.Host, ours.Host) && portOr(c.Address.Port, 5060) == portOr(ours.Port, 5060) {
			if v, ok := c.Params.Get("expires"); ok {
				if d, ok := deltaSeconds(v); ok {
					return d
				}
			}
		}
	}
	if v := headerValue(res, "Expires"); v != "" {
		if d, ok := deltaSeconds(v); ok {
			return d
		}
	}
	return def
}

// setSessionInterval sets a request's Session-Expires and Min-SE (RFC
// 4028 §4-5), replacing earlier ones.
func setSessionInterval(req *sip.Request, se, minimum time.Duration) {
	req.RemoveHeader("Session-Expires")
	req.RemoveHeader("Min-SE")
	req.AppendHeader(sip.NewHeader("Session-Expires", strconv.Itoa(int(se/time.Second))))
	req.AppendHeader(sip.NewHeader("Min-SE", strconv.Itoa(int(minimum/time.Second))))
}

// deltaSeconds parses delta-seconds (RFC 3261 §25.1: digits, up to
// 2^32-1) as a duration; anything else, a sign or a value that would
// overflow a timer, is not one.
func deltaSeconds(v string) (time.Duration, bool) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

func portOr(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}

// refreshIn is when to refresh a binding of lifetime exp: at half of it for
// short ones, else 30 s before the end (a common registrar-friendly margin).
func refreshIn(exp time.Duration) time.Duration {
	if exp <= 0 {
		return 0
	}
	if exp < 60*time.Second {
		return exp / 2
	}
	if exp/2 < exp-30*time.Second {
		return exp - 30*time.Second
	}
	return exp / 2
}

// backoff returns the retry delay after n consecutive failures: 1 s doubling
// up to max.
func backoff(n int, max time.Duration) time.Duration {
	d := time.Second
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}
