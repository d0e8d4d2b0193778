package control

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/phone"
)

// Phone is what the server drives: the daemon's phone. The daemon
// implements it; every method must be safe for concurrent use.
type Phone interface {
	// Status is the daemon's overview.
	Status() phone.Status
	// Verdict is the `softphone devices --json` object from the daemon's
	// device watcher.
	Verdict() json.RawMessage
	// Calls lists the current calls.
	Calls() []phone.CallInfo
	// Dial places a call; connection -1 picks the default connection.
	Dial(ctx context.Context, uri string, connection int) (phone.CallInfo, error)
	// Answer answers a ringing call; id "" names the only call.
	Answer(id string) error
	// Reject refuses a ringing call with a final response code in
	// 400–699. The server always passes a code: DefaultRejectCode when the
	// request names none.
	Reject(id string, code int) error
	// Hangup ends a call in any state (CANCEL or BYE).
	Hangup(id string) error
	// Hold puts an established call on hold.
	Hold(id string) error
	// Resume takes a held call off hold.
	Resume(id string) error
	// DTMF sends digits on an established call.
	DTMF(id, digits string) error
	// Transfer sends the call to target (blind transfer).
	Transfer(id, target string) error
	// AttendedTransfer connects the remote parties of call id and call
	// other (REFER with Replaces); id "" is the one call besides other.
	AttendedTransfer(id, other string) error
	// Subscribe returns a channel of events and its cancel function. The
	// channel is closed on cancel or at shutdown.
	Subscribe() (<-chan phone.Event, func())

	// Audio is the selected speaker and microphone with their levels.
	Audio() phone.AudioState
	// SetAudio changes levels and mute; errors wrap
	// phone.ErrInvalidArgument for bad values.
	SetAudio(c phone.AudioChange) error
	// Quality is the voice quality of the current call.
	Quality() phone.Quality
	// CallOutcomes counts the calls ended since the start by direction
	// and outcome (GET /v1/metrics).
	CallOutcomes() []phone.CallOutcome
	// StartConnections (re)starts the SIP registrations.
	StartConnections(ctx context.Context) error
	// StopConnections un-registers every connection; it drops the calls.
	StopConnections(ctx context.Context) error
	// ReleaseAll ends every call: a ringing incoming call is refused with
	// 480, the others get BYE or CANCEL. It returns how many it ended.
	ReleaseAll(ctx context.Context) (int, error)
	// Reload reads the configuration file again and applies what it can.
	Reload() (phone.ReloadReport, error)
}

// Defaults of Options.
const (
	// DefaultKeepAlive is how often an idle event stream gets a comment
	// line, so proxies and clients see the connection alive.
	DefaultKeepAlive = 15 * time.Second
	// DefaultEventWriteTimeout is how long one write to an event stream
	// may block before the client is considered gone.
	DefaultEventWriteTimeout = 30 * time.Second
	// DefaultRejectCode is the response a reject request without a code
	// sends: 486 Busy Here (RFC 3261 §21.4.24), the answer of a person
	// who declines the call.
	DefaultRejectCode = 486
	// MaxBodyBytes bounds every request body.
	MaxBodyBytes = 64 << 10
	// ListenNone as Options.Listen serves no TCP address: the API is then
	// reached through Options.UnixSocket only.
	ListenNone = "none"
	// DefaultMaxConnections caps the concurrent connections of each
	// listener when Options.MaxConnections is zero.
	DefaultMaxConnections = 128
	// maxUnixConnections caps the unix socket's connections: only the
	// daemon's user may open it, and the command line opens one at a time.
	maxUnixConnections = 32
	// DefaultMaxEventStreams caps the concurrent event streams when
	// Options.MaxEventStreams is zero.
	DefaultMaxEventStreams = 32
	// DefaultEventQueue is how many events may wait for one event-stream
	// client that is slow to read; one more and the client is dropped.
	DefaultEventQueue = 256
	// DefaultReadTimeout bounds reading a request's header, and then its
	// body, when Options.ReadTimeout is zero. The event stream has no
	// read deadline once it is open.
	DefaultReadTimeout = 10 * time.Second
	// writeTimeout bounds writing an answer (the event stream sets its
	// own per write).
	writeTimeout = 30 * time.Second
	// MaxHeaderBytes bounds a request's header block.
	MaxHeaderBytes = 16 << 10
)

// Options configure a Server.
type Options struct {
	// Listen is the TCP address served; when empty, 127.0.0.1 on the
	// user's own port (config.DefaultControlListen). Tests
	// pass "127.0.0.1:0".
	Listen string
	// Token is the bearer token every /v1/ request must carry. Required.
	Token string
	// Logger receives request failures; nil discards them.
	Logger *slog.Logger
	// KeepAlive is the event stream's comment interval; DefaultKeepAlive
	// when zero.
	KeepAlive time.Duration
	// EventWriteTimeout bounds one blocked write to an event stream; a
	// client that takes nothing for this long is disconnected.
	// DefaultEventWriteTimeout when zero.
	EventWriteTimeout time.Duration
	// ConnectorWithoutToken opens the connector routes (/session,
	// /register, /audio, /calls) to loopback and unix-socket clients that
	// send no Authorization header. /v1/ always needs the token.
	ConnectorWithoutToken bool
	// AllowedOrigins are the browser origins ("https://desktop.example.com")
	// that may call the API cross-origin (CORS). A request carrying any
	// other Origin is refused with 403, except the status page's own.
	AllowedOrigins []string
	// UnixSocket, when set, is a path where the API is served on a unix
	// socket (mode 0600) as well as, or with Listen = ListenNone instead
	// of, TCP.
	UnixSocket string
	// MaxConnections caps the TCP listener's concurrent connections;
	// DefaultMaxConnections when zero. Clients beyond it wait in the
	// kernel's listen queue.
	MaxConnections int
	// MaxEventStreams caps the concurrent event streams; one more is
	// answered 503. DefaultMaxEventStreams when zero.
	MaxEventStreams int
	// EventQueue is how many events may wait for one event-stream client;
	// DefaultEventQueue when zero.
	EventQueue int
	// ReadTimeout bounds reading a request's header and then its body;
	// DefaultReadTimeout when zero.
	ReadTimeout time.Duration
	// TokenFile is where POST /v1/token/rotate writes the new token; ""
	// refuses rotation.
	TokenFile string
}

// Server serves the local API. Start it once and Close it once.
type Server struct {
	opts  Options
	phone Phone
	log   *slog.Logger

	tokenMu    sync.RWMutex
	token      [sha256.Size]byte
	tokenEpoch chan struct{} // closed when the token is rotated

	streams chan struct{} // one slot per open event stream

	origins map[string]bool // normalised AllowedOrigins

	mu      sync.Mutex
	started bool
	closed  bool
	ln      net.Listener // TCP; nil with ListenNone
	unixLn  net.Listener // nil without UnixSocket
	http    *http.Server

	done       chan struct{}      // closed by Close: event streams end
	baseCancel context.CancelFunc // cancels request contexts when Close gives up waiting
	wg         sync.WaitGroup     // the serve goroutines
	closeOnce  sync.Once
	closeErr   error
}

// NewServer returns a server for p; nothing is bound before Start.
func NewServer(o Options, p Phone) *Server {
	if o.Listen == "" {
		o.Listen = config.DefaultControlListen()
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.EventWriteTimeout <= 0 {
		o.EventWriteTimeout = DefaultEventWriteTimeout
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxEventStreams <= 0 {
		o.MaxEventStreams = DefaultMaxEventStreams
	}
	if o.EventQueue <= 0 {
		o.EventQueue = DefaultEventQueue
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	origins := make(map[string]bool, len(o.AllowedOrigins))
	for _, org := range o.AllowedOrigins {
		if n := normaliseOrigin(org); n != "" {
			origins[n] = true
		}
	}
	return &Server{
		opts:       o,
		phone:      p,
		log:        log,
		token:      sha256.Sum256([]byte(o.Token)),
		tokenEpoch: make(chan struct{}),
		streams:    make(chan struct{}, o.MaxEventStreams),
		origins:    origins,
		done:       make(chan struct{}),
	}
}

// Start binds the listen address and serves in the background until
// Close. ctx bounds the bind only.
func (s *Server) Start(ctx context.Context) error {
	if s.opts.Token == "" {
		return ErrNoToken
	}
	if s.phone == nil {
		return ErrNoPhone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return ErrStarted
	}
	if s.opts.Listen == ListenNone && s.opts.UnixSocket == "" {
		return ErrNoListener
	}
	var lns []net.Listener
	if s.opts.Listen != ListenNone {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", s.opts.Listen)
		if err != nil {
			return fmt.Errorf("control: listen %s: %w", s.opts.Listen, err)
		}
		if !isLoopback(ln.Addr()) {
			s.log.Warn("control api listens beyond loopback; the token travels in clear", "addr", ln.Addr().String())
		}
		lns = append(lns, newLimitListener(ln, s.opts.MaxConnections))
	}
	if s.opts.UnixSocket != "" {
		uln, err := listenUnix(ctx, s.opts.UnixSocket)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return err
		}
		s.unixLn = newLimitListener(uln, min(s.opts.MaxConnections, maxUnixConnections))
		lns = append(lns, s.unixLn)
	}
	if len(lns) > 0 && s.unixLn != lns[0] {
		s.ln = lns[0]
	}
	base, cancel := context.WithCancel(context.Background())
	s.baseCancel = cancel
	// ReadTimeout stays 0: the guard sets a body deadline per request, so
	// the event stream can lift it (a whole-request deadline would end the
	// stream when it passed).
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.opts.ReadTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       connContext,
		ConnState:         connState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.started = true
	if s.opts.ConnectorWithoutToken {
		s.log.Warn("connector routes are open without a token to the daemon's own user (loopback and unix socket; other users get 403)",
			"routes", "/session /register /audio /calls", "uid", os.Geteuid())
	}
	for _, ln := range lns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("control api stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
	return nil
}

// Addr is the bound address ("127.0.0.1:21000"), "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close ends every event stream, lets requests in flight finish until ctx
// ends, then drops the rest, and waits for the server's goroutines. It is
// idempotent; it does not touch the phone's calls.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		srv := s.http
		cancel := s.baseCancel
		s.mu.Unlock()
		close(s.done)
		if srv == nil {
			return
		}
		err := srv.Shutdown(ctx)
		if err != nil {
			cancel()
			err = errors.Join(fmt.Errorf("control: shutdown: %w", err), srv.Close())
		}
		cancel()
		s.wg.Wait()
		s.closeErr = err
	})
	return s.closeErr
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// action is one call-control verb of the API.
type action struct {
	name string
	do   func(p Phone, id string, r actionRequest) error
}

// actions are the verbs served at /v1/calls/{id}/<name> and /v1/<name>.
var actions = []action{
	{"answer", func(p Phone, id string, _ actionRequest) error { return p.Answer(id) }},
	{"reject", func(p Phone, id string, r actionRequest) error {
		code := r.Code
		if code == 0 {
			code = DefaultRejectCode
		}
		// A rejection is a final non-2xx response: 4xx, 5xx or 6xx
		// (RFC 3261 §21.4–§21.6).
		if code < 400 || code > 699 {
			return fmt.Errorf("control: reject code %d is not in 400-699: %w", r.Code, phone.ErrInvalidArgument)
		}
		return p.Reject(id, code)
	}},
	{"hangup", func(p Phone, id string, _ actionRequest) error { return p.Hangup(id) }},
	{"hold", func(p Phone, id string, _ actionRequest) error { return p.Hold(id) }},
	{"resume", func(p Phone, id string, _ actionRequest) error { return p.Resume(id) }},
	{"dtmf", func(p Phone, id string, r actionRequest) error {
		if r.Digits == "" {
			return fmt.Errorf("control: dtmf needs digits: %w", phone.ErrInvalidArgument)
		}
		return p.DTMF(id, r.Digits)
	}},
	{"transfer", func(p Phone, id string, r actionRequest) error {
		switch {
		case r.Target != "" && r.ToCall != "":
			return fmt.Errorf("control: transfer takes a target or to_call, not both: %w", phone.ErrInvalidArgument)
		case r.ToCall != "":
			return p.AttendedTransfer(id, r.ToCall)
		case r.Target == "":
			return fmt.Errorf("control: transfer needs a target (blind) or to_call (attended): %w", phone.ErrInvalidArgument)
		}
		return p.Transfer(id, r.Target)
	}},
}

// actionRequest is the body of every action; each verb reads its fields.
type actionRequest struct {
	Call   string `json:"call,omitempty"`
	Code   int    `json:"code,omitempty"`
	Digits string `json:"digits,omitempty"`
	Target string `json:"target,omitempty"`
	ToCall string `json:"to_call,omitempty"`
}

// DialRequest is the body of POST /v1/calls.
type DialRequest struct {
	URI        string `json:"uri"`
	Connection *int   `json:"connection,omitempty"` // nil = the default connection
}

// access says what a route asks of its client.
type access int

const (
	accessUnknown   access = iota
	accessPublic           // no token: the status page and the API description
	accessToken            // the bearer token, always
	accessConnector        // the token, or loopback with ConnectorWithoutToken
)

func (a access) String() string {
	switch a {
	case accessPublic:
		return "public"
	case accessToken:
		return "token"
	case accessConnector:
		return "connector"
	default:
		return "unknown"
	}
}

// routeSpec is one path the server serves: its OpenAPI path, handlers and
// access rule. openapi.json describes exactly these.
type routeSpec struct {
	path    string
	methods methods
	access  access
}

// routes lists every path the server serves.
func (s *Server) routes() []routeSpec {
	rs := []routeSpec{
		{"/", methods{http.MethodGet: s.page}, accessPublic},
		{"/page/app.js", methods{http.MethodGet: s.pageFile("app.js", "text/javascript; charset=utf-8")}, accessPublic},
		{"/page/style.css", methods{http.MethodGet: s.pageFile("style.css", "text/css; charset=utf-8")}, accessPublic},
		{"/v1/openapi.json", methods{http.MethodGet: s.getOpenAPI}, accessPublic},

		{"/session", methods{http.MethodGet: s.getSession, http.MethodDelete: s.stopConnections}, accessConnector},
		{"/register", methods{http.MethodPost: s.startConnections, http.MethodDelete: s.stopConnections}, accessConnector},
		{"/audio", methods{http.MethodPost: s.setAudio}, accessConnector},
		{"/calls", methods{http.MethodDelete: s.releaseAll}, accessConnector},

		{"/v1/status", methods{http.MethodGet: s.getStatus}, accessToken},
		{"/v1/devices", methods{http.MethodGet: s.getDevices}, accessToken},
		{"/v1/calls", methods{http.MethodGet: s.getCalls, http.MethodPost: s.dial}, accessToken},
		{"/v1/calls/{id}", methods{http.MethodGet: s.getCall}, accessToken},
		{"/v1/events", methods{http.MethodGet: s.events}, accessToken},
		{"/v1/reload", methods{http.MethodPost: s.reload}, accessToken},
		{"/v1/metrics", methods{http.MethodGet: s.getMetrics}, accessToken},
		{"/v1/token/rotate", methods{http.MethodPost: s.rotateToken}, accessToken},
	}
	for _, a := range actions {
		rs = append(rs,
			routeSpec{"/v1/calls/{id}/" + a.name, methods{http.MethodPost: s.act(a, true)}, accessToken},
			routeSpec{"/v1/" + a.name, methods{http.MethodPost: s.act(a, false)}, accessToken})
	}
	return rs
}

// Handler returns every route behind the Host, Origin and token checks;
// Start serves it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.notFound)
	mux.Handle("/v1/", s.authorize(http.HandlerFunc(s.notFound)))
	for _, rt := range s.routes() {
		h := route(rt.path, rt.methods)
		switch rt.access {
		case accessToken:
			h = s.authorize(h)
		case accessConnector:
			h = s.authorizeConnector(h)
		case accessPublic:
		default:
			h = s.authorize(h) // fail closed
		}
		pattern := rt.path
		if pattern == "/" {
			pattern = "/{$}" // the page only; other paths stay 404
		}
		mux.Handle(pattern, h)
	}
	return s.guard(mux)
}

// methods maps HTTP methods to the handlers of one path.
type methods map[string]http.HandlerFunc

// route serves path with one handler per method and answers any other
// method 405 with an Allow header (RFC 9110 §15.5.6).
func route(path string, m methods) http.Handler {
	allow := make([]string, 0, len(m))
	for _, verb := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m[verb] != nil {
			allow = append(allow, verb)
		}
	}
	allowHeader := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := m[r.Method]
		if h == nil {
			w.Header().Set("Allow", allowHeader)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
				fmt.Sprintf("control: %s %s not allowed (allow: %s)", r.Method, r.URL.Path, allowHeader))
			return
		}
		h(w, r)
	})
}

// authorize checks "Authorization: Bearer <token>" (RFC 6750 §2.1; the
// scheme is case-insensitive, RFC 9110 §11.1). Both sides are hashed
// before the constant-time compare so neither length nor content leaks
// through timing.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		s.tokenMu.RLock()
		match := subtle.ConstantTimeCompare(got[:], s.token[:]) == 1
		s.tokenMu.RUnlock()
		if !ok || !strings.EqualFold(scheme, "Bearer") || !match {
			// RFC 6750 §3: a 401 names the scheme in WWW-Authenticate.
			w.Header().Set("WWW-Authenticate", `Bearer realm="softphone"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "control: missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, CodeNotFound, "control: no route "+r.URL.Path)
}

func (s *Server) getStatus(w http.ResponseWriter, _ *http.Request) {
	st := s.phone.Status()
	if st.Calls == nil {
		st.Calls = []phone.CallInfo{}
	}
	if st.Registrations == nil {
		st.Registrations = []phone.Registration{}
	}
	if st.SIPListen == nil {
		st.SIPListen = []string{}
	}
	s.writeJSON(w, http.StatusOK, st)
}

func (s *Server) getDevices(w http.ResponseWriter, _ *http.Request) {
	v := s.phone.Verdict()
	if len(v) == 0 {
		v = json.RawMessage("null")
	}
	s.writeJSON(w, http.StatusOK, v)
}

func (s *Server) getCalls(w http.ResponseWriter, _ *http.Request) {
	calls := s.phone.Calls()
	if calls == nil {
		calls = []phone.CallInfo{}
	}
	s.writeJSON(w, http.StatusOK, calls)
}

func (s *Server) getCall(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, c := range s.phone.Calls() {
		if c.ID == id {
			s.writeJSON(w, http.StatusOK, c)
			return
		}
	}
	s.fail(w, r, fmt.Errorf("control: call %q: %w", id, phone.ErrNoSuchCall))
}

func (s *Server) dial(w http.ResponseWriter, r *http.Request) {
	var req DialRequest
	if !s.decode(w, r, &req) {
		return
	}
	conn := -1
	if req.Connection != nil {
		conn = *req.Connection
	}
	switch {
	case req.URI == "":
		s.fail(w, r, fmt.Errorf("control: dial needs a uri: %w", phone.ErrInvalidArgument))
		return
	case conn < -1:
		s.fail(w, r, fmt.Errorf("control: connection %d is not an index: %w", conn, phone.ErrInvalidArgument))
		return
	}
	c, err := s.phone.Dial(r.Context(), req.URI, conn)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/calls/"+c.ID)
	s.writeJSON(w, http.StatusCreated, c)
}

// act serves one verb; withID tells whether the call id comes from the
// path (/v1/calls/{id}/verb) or from the body's "call" field (/v1/verb).
func (s *Server) act(a action, withID bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req actionRequest
		if !s.decode(w, r, &req) {
			return
		}
		id := req.Call
		if withID {
			id = r.PathValue("id")
			if req.Call != "" && req.Call != id {
				s.fail(w, r, fmt.Errorf("control: body names call %q but the path names %q: %w", req.Call, id, phone.ErrInvalidArgument))
				return
			}
		}
		if err := a.do(s.phone, id, req); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// decode reads a JSON body into v; an empty body leaves v at its zero
// value. It answers the error itself and reports whether to go on.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// The body is read: lift the body deadline, which would otherwise
		// cancel the request while the phone works on it.
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		// One JSON value per body: anything after it is an error.
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("trailing data after the json object")
		}
	} else if errors.Is(err, io.EOF) {
		err = nil
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("control: request body over %d bytes", tooLarge.Limit))
	default:
		writeError(w, http.StatusBadRequest, CodeBadRequest, "control: bad json body: "+err.Error())
	}
	return false
}

// fail answers err with the status its sentinel maps to.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := classify(err)
	if status >= 500 {
		s.log.Error("control request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Debug("control request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeError(w, status, code, err.Error())
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("control answer not encodable", "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "control: encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// closesConnection lists the refusals after which the connection is
// closed: the request's body, if any, is not read, so a client cannot
// hold the connection by sending it slowly.
var closesConnection = map[int]bool{
	http.StatusUnauthorized:          true,
	http.StatusForbidden:             true,
	http.StatusNotFound:              true,
	http.StatusMethodNotAllowed:      true,
	http.StatusRequestEntityTooLarge: true,
	http.StatusUnsupportedMediaType:  true,
	http.StatusServiceUnavailable:    true,
}

func writeError(w http.ResponseWriter, status int, code ErrorCode, msg string) {
	b, _ := json.Marshal(ErrorBody{Error: msg, Code: code}) // two strings: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if closesConnection[status] {
		// The connection is not kept (RFC 9112 §9.6), and a read deadline
		// in the past stops net/http from reading what is left of the body
		// before it closes it.
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// rotateToken serves POST /v1/token/rotate: a new token in the token file
// and in force at once; the old one fails from the next request, and event
// streams opened with it end.
func (s *Server) rotateToken(w http.ResponseWriter, r *http.Request) {
	if s.opts.TokenFile == "" {
		s.fail(w, r, fmt.Errorf("control: this server has no token file to rotate: %w", phone.ErrInvalidState))
		return
	}
	tok, err := RotateToken(s.opts.TokenFile)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.SetToken(tok)
	s.log.Info("api token rotated", "token_file", s.opts.TokenFile, "remote", remoteOf(r))
	w.WriteHeader(http.StatusNoContent)
}

// SetToken puts a new token in force: requests with the old one get 401
// from now on, and event streams opened with it end.
func (s *Server) SetToken(tok string) {
	sum := sha256.Sum256([]byte(tok))
	s.tokenMu.Lock()
	s.token = sum
	close(s.tokenEpoch)
	s.tokenEpoch = make(chan struct{})
	s.tokenMu.Unlock()
}

// epoch is closed when the token in force now is replaced.
func (s *Server) epoch() <-chan struct{} {
	s.tokenMu.RLock()
	defer s.tokenMu.RUnlock()
	return s.tokenEpoch
}
