package sip

import (
	"crypto/x509"
	"testing"
)

// Without a ca_file the system roots are left to crypto/tls, which loads
// them at the first handshake (RootCAs nil); a ca_file is added to them.
func TestTLSClientConfigRoots(t *testing.T) {
	u := &UA{o: Options{Accounts: []Account{{ID: 1, User: "alice", Server: "127.0.0.1:5061"}}}}
	conf, err := u.tlsClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if conf.RootCAs != nil || conf.MinVersion == 0 {
		t.Fatalf("no ca_file: RootCAs %v MinVersion %#x, want nil (the system roots, loaded at the first handshake) and TLS 1.2", conf.RootCAs, conf.MinVersion)
	}

	cert, caFile := selfSignedCert(t)
	u.o.Accounts = append(u.o.Accounts, Account{ID: 2, User: "bob", Server: "127.0.0.1:5061", CAFile: caFile})
	conf, err = u.tlsClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if conf.RootCAs == nil {
		t.Fatal("ca_file given: RootCAs nil")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: conf.RootCAs}); err != nil {
		t.Fatalf("the ca_file's certificate does not verify against RootCAs: %v", err)
	}

	u.o.Accounts = append(u.o.Accounts, Account{ID: 3, User: "carol", Server: "127.0.0.1:5061", CAFile: t.TempDir() + "/none.pem"})
	if _, err := u.tlsClientConfig(); err == nil {
		t.Fatal("a missing ca_file gave no error")
	}
}
