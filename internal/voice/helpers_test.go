package voice

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/testbed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hardTimeout bounds every wait in these tests; it is a hang guard, not a
// timed assertion.
const hardTimeout = 15 * time.Second

const rate = DefaultDeviceRate

// sine returns a FakeOptions.Source making a continuous sine.
func sine(freq, amp float64) func([]int16) {
	var n int
	return func(p []int16) {
		for i := range p {
			p[i] = int16(amp * 32767 * math.Sin(2*math.Pi*freq*float64(n)/rate))
			n++
		}
	}
}

// recorder keeps what a fake playback stream plays.
type recorder struct {
	mu      sync.Mutex
	samples []int16
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) sink(p []int16) {
	r.mu.Lock()
	r.samples = append(r.samples, p...)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

// waitLen waits until the recorder holds at least n samples, and returns
// a copy of them.
func (r *recorder) waitLen(t testing.TB, n int) []int16 {
	t.Helper()
	timer := time.NewTimer(hardTimeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		if len(r.samples) >= n {
			out := append([]int16(nil), r.samples...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-timer.C:
			t.Fatalf("recorder: %d samples after %s, want %d", r.len(), hardTimeout, n)
		}
	}
}

// waitMore waits for n samples more than it holds now and returns the
// last n.
func (r *recorder) waitMore(t testing.TB, n int) []int16 {
	t.Helper()
	all := r.waitLen(t, r.len()+n)
	return all[len(all)-n:]
}

// fakeDevices opens fake streams: capture devices play the source
// registered for their ID, playback devices record into a recorder.
type fakeDevices struct {
	mu      sync.Mutex
	sources map[string]func([]int16)
	sinks   map[string]*recorder
	streams map[string][]*audio.FakeStream
	ticks   map[string]<-chan time.Time // drives a device instead of the clock
	failID  string                      // opening this ID fails
}

func newFakeDevices() *fakeDevices {
	return &fakeDevices{sources: map[string]func([]int16){}, sinks: map[string]*recorder{},
		streams: map[string][]*audio.FakeStream{}, ticks: map[string]<-chan time.Time{}}
}

var errFakeOpen = errors.New("fake: cannot open")

// mic registers a capture device making a sine (freq 0: silence).
func (f *fakeDevices) mic(id string, freq, amp float64) *audio.Device {
	f.mu.Lock()
	defer f.mu.Unlock()
	if freq > 0 {
		f.sources[id] = sine(freq, amp)
	}
	return &audio.Device{ID: id, Name: id, Kind: audio.KindCapture}
}

// speaker registers a playback device and returns it with its recorder.
func (f *fakeDevices) speaker(id string) (*audio.Device, *recorder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := newRecorder()
	f.sinks[id] = r
	return &audio.Device{ID: id, Name: id, Kind: audio.KindPlayback}, r
}

func (f *fakeDevices) OpenCapture(d audio.Device, c audio.StreamConfig) (audio.CaptureStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.ID == f.failID {
		return nil, errFakeOpen
	}
	st, err := audio.NewFakeCapture(c, audio.FakeOptions{Source: f.sources[d.ID], Ticks: f.ticks[d.ID]})
	if err != nil {
		return nil, err
	}
	f.streams[d.ID] = append(f.streams[d.ID], st)
	return st, nil
}

func (f *fakeDevices) OpenPlayback(d audio.Device, c audio.StreamConfig) (audio.PlaybackStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d.ID == f.failID {
		return nil, errFakeOpen
	}
	var sink func([]int16)
	if r := f.sinks[d.ID]; r != nil {
		sink = r.sink
	}
	st, err := audio.NewFakePlayback(c, audio.FakeOptions{Sink: sink, Ticks: f.ticks[d.ID]})
	if err != nil {
		return nil, err
	}
	f.streams[d.ID] = append(f.streams[d.ID], st)
	return st, nil
}

// stream returns the last stream opened on id.
func (f *fakeDevices) stream(t testing.TB, id string) *audio.FakeStream {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.streams[id]
	if len(s) == 0 {
		t.Fatalf("no stream opened on %q", id)
	}
	return s[len(s)-1]
}

var loopback = netip.MustParseAddr("127.0.0.1")

// codecs used by the tests.
var (
	pcmu = media.Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000, SampleRate: 8000, Channels: 1}
	opus = media.Codec{Name: "opus", PayloadType: 111, ClockRate: 48000, SampleRate: 48000, Channels: 1}
)

func negotiated(c media.Codec, remote, remoteRTCP netip.AddrPort) media.Negotiated {
	return media.Negotiated{
		Codec: c, RecvPayloadType: c.PayloadType,
		Remote: remote, RemoteRTCP: remoteRTCP,
		LocalDirection: media.SendRecv, RemoteDirection: media.SendRecv,
		PTime: 20,
	}
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// sessionPair starts two RTP sessions on 127.0.0.1 talking to each other
// with codec c; cleanup closes them.
func sessionPair(t testing.TB, c media.Codec) (a, b *media.Session) {
	t.Helper()
	testbed.CheckLeaks(t)
	ar, ac, err := media.PortRange{}.Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	br, bc, err := media.PortRange{}.Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	start := func(r, rc *net.UDPConn, n media.Negotiated) *media.Session {
		s, err := media.NewSession(media.SessionOptions{RTP: r, RTCP: rc, Negotiated: n})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close session: %v", err)
			}
		})
		return s
	}
	a = start(ar, ac, negotiated(c, addrOf(br), addrOf(bc)))
	b = start(br, bc, negotiated(c, addrOf(ar), addrOf(ac)))
	return a, b
}

// startPath starts a path and closes it at cleanup (before the sessions,
// which were registered earlier).
func startPath(t testing.TB, o Options) *Path {
	t.Helper()
	testbed.CheckLeaks(t)
	p, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close path: %v", err)
		}
	})
	return p
}

// eventually polls cond (the path's counters have no event of their own)
// until it holds or the hang guard ends.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hardTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, hardTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// level is media.ToneLevel at the device rate.
func level(s []int16, hz float64) float64 { return media.ToneLevel(s, rate, hz) }

// ms is the number of device-rate samples in d milliseconds.
func ms(d int) int { return rate * d / 1000 }

// fakeMedia is a Media without a network: ReadFrame hands out silence
// every ptime (at once when instant, so the playback device paces the
// path), WriteFrame keeps the frames.
type fakeMedia struct {
	neg     media.Negotiated
	ticker  *time.Ticker
	instant bool
	// pacer, with instant, paces ReadFrame by a speaker: after the
	// first, each call returns once the speaker has taken another
	// packet time, so the path keeps its queue as it found it. Without
	// it an instant path fills the queue and its writes race the
	// speaker's periods against their deadline: a frame the deadline
	// cuts loses its end (a zip tone with holes in it).
	pacer  *recorder
	paced  int // the pacer's length the next ReadFrame waits for
	mu     sync.Mutex
	frames [][]int16
}

func newFakeMedia(t testing.TB) *fakeMedia {
	m := &fakeMedia{neg: negotiated(pcmu, netip.AddrPort{}, netip.AddrPort{}), ticker: time.NewTicker(20 * time.Millisecond)}
	t.Cleanup(m.ticker.Stop)
	return m
}

func (m *fakeMedia) WriteFrame(s []int16) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frames = append(m.frames, append([]int16(nil), s...))
	return nil
}

func (m *fakeMedia) ReadFrame(ctx context.Context) ([]int16, error) {
	if m.instant {
		if err := context.Cause(ctx); err != nil {
			return nil, err
		}
		if m.pacer != nil {
			if m.paced == 0 {
				m.paced = m.pacer.len()
			}
			for m.pacer.len() < m.paced {
				select {
				case <-m.pacer.changed:
				case <-time.After(20 * time.Millisecond): // the test's own wait may have taken the signal
				case <-ctx.Done():
					return nil, context.Cause(ctx)
				}
			}
			m.paced += ms(20)
		}
		return make([]int16, 160), nil
	}
	select {
	case <-m.ticker.C:
		return make([]int16, 160), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (m *fakeMedia) Negotiated() media.Negotiated { return m.neg }
