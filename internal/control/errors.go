package control

import "errors"

// Errors of the control package.
var (
	// ErrNoToken means the server was given no token: the API is never
	// served without authentication.
	ErrNoToken = errors.New("control: no api token configured")
	// ErrNoPhone means the server was given no Phone to drive.
	ErrNoPhone = errors.New("control: no phone to serve")
	// ErrStarted means Start was called on a server that is already
	// running.
	ErrStarted = errors.New("control: server already started")
	// ErrClosed means Start was called on a server that was closed.
	ErrClosed = errors.New("control: server closed")
	// ErrNoListener means Options.Listen is ListenNone and no
	// Options.UnixSocket is given: the server would serve nothing.
	ErrNoListener = errors.New("control: neither a tcp address nor a unix socket to serve")
	// ErrSocketInUse means another process serves on Options.UnixSocket.
	ErrSocketInUse = errors.New("control: unix socket in use by another process")
	// ErrTokenPermissions means the token file can be read or written by
	// its group or by others; it must be mode 0600 or stricter.
	ErrTokenPermissions = errors.New("control: token file is accessible by group or others")
	// ErrUnsafeFile means a token or lock file, or its folder, could be
	// read, replaced or redirected by another user: a symlink, another
	// owner, a folder writable by group or others.
	ErrUnsafeFile = errors.New("control: unsafe file")
	// ErrWeakToken means the token file holds fewer than MinTokenLen
	// characters.
	ErrWeakToken = errors.New("control: token too short")
	// ErrNotYours means the API's listener or socket belongs to another
	// user than the client's: the token is not sent there.
	ErrNotYours = errors.New("control: the api listener belongs to another user")
	// ErrTooManyStreams means the server already serves
	// Options.MaxEventStreams event streams.
	ErrTooManyStreams = errors.New("control: too many event streams")
	// ErrEmptyToken means the token file holds no token.
	ErrEmptyToken = errors.New("control: token file is empty")
	// ErrStreamEnded means the daemon ended the event stream (it is
	// shutting down, or the stream stalled).
	ErrStreamEnded = errors.New("control: event stream ended by the daemon")
	// ErrBadEvent means the event stream carried an event that is not a
	// phone.Event in JSON.
	ErrBadEvent = errors.New("control: malformed event in stream")
)
