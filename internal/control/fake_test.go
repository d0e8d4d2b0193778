package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/phone"
)

// fakePhone is a Phone whose answers the test sets and whose actions it
// records. Its subscriptions are unbuffered and their sends block, as the
// phone's call events do: nothing is dropped for a connected subscriber.
type fakePhone struct {
	mu      sync.Mutex
	status  phone.Status
	verdict json.RawMessage
	calls   []phone.CallInfo
	err     error    // returned by every action and Dial when set
	actions []string // "verb id args..." in call order
	audio   phone.AudioState
	quality phone.Quality
	reload  phone.ReloadReport
	release int // what ReleaseAll reports
	// outcomes is what CallOutcomes reports.
	outcomes []phone.CallOutcome

	acted      chan string   // each recorded action, when there is room
	subscribed chan *fakeSub // one value per Subscribe
}

func newFakePhone() *fakePhone {
	started := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	return &fakePhone{
		status: phone.Status{
			Version:   "1.2.3",
			Started:   started,
			SIPListen: []string{"udp 127.0.0.1:5060"},
			Registrations: []phone.Registration{
				{Connection: 0, User: "agent1", Server: "pbx.example.com", Protocol: "udp", State: "registered", Expires: started.Add(2 * time.Hour)},
				{Connection: 1, User: "agent1", Server: "backup.example.com", Protocol: "tcp", State: "failed", Detail: "403 Forbidden"},
			},
			Verdict: json.RawMessage(`{"capture":[],"playback":[],"input":{"name":"Jabra Mic","id":"j1","fallback":false},"output":{"name":"Jabra Out","id":"j2","fallback":true},"headset_available":true,"auto_answer_blocked":false,"should_answer":"true","reject_code":480,"outgoing_allowed":true,"reason":"headset Jabra present"}`),
		},
		verdict: json.RawMessage(`{"capture":[],"playback":[],"input":null,"output":null,"headset_available":false,"should_answer":"false","reject_code":480,"outgoing_allowed":false,"reason":"no headset"}`),
		calls: []phone.CallInfo{
			{ID: "c1", Direction: "incoming", State: "ringing", Remote: "sip:alice@example.com", RemoteName: "Alice", Local: "sip:agent1@pbx.example.com", Started: started.Add(59 * time.Minute)},
		},
		audio: phone.AudioState{
			Speaker:     phone.AudioDevice{Name: "Jabra Out", Volume: 70},
			Microphone:  phone.AudioDevice{Name: "Jabra Mic", Volume: 55, Muted: true},
			HeadsetUsed: true,
		},
		quality:    phone.Quality{LocalMOS: 4.2, RTTMillis: 38},
		reload:     phone.ReloadReport{Applied: []string{"policy.device"}, NotApplied: []string{"policy.endpoint.sip_port: needs a restart"}},
		release:    1,
		acted:      make(chan string, 64),
		subscribed: make(chan *fakeSub, 16),
	}
}

func (f *fakePhone) record(format string, a ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	act := strings.TrimSpace(fmt.Sprintf(format, a...))
	f.actions = append(f.actions, act)
	select {
	case f.acted <- act:
	default:
	}
	return f.err
}

// waitAction waits until the phone is asked want, failing t after a hang
// guard.
func waitAction(t *testing.T, f *fakePhone, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got := <-f.acted:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("phone never asked %q; asked %q", want, f.recorded())
		}
	}
}

// setCalls replaces the calls the phone reports.
func (f *fakePhone) setCalls(calls ...phone.CallInfo) {
	f.mu.Lock()
	f.calls = calls
	f.mu.Unlock()
}

func (f *fakePhone) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakePhone) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...)
}

func (f *fakePhone) Status() phone.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status
	st.Calls = append([]phone.CallInfo(nil), f.calls...)
	return st
}

func (f *fakePhone) Verdict() json.RawMessage { return f.verdict }

func (f *fakePhone) Calls() []phone.CallInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]phone.CallInfo(nil), f.calls...)
}

func (f *fakePhone) Dial(ctx context.Context, uri string, connection int) (phone.CallInfo, error) {
	if err := f.record("dial %s %d", uri, connection); err != nil {
		return phone.CallInfo{}, err
	}
	return phone.CallInfo{ID: "c2", Direction: "outgoing", State: "calling", Remote: uri, Connection: connection}, ctx.Err()
}

func (f *fakePhone) Answer(id string) error           { return f.record("answer %s", id) }
func (f *fakePhone) Reject(id string, code int) error { return f.record("reject %s %d", id, code) }
func (f *fakePhone) Hangup(id string) error           { return f.record("hangup %s", id) }
func (f *fakePhone) Hold(id string) error             { return f.record("hold %s", id) }
func (f *fakePhone) Resume(id string) error           { return f.record("resume %s", id) }
func (f *fakePhone) DTMF(id, digits string) error     { return f.record("dtmf %s %s", id, digits) }
func (f *fakePhone) Transfer(id, target string) error {
	return f.record("transfer %s %s", id, target)
}
func (f *fakePhone) AttendedTransfer(id, other string) error {
	return f.record("attended-transfer %s %s", id, other)
}

func (f *fakePhone) Audio() phone.AudioState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.audio
}

// SetAudio records the change as "audio speaker=V/M microphone=V/M" with
// "-" for what is left as it is, and applies it.
func (f *fakePhone) SetAudio(c phone.AudioChange) error {
	show := func(v *int, m *bool) string {
		vs, ms := "-", "-"
		if v != nil {
			vs = fmt.Sprint(*v)
		}
		if m != nil {
			ms = fmt.Sprint(*m)
		}
		return vs + "/" + ms
	}
	if err := f.record("audio speaker=%s microphone=%s", show(c.SpeakerVolume, c.SpeakerMuted), show(c.MicrophoneVolume, c.MicrophoneMuted)); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audio = c.Apply(f.audio)
	return nil
}

func (f *fakePhone) Quality() phone.Quality {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.quality
}

func (f *fakePhone) StartConnections(ctx context.Context) error {
	if err := f.record("start-connections"); err != nil {
		return err
	}
	return ctx.Err()
}

func (f *fakePhone) StopConnections(ctx context.Context) error {
	if err := f.record("stop-connections"); err != nil {
		return err
	}
	return ctx.Err()
}

func (f *fakePhone) ReleaseAll(ctx context.Context) (int, error) {
	err := f.record("release-all")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.release, errors.Join(err, ctx.Err())
}

func (f *fakePhone) Reload() (phone.ReloadReport, error) {
	if err := f.record("reload"); err != nil {
		return phone.ReloadReport{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reload, nil
}

func (f *fakePhone) CallOutcomes() []phone.CallOutcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]phone.CallOutcome(nil), f.outcomes...)
}

func (f *fakePhone) Subscribe() (<-chan phone.Event, func()) {
	s := &fakeSub{ch: make(chan phone.Event), stop: make(chan struct{})}
	f.subscribed <- s
	return s.ch, s.cancel
}

// fakeSub is one subscription: send blocks until the reader takes the
// event or the subscription is cancelled.
type fakeSub struct {
	ch   chan phone.Event
	stop chan struct{}
	once sync.Once
	mu   sync.Mutex
	shut bool
}

// send delivers ev and reports whether it was taken.
func (s *fakeSub) send(ev phone.Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return false
	}
	select {
	case s.ch <- ev:
		return true
	case <-s.stop:
		return false
	}
}

func (s *fakeSub) cancel() {
	s.once.Do(func() {
		close(s.stop)
		s.mu.Lock()
		s.shut = true
		close(s.ch)
		s.mu.Unlock()
	})
}

// cancelled is closed once the subscriber cancelled.
func (s *fakeSub) cancelled() <-chan struct{} { return s.stop }

// waitSub returns the next subscription, failing t after a hang guard.
func waitSub(t *testing.T, f *fakePhone) *fakeSub {
	t.Helper()
	select {
	case s := <-f.subscribed:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no subscription to the event stream")
		return nil
	}
}

func callEvent(seq uint64, id, state string) phone.Event {
	data, _ := json.Marshal(phone.CallInfo{ID: id, State: state})
	return phone.Event{Seq: seq, Time: time.Date(2025, 3, 1, 10, 0, 0, int(seq), time.UTC), Type: "call", Data: data}
}

const testToken = "0123456789abcdef0123456789abcdef"

// startServer serves f on 127.0.0.1:0 and closes the server at cleanup.
func startServer(t *testing.T, f *fakePhone, o Options) (*Server, *Client) {
	t.Helper()
	o.Listen = "127.0.0.1:0"
	if o.Token == "" {
		o.Token = testToken
	}
	s := NewServer(o, f)
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, NewClient("http://"+s.Addr(), o.Token)
}
