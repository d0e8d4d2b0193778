package control

import (
	"bytes"
	"encoding/json"
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
// followed by a blank line, flushed at once. The handler takes the next
// event from the subscription only after the previous one was written, so
// a slow reader holds the phone's sender back instead of losing events; a
// write blocked longer than EventWriteTimeout ends the stream. A comment
// line every KeepAlive keeps idle connections open.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ch, cancel := s.phone.Subscribe()
	defer cancel()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if !s.flush(rc, r) {
		return
	}

	tick := time.NewTicker(s.opts.KeepAlive)
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return // the phone is shutting down
			}
			buf.Reset()
			if err := encodeEvent(&buf, ev); err != nil {
				s.log.Error("control event not encodable", "seq", ev.Seq, "err", err)
				return
			}
			if !s.write(w, rc, r, buf.Bytes()) {
				return
			}
		case <-tick.C:
			if !s.write(w, rc, r, []byte(": keep-alive\n\n")) {
				return
			}
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
