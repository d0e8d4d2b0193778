package sip

import (
	"errors"
	"net"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestParseAcceptPolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    AcceptPolicy
		wantErr bool
	}{
		{"proxy", AcceptProxy, false},
		{" Any ", AcceptAny, false},
		{"all", AcceptUnknown, true},
		{"", AcceptUnknown, true},
	}
	for _, tt := range tests {
		got, err := ParseAcceptPolicy(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseAcceptPolicy(%q) = %v, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("error %v does not wrap ErrInvalidOptions", err)
		}
	}
	if AcceptProxy.String() != "proxy" || AcceptAny.String() != "any" || AcceptUnknown.String() != "unknown" {
		t.Error("AcceptPolicy.String")
	}
}

func TestParseTrustedHosts(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		wantErr bool
	}{
		{"", 0, false},
		{"10.0.0.0/8, 192.0.2.7 ,sbc-1.example.com", 3, false},
		{"[2001:db8::1], 2001:db8::/32", 2, false},
		{"10.0.0.0/99", 0, true},
		{"sbc:5060", 0, true},
		{"-bad-.example", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseTrustedHosts(tt.in)
		if (err != nil) != tt.wantErr || len(got) != tt.n {
			t.Errorf("ParseTrustedHosts(%q) = %v, %v", tt.in, got, err)
		}
	}
}

// TestAdmission: while an account is registered, out-of-dialog requests
// are admitted only from its servers' resolved addresses (SRV targets
// included) and the trusted hosts; in-dialog requests and every request
// while nothing is registered are admitted.
func TestAdmission(t *testing.T) {
	res := startDNS(t, map[string][]dnsmessage.SRVResource{
		"_sip._udp.pbx.test.": {{Priority: 10, Weight: 1, Port: 5060, Target: dnsmessage.MustNewName("node1.pbx.test.")}},
	}, map[string][4]byte{"node1.pbx.test.": {192, 0, 2, 10}, "sbc.test.": {192, 0, 2, 30}})
	u, err := New(Options{Resolver: res, TrustedHosts: []string{"198.51.100.0/24", "sbc.test"},
		Accounts: []Account{{ID: 1, User: "alice", Server: "pbx.test", BackupServer: "192.0.2.20", OutboundProxy: "192.0.2.25:5070", RegTimeout: 60e9}}},
		newRecHandler(nil))
	if err != nil {
		t.Fatal(err)
	}
	from := func(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip), Port: 5060} }
	if !u.admitSource(from("203.0.113.9"), true) {
		t.Fatal("refused while nothing is registered")
	}
	u.updateAdmission(Registration{Account: 1, State: RegRegistered})
	for ip, want := range map[string]bool{
		"192.0.2.10":   true,  // SRV target of the registrar
		"192.0.2.20":   true,  // backup server
		"192.0.2.25":   true,  // outbound proxy
		"198.51.100.7": true,  // trusted CIDR
		"192.0.2.30":   true,  // trusted host name
		"203.0.113.9":  false, // a scanner
		"192.0.2.11":   false,
	} {
		if got := u.admitSource(from(ip), true); got != want {
			t.Errorf("source %s admitted %v, want %v", ip, got, want)
		}
	}
	if !u.admitSource(from("203.0.113.9"), false) {
		t.Error("an in-dialog request was refused")
	}
	u.updateAdmission(Registration{Account: 1, State: RegFailed})
	if !u.admitSource(from("203.0.113.9"), true) {
		t.Error("refused once no account is registered any more")
	}
	any, err := New(Options{AcceptInvites: "any", Accounts: []Account{{ID: 1, User: "a", Server: "192.0.2.10", RegTimeout: 60e9}}}, newRecHandler(nil))
	if err != nil {
		t.Fatal(err)
	}
	any.updateAdmission(Registration{Account: 1, State: RegRegistered})
	if !any.admitSource(from("203.0.113.9"), true) {
		t.Error("accept_invites=any refused a source")
	}
	if _, err := New(Options{AcceptInvites: "some"}, newRecHandler(nil)); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("bad accept policy: %v", err)
	}
}
