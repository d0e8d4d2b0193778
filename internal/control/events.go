package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/softphone/softphone/internal/phone"
)

// events serves GET /v1/events as text/event-stream (WHATWG HTML,
// "Server-sent events"). Each phone.Event becomes
//
//	id: <seq>
//	event: <type>
//	data: <the phone.Event as one line of JSON>
//
// followed by a blank line, flushed at once.
//
//	phone hub ──> drain (never blocks) ──> queue (EventQueue) ──> writer ──> client
//
// The drain takes every event from the subscription the moment it is
// published, so the phone's per-subscriber queue stays empty; the queue in
// between is bounded. A client that keeps up never loses an event: its
// queue drains as fast as it fills. One that falls EventQueue events
// behind, or blocks a write longer than EventWriteTimeout, is dropped — the
// stream ends, and a new one opens with the current state. At most
// MaxEventStreams streams are served at once (503 beyond). A comment line
// every KeepAlive keeps idle connections open; the stream ends when the
// token it was opened with is rotated.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, CodeTooManyStreams,
			fmt.Sprintf("%s: %d open", ErrTooManyStreams.Error(), cap(s.streams)))
		return
	}
	epoch := s.epoch()
	rc := http.NewResponseController(w)
	// The stream is long-lived: no read deadline (the connection's
	// close is still seen).
	_ = rc.SetReadDeadline(time.Time{})
	sub, cancel := s.phone.Subscribe()
	queue := make(chan phone.Event, s.opts.EventQueue)
	behind := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ev := range sub {
			select {
			case queue <- ev:
			default:
				close(behind)
				for range sub { // until cancel closes it
				}
				return
			}
		}
	}()
	defer func() { cancel(); <-drained }()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if !s.flush(rc, r) {
		return
	}

	tick := time.NewTicker(s.opts.KeepAlive)
	defer tick.Stop()
	var buf bytes.Buffer
	ended := drained // nil once the subscription ended with events still queued
	for {
		select {
		case ev := <-queue:
			buf.Reset()
			if err := encodeEvent(&buf, ev); err != nil {
				s.log.Error("control event not encodable", "seq", ev.Seq, "err", err)
				return
			}
			if !s.write(w, rc, r, buf.Bytes()) {
				return
			}
			if ended == nil && len(queue) == 0 {
				return // the phone shut down and every event is out
			}
		case <-ended:
			if len(queue) == 0 {
				return // the phone is shutting down
			}
			ended = nil
		case <-behind:
			s.log.Warn("control event stream dropped: the client fell behind", "remote", remoteOf(r), "queued", len(queue))
			return
		case <-tick.C:
			if !s.write(w, rc, r, []byte(": keep-alive\n\n")) {
				return
			}
		case <-epoch:
			s.log.Info("control event stream ended: token rotated", "remote", remoteOf(r))
			return
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

// write sends b under the stream's write deadline and flushes it.
func (s *Server) write(w http.ResponseWriter, rc *http.ResponseController, r *http.Request, b []byte) bool {
	if err := rc.SetWriteDeadline(time.Now().Add(s.opts.EventWriteTimeout)); err != nil {
		s.log.Debug("control event stream: no write deadline", "err", err)
	}
	if _, err := w.Write(b); err != nil {
		s.log.Info("control event stream ended", "remote", r.RemoteAddr, "err", err)
		return false
	}
	return s.flush(rc, r)
}

func (s *Server) flush(rc *http.ResponseController, r *http.Request) bool {
	if err := rc.Flush(); err != nil {
		s.log.Info("control event stream ended", "remote", r.RemoteAddr, "err", err)
		return false
	}
	return true
}

// encodeEvent writes one event block. The JSON encoder emits no raw line
// breaks, so data fits one "data:" line; the type is cleaned of line
// breaks, which would end the field early.
func encodeEvent(buf *bytes.Buffer, ev phone.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	buf.WriteString("id: ")
	buf.WriteString(strconv.FormatUint(ev.Seq, 10))
	buf.WriteString("\nevent: ")
	typ := ev.Type
	if strings.ContainsAny(typ, "\r\n") {
		typ = strings.NewReplacer("\r", "", "\n", "").Replace(typ)
	}
	buf.WriteString(typ)
	buf.WriteString("\ndata: ")
	buf.Write(data)
	buf.WriteString("\n\n")
	return nil
}
