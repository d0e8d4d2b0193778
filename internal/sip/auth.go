package sip

import (
	"context"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// credentials are the digest user and password of an account.
type credentials struct {
	user, password string
}

// pickChallenge chooses among the challenges of a 401/407 the strongest
// algorithm we support: SHA-256 before MD5 (RFC 8760 §2.4).
func pickChallenge(values []string) (*digest.Challenge, error) {
	var best *digest.Challenge
	rank := func(a string) int {
		switch strings.ToUpper(a) {
		case "SHA-256":
			return 3
		case "SHA-256-SESS":
			return 0
		case "", "MD5":
			return 2
		case "MD5-SESS":
			return 1
		}
		return 0
	}
	for _, v := range values {
		ch, err := digest.ParseChallenge(v)
		if err != nil {
			continue
		}
		ch.Algorithm = strings.ToUpper(ch.Algorithm)
		if rank(ch.Algorithm) == 0 || !digest.CanDigest(ch) {
			continue
		}
		if best == nil || rank(ch.Algorithm) > rank(best.Algorithm) {
			best = ch
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: no supported digest challenge in %q", ErrAuth, values)
	}
	return best, nil
}

// authorize answers the challenge of a 401 (WWW-Authenticate → Authorization)
// or 407 (Proxy-Authenticate → Proxy-Authorization) on req (RFC 3261 §22.2,
// §22.3; RFC 7616 for SHA-256). It also bumps CSeq and drops the Via so the
// retry is a new transaction.
func authorize(req *sip.Request, res *sip.Response, cred credentials) error {
	if cred.user == "" {
		return fmt.Errorf("%w: no credentials configured", ErrAuth)
	}
	chName, authName := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		chName, authName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	ch, err := pickChallenge(headerValues(res, chName))
	if err != nil {
		return err
	}
	c, err := digest.Digest(ch, digest.Options{
		Method:   string(req.Method),
		URI:      req.Recipient.Addr(),
		Username: cred.user,
		Password: cred.password,
		Count:    1,
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrAuth, err)
	}
	// Replace a credential for the same realm, keep others (RFC 3261 §22.3).
	for _, h := range req.GetHeaders(authName) {
		if pc, err := digest.ParseCredentials(h.Value()); err == nil && pc.Realm == ch.Realm {
			req.RemoveHeader(authName)
			break
		}
	}
	req.AppendHeader(sip.NewHeader(authName, c.String()))
	nextAttempt(req)
	return nil
}

// nextAttempt readies a request refused with a response that can be
// answered (a challenge, 422) to go again as a new transaction: CSeq + 1
// and a new Via branch (RFC 3261 §8.1.3.5).
func nextAttempt(req *sip.Request) {
	if cs := req.CSeq(); cs != nil {
		cs.SeqNo++
	}
	req.RemoveHeader("Via")
}

// transact sends a non-INVITE request and returns its final response,
// answering up to two digest challenges (a second one only when the first
// was accepted as stale, RFC 7616 §3.3). The caller reads the CSeq back
// from req afterwards so dialog counters stay in step.
func (u *UA) transact(ctx context.Context, req *sip.Request, cred credentials) (*sip.Response, error) {
	tries := 0
	for {
		res, err := u.once(ctx, req)
		if err != nil {
			return nil, err
		}
		if (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) && tries < 2 && cred.user != "" {
			if tries == 1 && !strings.Contains(strings.ToLower(headerValue(res, wwwOrProxy(res))), "stale=true") {
				return res, nil
			}
			tries++
			if err := authorize(req, res, cred); err != nil {
				return res, err
			}
			continue
		}
		return res, nil
	}
}

func wwwOrProxy(res *sip.Response) string {
	if res.StatusCode == sip.StatusProxyAuthRequired {
		return "Proxy-Authenticate"
	}
	return "WWW-Authenticate"
}

// once runs one client transaction to its final response.
func (u *UA) once(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	u.trace("send", req)
	tx, err := u.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: %s: %w", req.Method, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			u.trace("recv", res)
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("sip: %s: %w", req.Method, err)
			}
			return nil, fmt.Errorf("sip: %s: transaction ended without response", req.Method)
		case <-ctx.Done():
			return nil, fmt.Errorf("sip: %s: %w", req.Method, context.Cause(ctx))
		}
	}
}
