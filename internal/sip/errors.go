package sip

import (
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"
)

var (
	// ErrNotAcceptable is wrapped by Media.Answer when an offer cannot be
	// accepted; the UA then answers 488 Not Acceptable Here (RFC 3261 §21.4.26).
	ErrNotAcceptable = errors.New("sip: offer not acceptable")
	// ErrClosed is returned by UA methods after Close.
	ErrClosed = errors.New("sip: user agent closed")
	// ErrNotStarted is returned when the UA is used before Start.
	ErrNotStarted = errors.New("sip: user agent not started")
	// ErrUnknownAccount is returned by Dial for an account index that does not exist.
	ErrUnknownAccount = errors.New("sip: unknown account")
	// ErrFlowFailed means the connection a TCP/TLS registration rides on
	// is gone or stopped answering keep-alives (RFC 5626 §4.4.1).
	ErrFlowFailed = errors.New("sip: registration flow failed")
	// ErrInvalidState is returned when a call operation does not fit the call's state.
	ErrInvalidState = errors.New("sip: operation not allowed in this call state")
	// ErrInvalidCode is returned by Reject for a status code outside 400-699.
	ErrInvalidCode = errors.New("sip: reject code must be 400-699")
	// ErrCallEnded is the cause of a call context cancelled because the call ended.
	ErrCallEnded = errors.New("sip: call ended")
	// ErrInvalidTarget is returned for a dial or transfer target that is not a SIP URI.
	ErrInvalidTarget = errors.New("sip: invalid target")
	// ErrPending is returned when a re-INVITE is already in progress (RFC 3261 §14.1).
	ErrPending = errors.New("sip: request pending")
	// ErrInvalidOptions is wrapped by New for bad Options.
	ErrInvalidOptions = errors.New("sip: invalid options")
	// ErrNoTarget is returned when no server address could be resolved.
	ErrNoTarget = errors.New("sip: no server target")
	// ErrTimeout is the cause when a request or session timed out.
	ErrTimeout = errors.New("sip: timeout")
	// ErrAuth is returned when a digest challenge cannot be answered.
	ErrAuth = errors.New("sip: authentication failed")
	// ErrNoSubscription is returned by Call.ReferProgress when the call has
	// no transfer subscription to report on: no REFER was received, it
	// asked for none (Refer-Sub: false), or its final NOTIFY was sent
	// already (by an earlier report, the guard timer, or the dialog ended).
	ErrNoSubscription = errors.New("sip: no transfer subscription in progress")
	// ErrInvalidStatus is returned by Call.ReferProgress for a status code
	// outside 100-699.
	ErrInvalidStatus = errors.New("sip: transfer status code must be 100-699")
)

// ResponseError carries the final non-2xx response that ended a request, for
// errors.As.
type ResponseError struct {
	Code   int
	Reason string
	Res    *sip.Response
}

// Error implements error.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("sip: %d %s", e.Code, e.Reason)
}

func responseError(res *sip.Response) error {
	return &ResponseError{Code: res.StatusCode, Reason: res.Reason, Res: res}
}
