package audio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
)

// serverEvent is one line of `pactl subscribe`, such as
// "Event 'new' on sink #3".
type serverEvent struct {
	kind     string // "new", "change" or "remove"
	facility string // "sink", "source", "server", "sink-input", ...
}

// parseEvent reads one line of `pactl subscribe` output.
func parseEvent(line string) (serverEvent, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Event '")
	if !ok {
		return serverEvent{}, fmt.Errorf("audio: pactl subscribe: unexpected line %q", line)
	}
	kind, rest, ok := strings.Cut(rest, "' on ")
	if !ok || kind == "" {
		return serverEvent{}, fmt.Errorf("audio: pactl subscribe: unexpected line %q", line)
	}
	facility, _, _ := strings.Cut(rest, " ")
	if facility == "" {
		return serverEvent{}, fmt.Errorf("audio: pactl subscribe: no facility in %q", line)
	}
	return serverEvent{kind: kind, facility: facility}, nil
}

// affectsDevices reports whether an event can change a Snapshot: a sink
// or source appears, goes or changes (flags, description), or the server
// changes (its default sink or source). Streams, clients, modules and
// cards do not matter on their own: loading a device module also sends
// the device's own event.
func (e serverEvent) affectsDevices() bool {
	switch e.facility {
	case "sink", "source", "server":
		return e.kind == "new" || e.kind == "change" || e.kind == "remove"
	default:
		return false
	}
}

// subscription is a running `pactl subscribe` child. The sound server
// tells it of every change; it hands those that can change a Snapshot to
// events (a one-slot channel: a burst collapses into one token). The
// child inherits the environment (PULSE_SERVER and friends).
type subscription struct {
	cmd    *exec.Cmd
	events chan struct{}
	done   chan struct{} // closed once the child is reaped and its output read
	stderr bytes.Buffer  // the child's last words, for the log
	err    error         // how the child ended; valid once done is closed

	stopOnce sync.Once
}

// startSubscription runs argv (normally pactl subscribe).
func startSubscription(argv []string) (*subscription, error) {
	if len(argv) == 0 {
		return nil, errors.New("audio: no subscribe command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", argv[0], err)
	}
	cmd := exec.Command(path, argv[1:]...)
	setChildAttrs(cmd)
	sub := &subscription{cmd: cmd, events: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stderr = &limitedWriter{buf: &sub.stderr, max: 4096}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", argv[0], err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("audio: start %s: %w", strings.Join(argv, " "), err)
	}
	go sub.read(out)
	return sub, nil
}

// read is the subscription's goroutine: it reads the child's output until
// it ends, then reaps the child.
func (s *subscription) read(out io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		ev, err := parseEvent(sc.Text())
		if err != nil || !ev.affectsDevices() {
			continue
		}
		select {
		case s.events <- struct{}{}:
		default:
		}
	}
	s.err = s.cmd.Wait()
}

// stop kills the child and waits until it is reaped. It is idempotent and
// safe to call after the child ended by itself.
func (s *subscription) stop() {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
		}
		<-s.done
	})
}

// exitReason describes how an ended child went, for the log.
func (s *subscription) exitReason() string {
	msg := strings.TrimSpace(s.stderr.String())
	if s.err == nil {
		return "exited (" + msg + ")"
	}
	return fmt.Sprintf("%v (%s)", s.err, msg)
}

// pid is the child's process id.
func (s *subscription) pid() int { return s.cmd.Process.Pid }

// limitedWriter keeps the first max bytes written to it.
type limitedWriter struct {
	mu  sync.Mutex
	buf *bytes.Buffer
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
