package control

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/softphone/softphone/internal/phone"
)

// ErrorCode is the machine-readable "code" of an API error answer.
type ErrorCode string

// The error codes the API answers with. CodeUnknown is the zero value: an
// answer without a code.
const (
	CodeUnknown          ErrorCode = ""
	CodeUnauthorized     ErrorCode = "unauthorized"       // 401: token missing or wrong
	CodeForbidden        ErrorCode = "forbidden"          // 403: Host or Origin refused
	CodeNotFound         ErrorCode = "not_found"          // 404: no such route
	CodeMethodNotAllowed ErrorCode = "method_not_allowed" // 405: see the Allow header
	CodeBadRequest       ErrorCode = "bad_request"        // 400: body is not the JSON expected
	CodeBodyTooLarge     ErrorCode = "body_too_large"     // 413: body over MaxBodyBytes
	CodeNoSuchCall       ErrorCode = "no_such_call"       // 404: phone.ErrNoSuchCall
	CodeAmbiguousCall    ErrorCode = "ambiguous_call"     // 409: phone.ErrAmbiguousCall
	CodeOutgoingBlocked  ErrorCode = "outgoing_blocked"   // 403: phone.ErrOutgoingBlocked
	CodeInvalidState     ErrorCode = "invalid_state"      // 409: phone.ErrInvalidState
	CodeInvalidArgument  ErrorCode = "invalid_argument"   // 400: phone.ErrInvalidArgument
	CodeInternal         ErrorCode = "internal"           // 500: any other failure

	CodeUnsupportedMediaType ErrorCode = "unsupported_media_type" // 415: a body that is not application/json
	CodeTooManyStreams       ErrorCode = "too_many_streams"       // 503: Options.MaxEventStreams reached
)

// String returns the code as it appears on the wire, "unknown" for the zero
// value.
func (c ErrorCode) String() string {
	if c == CodeUnknown {
		return "unknown"
	}
	return string(c)
}

// phoneErrors maps the phone's sentinels to codes and statuses, in the
// order errors.Is tries them.
var phoneErrors = []struct {
	err    error
	code   ErrorCode
	status int
}{
	{phone.ErrNoSuchCall, CodeNoSuchCall, http.StatusNotFound},
	{phone.ErrAmbiguousCall, CodeAmbiguousCall, http.StatusConflict},
	{phone.ErrOutgoingBlocked, CodeOutgoingBlocked, http.StatusForbidden},
	{phone.ErrInvalidState, CodeInvalidState, http.StatusConflict},
	{phone.ErrInvalidArgument, CodeInvalidArgument, http.StatusBadRequest},
}

// classify returns the status and code a phone error is answered with.
func classify(err error) (int, ErrorCode) {
	for _, pe := range phoneErrors {
		if errors.Is(err, pe.err) {
			return pe.status, pe.code
		}
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status, ae.Code
	}
	return http.StatusInternalServerError, CodeInternal
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error string    `json:"error"`
	Code  ErrorCode `json:"code"`
}

// APIError is an error answer from the server as the Client sees it: the
// HTTP status, the code and the server's message. It unwraps to the
// matching phone sentinel, so errors.Is(err, phone.ErrNoSuchCall) holds for
// a "no_such_call" answer.
type APIError struct {
	Status  int
	Code    ErrorCode
	Message string
}

// Error returns the server's message, with the status when there is none.
func (e *APIError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("control: server answered %d %s", e.Status, http.StatusText(e.Status))
}

// Unwrap returns the phone sentinel the code stands for, or nil.
func (e *APIError) Unwrap() error {
	for _, pe := range phoneErrors {
		if pe.code == e.Code {
			return pe.err
		}
	}
	return nil
}
