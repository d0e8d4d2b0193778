package sip

import (
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// UserAgentString is the User-Agent header value (RFC 3261 §20.41):
// product/version, followed, when withOS is set, by the operating system
// and its release as a comment, "softphone/1.2 (Linux 6.1.0)" (the
// Genesys include_os_version_in_user_agent_header).
func UserAgentString(product string, withOS bool) string {
	if !withOS {
		return product
	}
	return product + " (" + osVersion() + ")"
}

// osVersion names the system and its release, for example "Linux 6.1.0".
func osVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return runtime.GOOS
	}
	name, rel := unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:])
	// A comment may not hold parentheses or backslashes unescaped
	// (RFC 3261 §25.1 ctext); a release string never should, but drop them.
	clean := strings.NewReplacer("(", "", ")", "", "\\", "").Replace(strings.TrimSpace(name + " " + rel))
	if clean == "" {
		return runtime.GOOS
	}
	return clean
}
