package sip

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestUserAgentString(t *testing.T) {
	if got := UserAgentString("softphone/1.0", false); got != "softphone/1.0" {
		t.Errorf("without os = %q", got)
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	got := UserAgentString("softphone/1.0", true)
	if !strings.HasPrefix(got, "softphone/1.0 (Linux ") || !strings.HasSuffix(got, rel+")") {
		t.Errorf("with os = %q, want softphone/1.0 (Linux %s)", got, rel)
	}
}
