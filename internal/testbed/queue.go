package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// QueueEnd is how each call of a queue run ends.
type QueueEnd int

// How a queue call ends.
const (
	// QueueCallerHangs: the caller sends BYE once the call is up.
	QueueCallerHangs QueueEnd = iota
	// QueueAgentHangs: the caller waits for the agent's BYE (QueueOptions.OnUp
	// asks the daemon for it) and answers it 200.
	QueueAgentHangs
	// QueueCancelRace: the caller sends CANCEL right behind the INVITE,
	// racing the answer; either outcome is fine (487, or 200 then BYE).
	QueueCancelRace
)

// QueueOptions describe a queue run: calls one after the other, each
// INVITE sent the instant the previous call is over (its BYE answered
// 200, or its 487 acknowledged), as a contact centre's queue hands an
// agent the next call.
type QueueOptions struct {
	Target string // "127.0.0.1:port" of the daemon
	User   string // request-URI user
	Calls  int
	End    QueueEnd
	// OnUp is called with the Call-ID once a call is up (ACK sent), with
	// QueueAgentHangs: it must make the daemon hang up.
	OnUp func(callID string)
	// CallTimeout bounds each call (a hang guard, not a timing); 0 = 30 s.
	CallTimeout time.Duration
}

// QueueResult is what a queue run saw.
type QueueResult struct {
	Answered  int             // calls answered 200
	Cancelled int             // calls that ended 487 (cancel race only)
	Setup     []time.Duration // INVITE sent → 200 received, per answered call
	CallIDs   []string        // every call's Call-ID, in order
}

// ErrQueueCall means a call of a queue run did not end as it should.
var ErrQueueCall = errors.New("testbed: queue call failed")

// RunQueue runs a queue of calls from a small UDP user agent client of
// its own (sipp cannot start a call on the previous one's last response).
// It stops at the first call that fails.
func RunQueue(ctx context.Context, o QueueOptions) (*QueueResult, error) {
	if o.CallTimeout == 0 {
		o.CallTimeout = 30 * time.Second
	}
	raddr, err := net.ResolveUDPAddr("udp", o.Target)
	if err != nil {
		return nil, fmt.Errorf("testbed: queue target: %w", err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("testbed: queue socket: %w", err)
	}
	defer conn.Close()
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("testbed: queue rtp socket: %w", err)
	}
	defer rtp.Close()
	q := &queueUAC{conn: conn, raddr: raddr, o: o, local: conn.LocalAddr().(*net.UDPAddr),
		rtpPort: rtp.LocalAddr().(*net.UDPAddr).Port, res: &QueueResult{}}
	for i := 0; i < o.Calls; i++ {
		if err := ctx.Err(); err != nil {
			return q.res, err
		}
		if err := q.call(i); err != nil {
			return q.res, fmt.Errorf("%w: call %d of %d: %w", ErrQueueCall, i+1, o.Calls, err)
		}
	}
	return q.res, nil
}

type queueUAC struct {
	conn    *net.UDPConn
	raddr   *net.UDPAddr
	local   *net.UDPAddr
	rtpPort int
	o       QueueOptions
	res     *QueueResult
	buf     [65536]byte
}

func (q *queueUAC) send(s string) error {
	_, err := q.conn.WriteToUDP([]byte(strings.ReplaceAll(s, "\n", "\r\n")), q.raddr)
	return err
}

// read returns the next SIP message, until deadline.
func (q *queueUAC) read(deadline time.Time) (sip.Message, error) {
	if err := q.conn.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	n, _, err := q.conn.ReadFromUDP(q.buf[:])
	if err != nil {
		return nil, err
	}
	return sip.ParseMessage(append([]byte(nil), q.buf[:n]...))
}

func (q *queueUAC) call(i int) error {
	id := fmt.Sprintf("queue-%d-%d@127.0.0.1", time.Now().UnixNano(), i)
	q.res.CallIDs = append(q.res.CallIDs, id)
	tag := "q" + strconv.Itoa(i)
	branch := "z9hG4bKq" + strconv.FormatInt(time.Now().UnixNano(), 36)
	host := q.local.IP.String() + ":" + strconv.Itoa(q.local.Port)
	ruri := "sip:" + q.o.User + "@" + q.raddr.String()
	sdp := fmt.Sprintf("v=0\no=queue %d 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio %d RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=sendrecv\n", i, q.rtpPort)
	bodyLen := len(strings.ReplaceAll(sdp, "\n", "\r\n"))
	common := func(method string, seq int, br, toTag string) string {
		to := "<" + ruri + ">"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		return fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=%s\nFrom: <sip:queue@%s>;tag=%s\nTo: %s\nCall-ID: %s\nCSeq: %d %s\nMax-Forwards: 70\n",
			host, br, host, tag, to, id, seq, method)
	}
	invite := "INVITE " + ruri + " SIP/2.0\n" + common("INVITE", 1, branch, "") +
		"Contact: <sip:queue@" + host + ">\nContent-Type: application/sdp\nContent-Length: " + strconv.Itoa(bodyLen) + "\n\n" + sdp
	start := time.Now()
	if err := q.send(invite); err != nil {
		return err
	}
	deadline := start.Add(q.o.CallTimeout)
	if q.o.End == QueueCancelRace {
		if err := q.send("CANCEL " + ruri + " SIP/2.0\n" + common("CANCEL", 1, branch, "") + "Content-Length: 0\n\n"); err != nil {
			return err
		}
	}
	var toTag string
	var contact string
	for {
		m, err := q.read(deadline)
		if err != nil {
			return fmt.Errorf("waiting for the answer: %w", err)
		}
		res, ok := m.(*sip.Response)
		if !ok || res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE || res.CallID() == nil || res.CallID().Value() != id {
			continue // 100/200 to CANCEL, stray retransmissions
		}
		switch {
		case res.StatusCode < 200:
			continue
		case res.StatusCode == 487 && q.o.End == QueueCancelRace:
			t, _ := res.To().Params.Get("tag")
			q.res.Cancelled++
			return q.send("ACK " + ruri + " SIP/2.0\n" + common("ACK", 1, branch, t) + "Content-Length: 0\n\n")
		case res.StatusCode != 200:
			return fmt.Errorf("answered %d %s", res.StatusCode, res.Reason)
		}
		q.res.Setup = append(q.res.Setup, time.Since(start))
		q.res.Answered++
		toTag, _ = res.To().Params.Get("tag")
		if c := res.Contact(); c != nil {
			contact = c.Address.String()
		}
		break
	}
	if contact == "" {
		contact = ruri
	}
	ack := "ACK " + contact + " SIP/2.0\n" + common("ACK", 1, branch+"a", toTag) + "Content-Length: 0\n\n"
	if err := q.send(ack); err != nil {
		return err
	}
	if q.o.End == QueueAgentHangs {
		if q.o.OnUp != nil {
			q.o.OnUp(id)
		}
		for {
			m, err := q.read(deadline)
			if err != nil {
				return fmt.Errorf("waiting for the agent's BYE: %w", err)
			}
			req, ok := m.(*sip.Request)
			if !ok || req.Method != sip.BYE || req.CallID() == nil || req.CallID().Value() != id {
				continue
			}
			ok200 := sip.NewResponseFromRequest(req, 200, "OK", nil)
			_, err = q.conn.WriteToUDP([]byte(ok200.String()), q.raddr)
			return err
		}
	}
	bye := "BYE " + contact + " SIP/2.0\n" + common("BYE", 2, branch+"b", toTag) + "Content-Length: 0\n\n"
	if err := q.send(bye); err != nil {
		return err
	}
	for {
		m, err := q.read(deadline)
		if err != nil {
			return fmt.Errorf("waiting for the BYE's 200: %w", err)
		}
		res, ok := m.(*sip.Response)
		if ok && res.CSeq() != nil && res.CSeq().MethodName == sip.BYE && res.CallID() != nil && res.CallID().Value() == id {
			if res.StatusCode != 200 {
				return fmt.Errorf("BYE answered %d %s", res.StatusCode, res.Reason)
			}
			return nil
		}
	}
}
