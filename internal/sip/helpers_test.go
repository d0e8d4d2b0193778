package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/testbed"
)

// The tests name directions briefly; the type is the media package's.
const (
	SendRecv = media.SendRecv
	SendOnly = media.SendOnly
	RecvOnly = media.RecvOnly
	Inactive = media.Inactive
)

// fakeMedia produces a static PCMU SDP and records what it was given.
type fakeMedia struct {
	mu        sync.Mutex
	dirs      []media.Direction
	offers    [][]byte // remote offers given to Answer
	answers   [][]byte // remote answers given to SetAnswer
	answerErr error
	closed    int
	port      int
	answered  chan struct{} // one token per SetAnswer
}

func newFakeMedia() *fakeMedia { return &fakeMedia{port: 40000, answered: make(chan struct{}, 64)} }

func (m *fakeMedia) sdp(dir media.Direction) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=%s\r\n", m.port, dir))
}

func (m *fakeMedia) Offer(dir media.Direction) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dirs = append(m.dirs, dir)
	return m.sdp(dir), nil
}

func (m *fakeMedia) Answer(offer []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.answerErr != nil {
		return nil, m.answerErr
	}
	m.offers = append(m.offers, offer)
	ans := SendRecv
	if d, err := media.RemoteDirection(offer); err == nil {
		ans = d.Reverse() // RFC 3264 §6.1
	}
	m.dirs = append(m.dirs, ans)
	return m.sdp(ans), nil
}

func (m *fakeMedia) SetAnswer(answer []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !strings.Contains(string(answer), "m=audio") {
		return fmt.Errorf("fake media: no audio in answer")
	}
	m.answers = append(m.answers, answer)
	select {
	case m.answered <- struct{}{}:
	default:
	}
	return nil
}

func (m *fakeMedia) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed++
	return nil
}

func (m *fakeMedia) snapshot() (dirs []media.Direction, offers, answers int, closed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]media.Direction(nil), m.dirs...), len(m.offers), len(m.answers), m.closed
}

type stateEvent struct {
	call   *Call
	state  CallState
	reason string
}

type remoteEvent struct {
	call *Call
	ev   RemoteEvent
}

// recHandler records every Handler event on channels; decide makes the
// IncomingCall decision.
type recHandler struct {
	decide    func(c *Call) Decision
	incoming  chan *Call
	states    chan stateEvent
	regs      chan Registration
	remote    chan remoteEvent
	dtmf      chan string
	transfers chan string
}

func newRecHandler(decide func(c *Call) Decision) *recHandler {
	return &recHandler{
		decide:    decide,
		incoming:  make(chan *Call, 16),
		states:    make(chan stateEvent, 64),
		regs:      make(chan Registration, 64),
		remote:    make(chan remoteEvent, 16),
		dtmf:      make(chan string, 16),
		transfers: make(chan string, 16),
	}
}

func (h *recHandler) IncomingCall(c *Call) Decision {
	h.incoming <- c
	if h.decide == nil {
		return Decision{Action: ActionReject, Code: 480, Reason: "no decider"}
	}
	return h.decide(c)
}
func (h *recHandler) CallState(c *Call, st CallState, reason string) {
	h.states <- stateEvent{c, st, reason}
}
func (h *recHandler) RegistrationChanged(r Registration)       { h.regs <- r }
func (h *recHandler) RemoteControl(c *Call, ev RemoteEvent)    { h.remote <- remoteEvent{c, ev} }
func (h *recHandler) DTMF(c *Call, digit string)               { h.dtmf <- digit }
func (h *recHandler) TransferRequested(c *Call, target string) { h.transfers <- target }

const waitTimeout = 10 * time.Second

// waitState waits for a call state event with state st.
func (h *recHandler) waitState(t *testing.T, st CallState) stateEvent {
	t.Helper()
	return recvMatch(t, h.states, waitTimeout, "call state "+st.String(), func(e stateEvent) bool { return e.state == st })
}

// waitReg waits for a registration event with state st.
func (h *recHandler) waitReg(t *testing.T, st RegState, timeout time.Duration) Registration {
	t.Helper()
	return recvMatch(t, h.regs, timeout, "registration state "+st.String(), func(r Registration) bool { return r.State == st })
}

// recvMatch takes values from ch until one matches, or fails t after
// timeout.
func recvMatch[T any](t *testing.T, ch <-chan T, timeout time.Duration, what string, match func(T) bool) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case v := <-ch:
			if match(v) {
				return v
			}
		case <-timer.C:
			t.Fatalf("no %s within %s", what, timeout)
		}
	}
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("no %s within %s", what, waitTimeout)
	}
	var zero T
	return zero
}

// startUA starts a UA on 127.0.0.1 with an ephemeral port and closes it at
// cleanup, checking for goroutine leaks afterwards.
func startUA(t *testing.T, o Options, h Handler) *UA {
	t.Helper()
	leakCheck(t)
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if os.Getenv("SIP_TEST_TRACE") != "" {
		o.Trace = true
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	u, err := New(o, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := u.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return u
}

// TestMain checks, after every test, that the package's tests left no
// goroutine behind, including those that build a UA without startUA.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testbed.IgnorePeerOutput()) }

// leakCheck fails t when goroutines started from the first call for t on
// outlive its cleanups (the UA's Close among them). startUA calls it; a
// test calls it first to watch what it starts before its UA.
func leakCheck(t *testing.T) {
	t.Helper()
	testbed.CheckLeaks(t)
}

// peer is an in-process sipgo UA playing the remote side.
type peer struct {
	t        testing.TB
	ua       *sipgo.UserAgent
	client   *sipgo.Client
	server   *sipgo.Server
	addr     string
	reqs     chan *sip.Request
	conn     net.PacketConn
	wg       sync.WaitGroup
	closing  *atomic.Bool
	redirect sip.Uri       // Contact of a 3xx answer
	release  chan struct{} // closed to let a 183 call be answered
	mu       sync.Mutex
	// answer decides the response code to INVITEs (0 = 200 with SDP)
	answer func(req *sip.Request) int
}

func (p *peer) setAnswer(f func(req *sip.Request) int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answer = f
}

func newPeer(t testing.TB, extra ...func(s *sipgo.Server)) *peer {
	t.Helper()
	closing := &atomic.Bool{}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("peer"), sipgo.WithUserAgentTransportLayerOptions(
		sip.WithTransportLayerReadFilter(func(_ sip.TransportReadProps, data []byte) ([]byte, error) {
			if closing.Load() {
				return nil, nil
			}
			return data, nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, ua: ua, closing: closing, addr: pc.LocalAddr().String(), reqs: make(chan *sip.Request, 32), conn: pc}
	host, port, _ := sip.ParseAddr(p.addr)
	p.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientConnectionAddr(p.addr), sipgo.WithClientPort(port))
	if err != nil {
		t.Fatal(err)
	}
	p.server, err = sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	record := func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case p.reqs <- req:
		default:
		}
		if req.IsAck() {
			return
		}
		code := 200
		var body []byte
		if req.IsInvite() {
			p.mu.Lock()
			answer := p.answer
			p.mu.Unlock()
			if answer != nil {
				code = answer(req)
			}
			if code == 0 || code == 200 {
				code = 200
				body = newFakeMedia().sdp(SendRecv)
			}
			if code == 183 {
				// Early media, then the answer once the test releases it.
				early := sip.NewResponseFromRequest(req, 183, "Session Progress", newFakeMedia().sdp(SendRecv))
				early.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
				_ = tx.Respond(early)
				p.mu.Lock()
				release := p.release
				p.mu.Unlock()
				select {
				case <-release:
				case <-tx.Done():
					return
				}
				code = 200
				body = newFakeMedia().sdp(SendRecv)
			}
			ring := sip.NewResponseFromRequest(req, 180, "Ringing", nil)
			_ = tx.Respond(ring)
			if code == 180 {
				// Keep ringing until the caller cancels.
				<-tx.Done()
				return
			}
			if code >= 300 && code < 400 {
				res := sip.NewResponseFromRequest(req, code, reasonPhrase(code), nil)
				p.mu.Lock()
				to := p.redirect
				p.mu.Unlock()
				res.AppendHeader(&sip.ContactHeader{Address: to})
				_ = tx.Respond(res)
				return
			}
		}
		res := sip.NewResponseFromRequest(req, code, reasonPhrase(code), body)
		if body != nil {
			res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "peer", Host: host, Port: port}})
		}
		_ = tx.Respond(res)
	}
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.INFO, sip.NOTIFY, sip.REFER, sip.OPTIONS} {
		p.server.OnRequest(m, record)
	}
	for _, f := range extra {
		f(p.server)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.server.ServeUDP(pc)
	}()
	t.Cleanup(p.close)
	deadline := time.Now().Add(2 * time.Second)
	for {
		if c, err := ua.TransportLayer().GetConnection("udp", p.addr); err == nil && c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("peer listener did not start")
		}
		time.Sleep(time.Millisecond)
	}
	return p
}

func (p *peer) close() {
	p.closing.Store(true)
	// Let requests read before the flag finish their transaction lookup
	// (see UA.Close); sipgo would otherwise open a socket while closing.
	time.Sleep(inflightGrace)
	_ = p.ua.Close()
	_ = p.conn.Close()
	p.wg.Wait()
}

func (p *peer) uri() sip.Uri {
	host, port, _ := sip.ParseAddr(p.addr)
	return sip.Uri{Scheme: "sip", User: "peer", Host: host, Port: port}
}

// request builds an out-of-dialog request from the peer to the UA at addr.
func (p *peer) request(method sip.RequestMethod, addr string, body []byte, ctype string, hdrs ...sip.Header) *sip.Request {
	host, port, _ := sip.ParseAddr(addr)
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "agent", Host: host, Port: port})
	from := &sip.FromHeader{DisplayName: "Peer", Address: p.uri(), Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "agent", Host: host, Port: port}, Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: p.uri()})
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if ctype != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	}
	req.SetBody(body)
	req.SetTransport("UDP")
	return req
}

// do sends req and returns the final response.
func (p *peer) do(req *sip.Request) *sip.Response {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("peer %s: %v", req.Method, err)
	}
	return res
}

// invite starts an INVITE transaction and returns it with the request.
func (p *peer) invite(addr string, body []byte, hdrs ...sip.Header) (*sip.Request, sip.ClientTransaction) {
	p.t.Helper()
	ctype := ""
	if body != nil {
		ctype = "application/sdp"
	}
	req := p.request(sip.INVITE, addr, body, ctype, hdrs...)
	tx, err := p.client.TransactionRequest(context.Background(), req)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(tx.Terminate)
	return req, tx
}

// next waits for the next response with a code >= min.
func next(t *testing.T, tx sip.ClientTransaction, min int) *sip.Response {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode >= min {
				return res
			}
		case <-tx.Done():
			t.Fatalf("transaction ended: %v", tx.Err())
		case <-timer.C:
			t.Fatalf("no response >= %d", min)
		}
	}
}

// inDialog builds a request of the peer inside the dialog of an INVITE and
// its response (the peer is the caller).
func (p *peer) inDialog(method sip.RequestMethod, inv *sip.Request, res *sip.Response, seq uint32, body []byte, ctype string, hdrs ...sip.Header) *sip.Request {
	target := inv.Recipient
	if c := res.Contact(); c != nil {
		target = c.Address
	}
	req := sip.NewRequest(method, target)
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(res.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(&sip.ContactHeader{Address: p.uri()})
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if ctype != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	}
	req.SetBody(body)
	req.SetTransport("UDP")
	req.SetDestination(inv.Destination())
	return req
}

// ack sends the ACK for a 2xx.
func (p *peer) ack(inv *sip.Request, res *sip.Response, body []byte) {
	p.t.Helper()
	ctype := ""
	if body != nil {
		ctype = "application/sdp"
	}
	a := p.inDialog(sip.ACK, inv, res, inv.CSeq().SeqNo, body, ctype)
	if err := p.client.WriteRequest(a); err != nil {
		p.t.Fatal(err)
	}
}

func (p *peer) waitReq(t *testing.T, method sip.RequestMethod) *sip.Request {
	t.Helper()
	return recvMatch(t, p.reqs, waitTimeout, "peer request "+string(method), func(r *sip.Request) bool { return r.Method == method })
}

func offerSDP() []byte { return newFakeMedia().sdp(SendRecv) }
