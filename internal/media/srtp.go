package media

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// SRTPMode says whether calls use SRTP with SDES keys (RFC 4568).
//
// Offers follow the practice of baresip's srtp modules ("srtp" and
// "srtp-mand"), which Asterisk, FreeSWITCH and most desk phones read:
//
//   - SRTPMandatory offers RTP/SAVP with a=crypto and refuses any offer or
//     answer that does not end in SRTP.
//   - SRTPOptional offers RTP/AVP with a=crypto ("best effort" SRTP): a
//     peer that understands SDES answers with a=crypto and media is
//     encrypted, any other peer ignores the attribute and media is plain.
//     It accepts RTP/SAVP offers, and RTP/AVP offers with or without
//     a=crypto.
//   - SRTPOff never writes a=crypto, ignores it in RTP/AVP offers and
//     refuses RTP/SAVP.
//
// This is a setting rather than a state, so its zero value is SRTPOff:
// a Local written without the field keeps meaning plain RTP.
type SRTPMode int

// SRTP modes.
const (
	SRTPOff SRTPMode = iota
	SRTPOptional
	SRTPMandatory
)

// String returns "off", "optional" or "mandatory".
func (m SRTPMode) String() string {
	switch m {
	case SRTPOff:
		return "off"
	case SRTPOptional:
		return "optional"
	case SRTPMandatory:
		return "mandatory"
	default:
		return "unknown"
	}
}

// ParseSRTPMode parses "off", "optional" or "mandatory", case-insensitively;
// an empty string is SRTPOff.
func ParseSRTPMode(s string) (SRTPMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off", "":
		return SRTPOff, nil
	case "optional":
		return SRTPOptional, nil
	case "mandatory":
		return SRTPMandatory, nil
	default:
		return SRTPOff, fmt.Errorf("%w: %q", ErrInvalidSRTPMode, s)
	}
}

// SRTPSuite is an SDES crypto-suite (RFC 4568 §6.2).
type SRTPSuite int

// Crypto-suites. The zero value is SRTPSuiteUnknown.
const (
	SRTPSuiteUnknown SRTPSuite = iota
	// AES_CM_128_HMAC_SHA1_80: AES counter mode, 80-bit HMAC-SHA1 tag.
	AESCM128HMACSHA180
	// AES_CM_128_HMAC_SHA1_32: the same with a 32-bit tag on RTP.
	AESCM128HMACSHA132
)

// String returns the suite's SDP name.
func (s SRTPSuite) String() string {
	switch s {
	case AESCM128HMACSHA180:
		return "AES_CM_128_HMAC_SHA1_80"
	case AESCM128HMACSHA132:
		return "AES_CM_128_HMAC_SHA1_32"
	default:
		return "unknown"
	}
}

// ParseSRTPSuite parses an SDP crypto-suite name.
func ParseSRTPSuite(s string) (SRTPSuite, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "AES_CM_128_HMAC_SHA1_80":
		return AESCM128HMACSHA180, nil
	case "AES_CM_128_HMAC_SHA1_32":
		return AESCM128HMACSHA132, nil
	default:
		return SRTPSuiteUnknown, fmt.Errorf("%w: crypto-suite %q", ErrSRTP, s)
	}
}

// profile returns pion's protection profile for the suite.
func (s SRTPSuite) profile() (srtp.ProtectionProfile, error) {
	switch s {
	case AESCM128HMACSHA180:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	case AESCM128HMACSHA132:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, nil
	default:
		return 0, fmt.Errorf("%w: crypto-suite %s", ErrSRTP, s)
	}
}

// srtpSuites are the suites we offer, in preference order, with the tag
// each gets in our offers.
var srtpSuites = []SRTPSuite{AESCM128HMACSHA180, AESCM128HMACSHA132}

// SDES key sizes for the AES_CM_128 suites (RFC 4568 §6.2.1): a 128-bit
// master key followed by a 112-bit master salt.
const (
	srtpKeyLen  = 16
	srtpSaltLen = 14
)

// SRTPKeys are the agreed SDES parameters of one stream.
type SRTPKeys struct {
	// Suite is the agreed crypto-suite.
	Suite SRTPSuite
	// Tag is the a=crypto tag both ends used (RFC 4568 §9.1).
	Tag int
	// LocalKey encrypts what we send; RemoteKey decrypts what we
	// receive. Each is the master key followed by the master salt.
	LocalKey, RemoteKey []byte
}

// Equal reports whether k and o hold the same suite and keys.
func (k *SRTPKeys) Equal(o *SRTPKeys) bool {
	if k == nil || o == nil {
		return k == o
	}
	return k.Suite == o.Suite && string(k.LocalKey) == string(o.LocalKey) && string(k.RemoteKey) == string(o.RemoteKey)
}

// cryptoLine is one a=crypto attribute (RFC 4568 §9.1):
//
//	a=crypto:<tag> <crypto-suite> inline:<key||salt base64>[|lifetime][|MKI:len] [session-params]
type cryptoLine struct {
	tag   int
	suite SRTPSuite
	key   []byte // master key || master salt
}

// String returns the attribute value (after "crypto:").
func (c cryptoLine) String() string {
	return fmt.Sprintf("%d %s inline:%s", c.tag, c.suite, base64.StdEncoding.EncodeToString(c.key))
}

// parseCrypto parses an a=crypto value. Lines we cannot use return an
// error: unknown suites, an MKI (we do not rekey), several keys, or
// session parameters such as UNENCRYPTED_SRTP (RFC 4568 §6.3) that change
// how packets are protected.
func parseCrypto(v string) (cryptoLine, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return cryptoLine{}, fmt.Errorf("%w: bad a=crypto %q", ErrSRTP, v)
	}
	if len(f) > 3 {
		return cryptoLine{}, fmt.Errorf("%w: session parameters %q not supported", ErrSRTP, strings.Join(f[3:], " "))
	}
	tag, err := strconv.ParseUint(f[0], 10, 31)
	if err != nil || len(f[0]) > 9 {
		return cryptoLine{}, fmt.Errorf("%w: bad a=crypto tag %q", ErrSRTP, f[0])
	}
	suite, err := ParseSRTPSuite(f[1])
	if err != nil {
		return cryptoLine{}, err
	}
	params := f[2]
	if strings.Contains(params, ";") {
		return cryptoLine{}, fmt.Errorf("%w: several keys in one a=crypto not supported", ErrSRTP)
	}
	method, info, ok := strings.Cut(params, ":")
	if !ok || !strings.EqualFold(method, "inline") {
		return cryptoLine{}, fmt.Errorf("%w: key method %q not supported", ErrSRTP, method)
	}
	parts := strings.Split(info, "|")
	for _, p := range parts[1:] {
		if strings.Contains(p, ":") {
			return cryptoLine{}, fmt.Errorf("%w: mki %q not supported", ErrSRTP, p)
		}
		// A lifetime (RFC 4568 §6.1) is accepted and not enforced: a call
		// never sends 2^31 packets.
	}
	key, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		// Some peers leave out the padding.
		key, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[0], "="))
	}
	if err != nil || len(key) != srtpKeyLen+srtpSaltLen {
		return cryptoLine{}, fmt.Errorf("%w: inline key of %d bytes, want %d", ErrSRTP, len(key), srtpKeyLen+srtpSaltLen)
	}
	return cryptoLine{tag: int(tag), suite: suite, key: key}, nil
}

// newSRTPKey returns a random master key and salt.
func newSRTPKey() ([]byte, error) {
	k := make([]byte, srtpKeyLen+srtpSaltLen)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("%w: key generation: %w", ErrSRTP, err)
	}
	return k, nil
}

// srtpReplayWindow is the replay window of the receiving contexts, in
// packets; RFC 3711 §3.3.2 asks for at least 64.
const srtpReplayWindow = 128

// srtpContexts are the SRTP state of a session: one context encrypts, and
// each reader has its own decrypting context, so no context is shared
// between goroutines (pion's Context is not safe for concurrent use).
type srtpContexts struct {
	keys    *SRTPKeys
	enc     *srtp.Context // used under Session.mu
	decRTP  *srtp.Context // used by the RTP reader only
	decRTCP *srtp.Context // used by the RTCP reader only
}

// newSRTPContexts creates the contexts for k, with replay protection on
// both SRTP and SRTCP (RFC 3711 §3.3.2).
func newSRTPContexts(k *SRTPKeys) (*srtpContexts, error) {
	prof, err := k.Suite.profile()
	if err != nil {
		return nil, err
	}
	if len(k.LocalKey) != srtpKeyLen+srtpSaltLen || len(k.RemoteKey) != srtpKeyLen+srtpSaltLen {
		return nil, fmt.Errorf("%w: key length", ErrSRTP)
	}
	c := &srtpContexts{keys: k}
	if c.enc, err = srtp.CreateContext(k.LocalKey[:srtpKeyLen], k.LocalKey[srtpKeyLen:], prof); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSRTP, err)
	}
	replay := []srtp.ContextOption{srtp.SRTPReplayProtection(srtpReplayWindow), srtp.SRTCPReplayProtection(srtpReplayWindow)}
	if c.decRTP, err = srtp.CreateContext(k.RemoteKey[:srtpKeyLen], k.RemoteKey[srtpKeyLen:], prof, replay...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSRTP, err)
	}
	if c.decRTCP, err = srtp.CreateContext(k.RemoteKey[:srtpKeyLen], k.RemoteKey[srtpKeyLen:], prof, replay...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSRTP, err)
	}
	return c, nil
}

// srtpFailure classifies a decryption error: an authentication failure
// (tampered or wrongly keyed packet), a replay, or something else (too
// short). pion keeps its duplicate-packet error unexported, so a replay is
// recognised by its text.
type srtpFailure int

const (
	srtpOtherFailure srtpFailure = iota
	srtpAuthFailure
	srtpReplay
)

// String names the failure for logs.
func (f srtpFailure) String() string {
	switch f {
	case srtpAuthFailure:
		return "authentication"
	case srtpReplay:
		return "replay"
	default:
		return "other"
	}
}

func classifySRTPError(err error) srtpFailure {
	switch {
	case errors.Is(err, srtp.ErrFailedToVerifyAuthTag):
		return srtpAuthFailure
	case strings.Contains(err.Error(), "duplicated"):
		return srtpReplay
	default:
		return srtpOtherFailure
	}
}
