package sip

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// FuzzHeaderParsers feeds arbitrary header values and bodies to the
// parsers that read remote input; none may panic, and accepted values must
// be in range.
func FuzzHeaderParsers(f *testing.F) {
	for _, s := range []string{"90;refresher=uac", "SIP/2.0 200 OK", "Signal=5\r\n", "<sip:x>;answer-after=3", "sip:bob@h:5060;transport=tcp", "", ";;=", "SIP/2.0 99999999999999999999 x",
		"a@b;to-tag=1;from-tag=2;early-only", "<sip:x>;answer-after=99999999999", "4294967296", "sip:x@h?Replaces=a%3Bto-tag%3D1&Route=%3C"} {
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
		if d, ok := autoAnswer(msgWith("Call-Info", s, "Alert-Info", s, "Answer-Mode", s)); ok && d < 0 {
			t.Fatalf("autoAnswer(%q) = %v", s, d)
		}
		if d, ok := deltaSeconds(s); ok && (d < 0 || d > (1<<32-1)*time.Second) {
			t.Fatalf("deltaSeconds(%q) = %v", s, d)
		}
		if r, err := parseReplaces(s); err == nil && r.callID == "" {
			t.Fatalf("parseReplaces(%q) accepted no call-id", s)
		}
		var u sip.Uri
		if sip.ParseUri(s, &u) == nil {
			keep, _ := uriHeaders(&u)
			if len(u.Headers) != 0 || strings.Contains(u.String(), "?") && !strings.Contains(s, "?") {
				t.Fatalf("uriHeaders(%q) left headers: %q", s, u.String())
			}
			for _, h := range keep {
				if h.Name() != "Replaces" {
					t.Fatalf("uriHeaders(%q) kept %s", s, h.Name())
				}
			}
		}
		_ = maskCredentials(s)
		_, _ = pickChallenge([]string{s})
	})
}

// FuzzSIPMessage feeds arbitrary datagrams to the SIP parser the UA reads
// the network with, and the header readers the UA applies to what it
// parses: a peer's garbage must not panic (a panic in a reader goroutine
// would end the daemon).
func FuzzSIPMessage(f *testing.F) {
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:x@h>\r\nReplaces: c;to-tag=1;from-tag=2\r\nSession-Expires: 90\r\nRefer-To: <sip:a@b?Replaces=x>\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nCSeq: 1 REGISTER\r\nContact: <sip:x@h>;expires=99999999999\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("NOTIFY sip:a SIP/2.0\r\nEvent: refer;id=1\r\nContent-Type: message/sipfrag\r\n\r\nSIP/2.0 180 Ringing\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.ParseMessage(data)
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *sip.Request:
			_ = m.String()
			_, _ = autoAnswer(m)
			_ = headerValues(m, "Replaces")
			if rt := m.ReferTo(); rt != nil {
				u := rt.Address.Clone()
				_, _ = uriHeaders(u)
			}
			_ = referSubFalse(m)
		case *sip.Response:
			_ = m.String()
			_ = contactExpires(m, sip.Uri{User: "x", Host: "h"}, time.Minute)
		}
	})
}
