package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary files to the configuration reader: it never
// panics; a file it refuses gets errors that each name the file; a file it
// accepts gives values within their documented ranges.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../configs/softphone.ini"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("[policy.session]\nsession_expires = 30\nauto_answer = x\n[connectivity.7]\nreg_timeout = 60\n"))
	f.Add([]byte("[policy.device]\nheadset_name = (\nheadset_name = Jabra\n"))
	f.Add([]byte("[policy.endpoint]\nrtp_port_min = 20000\nrtp_port_max = 10000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse("fuzz.ini", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "fuzz.ini" {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		s := c.Session
		if s.SIPCodeWhenHeadsetNA < 400 || s.SIPCodeWhenHeadsetNA > 699 {
			t.Fatalf("sip_code_when_headset_na %d accepted", s.SIPCodeWhenHeadsetNA)
		}
		if s.SessionExpires != 0 && s.SessionExpires < MinSessionExpires {
			t.Fatalf("session_expires %v accepted", s.SessionExpires)
		}
		e := c.Endpoint
		ephemeral := e.RTPPortMin == 0 && e.RTPPortMax == 0
		if e.SIPPort < 0 || e.SIPPort > 65535 || !ephemeral && (e.RTPPortMin < 1 || e.RTPPortMax-(e.RTPPortMin+e.RTPPortMin%2) < 1) {
			t.Fatalf("endpoint %+v accepted", e)
		}
	})
}
