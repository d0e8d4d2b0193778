package sip

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// maxRetryAfter bounds a registrar's Retry-After: a misconfigured server
// must not keep the agent unregistered for hours.
const maxRetryAfter = 10 * time.Minute

// retryDelay is how long a failed registration waits before its next
// REGISTER: the registrar's Retry-After when it gave one (RFC 3261 §20.33,
// §21.5.4 503; RFC 5626 §4.5), else an exponential back-off.
func retryDelay(res *sip.Response, failures int) time.Duration {
	if res != nil {
		if d, ok := retryAfter(res); ok {
			return d
		}
	}
	return backoff(failures, maxBackoff)
}

// retryAfter reads Retry-After = delta-seconds [comment] *(;param).
func retryAfter(res *sip.Response) (time.Duration, bool) {
	v := headerValue(res, "Retry-After")
	if v == "" {
		return 0, false
	}
	f := strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == '(' || r == ' ' || r == '\t' })
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return 0, false
	}
	d := time.Duration(n) * time.Second
	if d == 0 {
		// "Retry-After: 0" asks for no wait; keep a floor so a
		// misbehaving registrar cannot make a tight loop.
		d = time.Second
	}
	return min(d, maxRetryAfter), true
}
