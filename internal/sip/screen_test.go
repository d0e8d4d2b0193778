package sip

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestStreamFramer(t *testing.T) {
	msg := "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc"
	tests := []struct {
		name    string
		chunks  []string
		want    []string // messages returned after the last chunk
		wantErr bool
	}{
		{"whole", []string{msg}, []string{msg}, false},
		{"split in the body", []string{msg[:len(msg)-2], msg[len(msg)-2:]}, []string{msg}, false},
		{"split in the headers", []string{msg[:10], msg[10:]}, []string{msg}, false},
		{"two at once", []string{msg + msg}, []string{msg, msg}, false},
		{"keep-alive between", []string{"\r\n\r\n" + msg}, []string{"\r\n\r\n", msg}, false},
		{"compact l", []string{"BYE sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"}, []string{"BYE sip:a@b SIP/2.0\r\nl: 0\r\n\r\n"}, false},
		{"no content-length", []string{"BYE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"}, nil, true},
		{"negative", []string{"BYE sip:a@b SIP/2.0\r\nContent-Length: -9\r\n\r\n"}, nil, true},
		{"two content-length", []string{"BYE sip:a@b SIP/2.0\r\nContent-Length: 0\r\nl: 0\r\n\r\n"}, nil, true},
		{"headers without end", []string{"BYE sip:a@b SIP/2.0\r\nX: " + strings.Repeat("x", maxStreamMessage)}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f streamFramer
			var got [][]byte
			var err error
			for _, c := range tt.chunks {
				got, _, err = f.frame("k", []byte(c), time.Now())
			}
			if tt.wantErr != errors.Is(err, errStreamFraming) {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				// The connection lingers, its reads dropped, then fails;
				// once closed and forgotten, a new connection on the same
				// addresses starts afresh.
				if _, _, err := f.frame("k", []byte(msg), time.Now()); !errors.Is(err, errStreamLinger) {
					t.Fatalf("a read while the connection lingers: %v, want it dropped", err)
				}
				if _, _, err := f.frame("k", []byte(msg), time.Now().Add(lingerClose+time.Millisecond)); !errors.Is(err, errStreamFraming) {
					t.Fatalf("a read after the linger: %v, want the connection failed", err)
				}
				f.forget("k")
				if _, _, err := f.frame("k", []byte("x"), time.Now()); err != nil {
					t.Fatalf("a new connection on the same key is still failed: %v", err)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if string(got[i]) != tt.want[i] {
					t.Errorf("message %d %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
	var f streamFramer
	f.frame("old", []byte("INV"), time.Now().Add(-2*streamIdle))
	f.frame("new", []byte("INV"), time.Now())
	if _, ok := f.bufs["old"]; ok {
		t.Error("an idle partial buffer was kept")
	}
}

func TestRawRejection(t *testing.T) {
	raw := []byte("INVITE sip:u@h SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2\r\nf: <sip:a@b>;tag=1\r\nt: <sip:u@h>\r\ni: cid\r\nCSeq: 1 INVITE\r\nl: -1\r\n\r\n")
	got := string(rawRejection(raw, rejection{code: 400, reason: "Bad Request", why: "bad"}, "ua"))
	for _, want := range []string{"SIP/2.0 400 Bad Request\r\n", "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2\r\n",
		"From: <sip:a@b>;tag=1\r\n", "To: <sip:u@h>;tag=", "Call-ID: cid\r\n", "CSeq: 1 INVITE\r\n", "Warning: 399 ua \"bad\"\r\n", "Content-Length: 0\r\n\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("answer lacks %q:\n%s", want, got)
		}
	}
	for _, in := range []string{"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", "INVITE sip:u@h SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n", "\x00\x01garbage"} {
		if ans := rawRejection([]byte(in), rejection{code: 400}, "ua"); ans != nil {
			t.Errorf("answer formed for %q: %q", in, ans)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		header   string
		failures int
		want     time.Duration
	}{
		{"", 1, time.Second},
		{"", 3, 4 * time.Second},
		{"", 30, maxBackoff},
		{"7", 3, 7 * time.Second},
		{"120 (maintenance);duration=60", 1, 120 * time.Second},
		{"0", 5, time.Second},
		{"99999", 1, maxRetryAfter},
		{"soon", 2, 2 * time.Second},
		{";;", 1, time.Second},
	}
	for _, tt := range tests {
		res := sip.NewResponse(503, "Service Unavailable")
		if tt.header != "" {
			res.AppendHeader(sip.NewHeader("Retry-After", tt.header))
		}
		if got := retryDelay(res, tt.failures); got != tt.want {
			t.Errorf("Retry-After %q after %d failures: %s, want %s", tt.header, tt.failures, got, tt.want)
		}
	}
	if got := retryDelay(nil, 2); got != 2*time.Second {
		t.Errorf("no response: %s", got)
	}
}

func TestNormalizeSWS(t *testing.T) {
	in := "INVITE sip:a@b SIP/2.0\r\nfrom   : \"J \\\"R\\\" ; x\"  <sip:j@e;lr>\r\n  ;\r\n  tag = 98\r\nSubject: a ; b = c\r\nl: 3\r\n\r\na ;b"
	want := "INVITE sip:a@b SIP/2.0\r\nfrom   : \"J \\\"R\\\" ; x\"  <sip:j@e;lr>;tag=98\r\nSubject: a ; b = c\r\nl: 3\r\n\r\na ;b"
	if got := string(normalizeSWS([]byte(in))); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	plain := []byte("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n")
	if got := normalizeSWS(plain); &got[0] != &plain[0] {
		t.Error("a message without folding or SWS was copied")
	}
}
