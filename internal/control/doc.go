// Package control is the daemon's local front end: an HTTP API under /v1/
// with a server-sent-events stream, connector routes at the root for agent
// desktops (/session, /register, /audio, /calls), a status page at /, the
// Go client for it, and the command line client the softphone command runs
// against a running daemon. It serves TCP, a unix socket, or both.
//
//	softphone status ──► RunCLI ──► Client ──HTTP/JSON──► Server ──► Phone (the daemon)
//	softphone events ◄── RunCLI ◄── Client ◄──SSE──────── Server ◄── Phone.Subscribe
//
// Every request first passes the Host check (DNS-rebinding protection) and
// the Origin check (CORS for Options.AllowedOrigins); see access.go.
// Every /v1/ route needs "Authorization: Bearer <token>" (RFC 6750 §2.1);
// the token lives in a file only its owner can read (LoadOrCreateToken).
// Requests and answers are JSON; errors are {"error": "...", "code": "..."}
// with the statuses listed in API.md. The event stream is
// text/event-stream as the WHATWG HTML "Server-sent events" section
// defines it: one "id:", "event:" and "data:" block per phone.Event, sent
// in order and never dropped. A client that reads slowly slows the stream
// down rather than losing events; one that stops reading altogether is cut
// off after Options.EventWriteTimeout.
//
// The package imports internal/phone for its data types and sentinel errors
// only; the daemon is reached through the Phone interface.
package control
