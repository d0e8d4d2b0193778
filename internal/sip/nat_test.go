package sip

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestViaAddress(t *testing.T) {
	ours := sip.Uri{Scheme: "sip", User: "alice", Host: "10.0.0.5", Port: 5060}
	tests := []struct {
		name        string
		via         string // the Via of the 200 OK; "" = none
		cur         sip.Uri
		wantAddr    string
		wantChanged bool
	}{
		{name: "no via", cur: ours},
		{name: "no received or rport", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1", cur: ours, wantAddr: "10.0.0.5:5060"},
		{name: "same address", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=10.0.0.5;rport=5060", cur: ours, wantAddr: "10.0.0.5:5060"},
		{name: "rport only differs", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport=40123", cur: ours, wantAddr: "10.0.0.5:40123", wantChanged: true},
		{name: "received and rport", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123", cur: ours, wantAddr: "203.0.113.7:40123", wantChanged: true},
		{name: "received only", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7", cur: ours, wantAddr: "203.0.113.7:5060", wantChanged: true},
		{name: "rport without value", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport", cur: ours, wantAddr: "10.0.0.5:5060"},
		{name: "bad rport ignored", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport=99999", cur: ours, wantAddr: "10.0.0.5:5060"},
		{name: "received not an address", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=nat.example", cur: ours, wantAddr: "10.0.0.5:5060"},
		{name: "contact without port is 5060", via: "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1;rport=5060", cur: sip.Uri{Host: "10.0.0.5"}, wantAddr: "10.0.0.5:5060"},
		{name: "already rewritten", via: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123", cur: sip.Uri{Host: "203.0.113.7", Port: 40123}, wantAddr: "203.0.113.7:40123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := sip.NewResponse(200, "OK")
			if tc.via != "" {
				res.AppendHeader(sip.NewHeader("Via", tc.via))
				msg, err := sip.ParseMessage([]byte(res.String()))
				if err != nil {
					t.Fatal(err)
				}
				res = msg.(*sip.Response)
			}
			addr, changed := viaAddress(res, tc.cur)
			if addr != tc.wantAddr || changed != tc.wantChanged {
				t.Fatalf("viaAddress = %q %v, want %q %v", addr, changed, tc.wantAddr, tc.wantChanged)
			}
		})
	}
}

func TestNATAddressApplies(t *testing.T) {
	via := "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;received=203.0.113.7;rport=40123"
	tests := []struct {
		name     string
		protocol string
		public   string
		want     string
	}{
		{name: "udp behind nat", protocol: "udp", want: "203.0.113.7:40123"},
		{name: "tcp keeps its contact", protocol: "tcp"},
		{name: "tls keeps its contact", protocol: "tls"},
		{name: "configured public address wins", protocol: "udp", public: "198.51.100.1:5060"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := sip.NewResponse(200, "OK")
			res.AppendHeader(sip.NewHeader("Via", via))
			msg, err := sip.ParseMessage([]byte(res.String()))
			if err != nil {
				t.Fatal(err)
			}
			r := &registration{u: &UA{o: Options{PublicAddress: tc.public}}, a: Account{Protocol: tc.protocol}}
			if got := r.natAddress(msg.(*sip.Response), sip.Uri{Host: "10.0.0.5", Port: 5060}); got != tc.want {
				t.Fatalf("natAddress = %q, want %q", got, tc.want)
			}
		})
	}
}
