package audio

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gen2brain/malgo"

	"github.com/softphone/softphone/internal/testbed"
)

// TestPulsePlaybackBuffering: a PulseAudio context's playback streams ask
// for a 10 ms request size and a 60 ms target (pulseattr.go), and the sound
// server sets the sink's latency to the 20 ms that follows from them,
// against the 5 ms miniaudio's own request gives.
func TestPulsePlaybackBuffering(t *testing.T) {
	p, jabra, _ := startHeadsets(t)

	ctx, _, untuned := openTestContext(t, malgo.BackendPulseaudio)
	if untuned {
		t.Error("PulseAudio context: the playback buffering is not in place")
	}
	if !tunePulsePlayback(ctx) {
		t.Error("tuning a tuned context again reports false")
	}
	if _, _, untuned := openTestContext(t, malgoNull); untuned {
		t.Error("a null-backend context reads as untuned")
	}

	s := openPulse(t)
	ps, err := s.OpenPlayback(Device{ID: jabra.SinkName, Kind: KindPlayback}, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	wantCCallback(t, ps)
	cfg := ps.Config()
	perMs := uint32(cfg.SampleRate / 1000 * cfg.Channels * 2)
	tlength, minreq := lastPlaybackAttr()
	if want := uint32(2*(pulseSinkLatency+pulseMinReq)/time.Millisecond) * perMs; tlength != want {
		t.Errorf("tlength asked %d bytes, want %d", tlength, want)
	}
	if want := uint32(pulseMinReq/time.Millisecond) * perMs; minreq != want {
		t.Errorf("minreq asked %d bytes, want %d", minreq, want)
	}

	// pactl list sinks: "Latency: N usec, configured M usec" under the
	// sink's "Name:" line.
	re := regexp.MustCompile(`(?s)Name: ` + regexp.QuoteMeta(jabra.SinkName) + `\n.*?configured (\d+) usec`)
	var configured int
	if !testbed.WaitFor(5*time.Second, func() bool {
		m := re.FindStringSubmatch(p.Pactl(t, "list", "sinks"))
		if m == nil {
			return false
		}
		configured, _ = strconv.Atoi(m[1])
		d := time.Duration(configured) * time.Microsecond
		return d >= pulseSinkLatency-time.Millisecond && d <= pulseSinkLatency+time.Millisecond
	}) {
		t.Fatalf("the sink's configured latency is %d µs, want %s (the stream's tuning did not reach the server)", configured, pulseSinkLatency)
	}
}
