package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/phone"
)

// Client talks to a running daemon's API. Errors the server answers are
// *APIError values (errors.As), which unwrap to the phone's sentinels.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// unixPrefix starts a baseURL that names a unix socket path.
const unixPrefix = "unix:"

// NewClient returns a client for the API at baseURL using token. baseURL
// is "http://127.0.0.1:21000", just "127.0.0.1:21000", or "unix:/path" for
// a daemon serving Options.UnixSocket.
//
// Before a request (and its token) goes out, the client makes sure the
// daemon at the other end runs as the same user as this process: on the
// unix socket, the server's SO_PEERCRED; on TCP, the owner of the
// listening socket in /proc/net/tcp or tcp6. Another user's process
// squatting on the address gets nothing; the request fails with
// ErrNotYours.
func NewClient(baseURL, token string) *Client {
	tr := &http.Transport{
		// One request per command: no idle connections left behind.
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: 0, // dial may take a while; ctx bounds it
		TLSHandshakeTimeout:   10 * time.Second,
	}
	var d net.Dialer
	if path, ok := strings.CutPrefix(baseURL, unixPrefix); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, err
			}
			return ownConn(c, path)
		}
		baseURL = "http://localhost" // the socket is the address; Host is unchecked there
	} else {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return ownConn(c, addr)
		}
	}
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	return &Client{
		base:  strings.TrimRight(baseURL, "/"),
		token: token,
		http: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// ownConn returns c if the process serving it belongs to this process's
// user, and closes it otherwise.
func ownConn(c net.Conn, addr string) (net.Conn, error) {
	self := uint32(os.Geteuid())
	var uid uint32
	var err error
	switch cc := c.(type) {
	case *net.UnixConn:
		uid, err = peerUID(cc)
	default:
		ap, ok := addrPort(c.RemoteAddr())
		if !ok {
			err = fmt.Errorf("control: %s is not a tcp address", c.RemoteAddr())
			break
		}
		uid, err = listenerUID(ap)
	}
	if err == nil && uid != self {
		err = fmt.Errorf("%w: %s is served by uid %d, not by uid %d: the token was not sent (is another user's program on the daemon's address?)",
			ErrNotYours, addr, uid, self)
	} else if err != nil {
		err = fmt.Errorf("%w: cannot tell who serves %s: %w", ErrNotYours, addr, err)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// RotateToken asks the daemon for a new token (POST /v1/token/rotate); the
// daemon writes it to its token file, and this client's token stops
// working.
func (c *Client) RotateToken(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/token/rotate", nil, http.StatusNoContent, nil)
}

// Reload asks the daemon to read its configuration again (POST /v1/reload).
func (c *Client) Reload(ctx context.Context) (phone.ReloadReport, error) {
	var rep phone.ReloadReport
	err := c.do(ctx, http.MethodPost, "/v1/reload", nil, http.StatusOK, &rep)
	return rep, err
}

// Session returns GET /session.
func (c *Client) Session(ctx context.Context) (Session, error) {
	var s Session
	err := c.do(ctx, http.MethodGet, "/session", nil, http.StatusOK, &s)
	return s, err
}

// StartConnections (re)starts the registrations (POST /register).
func (c *Client) StartConnections(ctx context.Context) (Session, error) {
	var s Session
	err := c.do(ctx, http.MethodPost, "/register", nil, http.StatusOK, &s)
	return s, err
}

// StopConnections un-registers every connection (DELETE /register).
func (c *Client) StopConnections(ctx context.Context) (Session, error) {
	var s Session
	err := c.do(ctx, http.MethodDelete, "/register", nil, http.StatusOK, &s)
	return s, err
}

// SetAudio changes levels and mute (POST /audio) and returns the devices
// after the change.
func (c *Client) SetAudio(ctx context.Context, req AudioRequest) (phone.AudioState, error) {
	var a phone.AudioState
	err := c.do(ctx, http.MethodPost, "/audio", req, http.StatusOK, &a)
	return a, err
}

// ReleaseAll ends every call (DELETE /calls).
func (c *Client) ReleaseAll(ctx context.Context) (Released, error) {
	var r Released
	err := c.do(ctx, http.MethodDelete, "/calls", nil, http.StatusOK, &r)
	return r, err
}

// Status returns GET /v1/status.
func (c *Client) Status(ctx context.Context) (phone.Status, error) {
	var st phone.Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, http.StatusOK, &st)
	return st, err
}

// Devices returns GET /v1/devices: the `softphone devices --json` object.
func (c *Client) Devices(ctx context.Context) (json.RawMessage, error) {
	var v json.RawMessage
	err := c.do(ctx, http.MethodGet, "/v1/devices", nil, http.StatusOK, &v)
	return v, err
}

// Calls returns GET /v1/calls.
func (c *Client) Calls(ctx context.Context) ([]phone.CallInfo, error) {
	var calls []phone.CallInfo
	err := c.do(ctx, http.MethodGet, "/v1/calls", nil, http.StatusOK, &calls)
	return calls, err
}

// Call returns GET /v1/calls/{id}.
func (c *Client) Call(ctx context.Context, id string) (phone.CallInfo, error) {
	var ci phone.CallInfo
	err := c.do(ctx, http.MethodGet, "/v1/calls/"+url.PathEscape(id), nil, http.StatusOK, &ci)
	return ci, err
}

// Dial places a call with POST /v1/calls; connection -1 is the default
// connection.
func (c *Client) Dial(ctx context.Context, uri string, connection int) (phone.CallInfo, error) {
	var ci phone.CallInfo
	err := c.do(ctx, http.MethodPost, "/v1/calls", DialRequest{URI: uri, Connection: &connection}, http.StatusCreated, &ci)
	return ci, err
}

// Answer answers call id, or the only call when id is "".
func (c *Client) Answer(ctx context.Context, id string) error {
	return c.act(ctx, "answer", id, actionRequest{})
}

// Reject refuses call id (the only call when "") with code; 0 sends
// DefaultRejectCode.
func (c *Client) Reject(ctx context.Context, id string, code int) error {
	return c.act(ctx, "reject", id, actionRequest{Code: code})
}

// Hangup ends call id, or the only call when id is "".
func (c *Client) Hangup(ctx context.Context, id string) error {
	return c.act(ctx, "hangup", id, actionRequest{})
}

// Hold puts call id (the only call when "") on hold.
func (c *Client) Hold(ctx context.Context, id string) error {
	return c.act(ctx, "hold", id, actionRequest{})
}

// Resume takes call id (the only call when "") off hold.
func (c *Client) Resume(ctx context.Context, id string) error {
	return c.act(ctx, "resume", id, actionRequest{})
}

// DTMF sends digits on call id (the only call when "").
func (c *Client) DTMF(ctx context.Context, id, digits string) error {
	return c.act(ctx, "dtmf", id, actionRequest{Digits: digits})
}

// Transfer sends call id (the only call when "") to target.
func (c *Client) Transfer(ctx context.Context, id, target string) error {
	return c.act(ctx, "transfer", id, actionRequest{Target: target})
}

// AttendedTransfer connects the remote party of call id (the one call
// besides toCall when "") with the remote party of call toCall.
func (c *Client) AttendedTransfer(ctx context.Context, id, toCall string) error {
	return c.act(ctx, "transfer", id, actionRequest{ToCall: toCall})
}

// act posts a verb to /v1/calls/{id}/verb, or to /v1/verb when id is "".
func (c *Client) act(ctx context.Context, verb, id string, body actionRequest) error {
	path := "/v1/" + verb
	if id != "" {
		path = "/v1/calls/" + url.PathEscape(id) + "/" + verb
	}
	return c.do(ctx, http.MethodPost, path, body, http.StatusNoContent, nil)
}

// Events reads GET /v1/events and calls fn for each event, in order, until
// ctx ends (it then returns nil) or the stream does (ErrStreamEnded).
func (c *Client) Events(ctx context.Context, fn func(phone.Event)) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("control: events: content type %q, want text/event-stream", ct)
	}
	err = readEvents(resp.Body, fn)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// readEvents parses an event stream (WHATWG HTML, "Server-sent events":
// lines of "field: value", blocks ended by a blank line, ":" comments) and
// hands each block's data on as a phone.Event.
func readEvents(r io.Reader, fn func(phone.Event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if data.Len() > 0 {
				var ev phone.Event
				if err := json.Unmarshal(data.Bytes(), &ev); err != nil {
					return fmt.Errorf("%w: %v", ErrBadEvent, err)
				}
				fn(ev)
				data.Reset()
			}
			continue
		}
		if line[0] == ':' {
			continue // comment: keep-alive
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) == "data" {
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(value)
		}
		// "id" and "event" repeat what the JSON carries; others are ignored.
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("control: events: %w", err)
	}
	return ErrStreamEnded
}

// do sends a JSON request and decodes the answer into out when the status
// is want; any other status becomes an *APIError.
func (c *Client) do(ctx context.Context, method, path string, in any, want int, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return readAPIError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("control: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("control: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if errors.Is(err, ErrNotYours) {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ownConn's message says it all
		}
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("control: is the daemon running? %w", err)
	}
	return resp, nil
}

// readAPIError turns an error answer into an *APIError, keeping the
// server's message when the body is the API's JSON error.
func readAPIError(resp *http.Response) error {
	ae := &APIError{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes)) // a cut body still yields the status
	var eb ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		ae.Code, ae.Message = eb.Code, eb.Error
	} else if msg := strings.TrimSpace(string(b)); msg != "" {
		ae.Message = fmt.Sprintf("control: server answered %d: %s", resp.StatusCode, msg)
	}
	return ae
}
