package sip

import (
	"testing"
)

// FuzzHeaderParsers feeds arbitrary header values and bodies to the
// parsers that read remote input; none may panic, and accepted values must
// be in range.
func FuzzHeaderParsers(f *testing.F) {
	for _, s := range []string{"90;refresher=uac", "SIP/2.0 200 OK", "Signal=5\r\n", "<sip:x>;answer-after=3", "sip:bob@h:5060;transport=tcp", "", ";;=", "SIP/2.0 99999999999999999999 x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, _, err := sessionExpires(s); err == nil && d <= 0 {
			t.Fatalf("sessionExpires(%q) accepted %v", s, d)
		}
		if code, err := sipfragStatus([]byte(s)); err == nil && (code < 100 || code > 699) {
			t.Fatalf("sipfragStatus(%q) accepted %d", s, code)
		}
		for _, ct := range []string{"application/dtmf-relay", "application/dtmf"} {
			if d, err := parseDTMF(ct, []byte(s)); err == nil && !validDTMF(d) {
				t.Fatalf("parseDTMF(%q) accepted %q", s, d)
			}
		}
		_, _ = parseTarget(s, "example.com")
		_ = sdpDirection([]byte(s))
		if d, ok := autoAnswer(msgWith("Call-Info", s, "Alert-Info", s, "Answer-Mode", s)); ok && d < 0 {
			t.Fatalf("autoAnswer(%q) = %v", s, d)
		}
		_ = maskCredentials(s)
		_, _ = pickChallenge([]string{s})
	})
}
