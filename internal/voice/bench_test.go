package voice

import (
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/media"
)

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPathCPU runs a call in real time between two paths on fake
// devices and two RTP sessions on 127.0.0.1; one iteration is one frame
// (20 ms) sent by A. It reports the CPU share of one core per active path
// (the whole process's CPU, fake devices and RTP sessions included, over
// wall time, halved), and the per-frame latencies the hooks measure:
// capture-to-sent and decoded-to-played.
func BenchmarkPathCPU(b *testing.B) {
	for _, c := range []media.Codec{pcmu, opus} {
		b.Run(c.Name, func(b *testing.B) {
			devs := newFakeDevices()
			sa, sb := sessionPair(b, c)
			sent := make(chan time.Duration, 1024)
			playedLat := make(chan time.Duration, 1024)
			outA, _ := devs.speaker("spkA")
			outB, _ := devs.speaker("spkB")
			startPath(b, Options{Devices: devs, Media: sa, Input: devs.mic("micA", toneA, amp), Output: outA,
				OnSent: func(c, s time.Time) {
					select {
					case sent <- s.Sub(c):
					default:
					}
				}})
			startPath(b, Options{Devices: devs, Media: sb, Input: devs.mic("micB", toneB, amp), Output: outB,
				OnPlayed: func(d, p time.Time) {
					select {
					case playedLat <- p.Sub(d):
					default:
					}
				}})
			for range 10 { // warm up
				<-sent
			}
			var capLat, playLat []time.Duration
			drain := func() {
				for {
					select {
					case d := <-playedLat:
						playLat = append(playLat, d)
					default:
						return
					}
				}
			}
			drain()
			playLat = playLat[:0]
			cpu0, wall0 := cpuTime(b), time.Now()
			b.ResetTimer()
			for range b.N {
				capLat = append(capLat, <-sent)
				drain()
			}
			b.StopTimer()
			cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds()/2, "%cpu/path")
			b.ReportMetric(float64(mean(capLat).Microseconds()), "µs-capture→sent")
			b.ReportMetric(float64(pct(capLat, 99).Microseconds()), "µs-capture→sent-p99")
			if len(playLat) > 0 {
				b.ReportMetric(float64(mean(playLat).Microseconds()), "µs-decoded→played")
			}
		})
	}
}

// BenchmarkFrameProcessing is the path's own work on one 20 ms frame each
// way, without codec or network: 48 kHz → codec rate, gain, and back.
func BenchmarkFrameProcessing(b *testing.B) {
	for _, codecRate := range []int{8000, 48000} {
		b.Run(map[int]string{8000: "8kHz", 48000: "48kHz"}[codecRate], func(b *testing.B) {
			down, err := media.NewResampler(rate, codecRate, 1)
			if err != nil {
				b.Fatal(err)
			}
			up, err := media.NewResampler(codecRate, rate, 1)
			if err != nil {
				b.Fatal(err)
			}
			dev := make([]int16, ms(20))
			sine(1000, 0.5)(dev)
			var tx, rx []int16
			b.ReportAllocs()
			for b.Loop() {
				tx = down.Process(tx[:0], dev)
				applyGain(tx, 80)
				rx = up.Process(rx[:0], tx)
				applyGain(rx, 80)
			}
		})
	}
}

// BenchmarkSwitchGap switches a path's output back and forth between two
// fake devices while audio flows; it reports the audio gap of a switch
// (last frame handed to the old device to first frame handed to the new
// one), mean and max.
func BenchmarkSwitchGap(b *testing.B) {
	devs := newFakeDevices()
	out1, _ := devs.speaker("one")
	out2, _ := devs.speaker("two")
	played := make(chan struct{}, 1)
	p := startPath(b, Options{Devices: devs, Media: newFakeMedia(b), Output: out1,
		OnPlayed: func(time.Time, time.Time) {
			select {
			case played <- struct{}{}:
			default:
			}
		}})
	<-played
	outs := []*audio.Device{out2, out1}
	var gaps []time.Duration
	b.ResetTimer()
	for i := range b.N {
		if err := p.SwitchDevices(nil, outs[i%2]); err != nil {
			b.Fatal(err)
		}
		// The gap is measured at the first frame the new device takes.
		want := uint64(i + 1)
		for {
			<-played
			if st := p.Stats(); st.Switches == want && st.OutputGap > 0 {
				gaps = append(gaps, st.OutputGap)
				break
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(mean(gaps).Microseconds())/1000, "ms-gap-mean")
	b.ReportMetric(float64(slices.Max(gaps).Microseconds())/1000, "ms-gap-max")
}

func mean(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	var s time.Duration
	for _, v := range d {
		s += v
	}
	return s / time.Duration(len(d))
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// BenchmarkMouthToEar times a marker end to end through two paths and
// their RTP sessions (PCMU, fake devices, real time): a 20 ms 1 kHz burst
// handed to A's capture device, until the playback device of B plays it.
// It includes both ring buffers, resampling both ways, the network and
// B's jitter buffer, and the fake devices' tick alignment (up to a period
// each).
func BenchmarkMouthToEar(b *testing.B) {
	devs := newFakeDevices()
	sa, sb := sessionPair(b, pcmu)
	var mu sync.Mutex
	var fire bool
	var sentAt time.Time
	burst := sine(1000, 0.5)
	devs.mu.Lock()
	devs.sources["marker"] = func(p []int16) {
		mu.Lock()
		defer mu.Unlock()
		if fire {
			fire, sentAt = false, time.Now()
			burst(p)
		}
	}
	devs.mu.Unlock()
	heard := make(chan time.Duration, 1)
	var inBurst bool
	ear := &audio.Device{ID: "ear", Kind: audio.KindPlayback}
	detect := func(p []int16) {
		on := level(p, 1000) > 0.05
		if on && !inBurst {
			mu.Lock()
			d := time.Since(sentAt)
			mu.Unlock()
			select {
			case heard <- d:
			default:
			}
		}
		inBurst = on
	}
	dd := &detectDevices{fakeDevices: devs, id: "ear", sink: detect}
	startPath(b, Options{Devices: dd, Media: sa, Input: &audio.Device{ID: "marker", Kind: audio.KindCapture}})
	startPath(b, Options{Devices: dd, Media: sb, Output: ear})
	var lat []time.Duration
	b.ResetTimer()
	for i := -3; i < b.N; i++ { // three warm-up markers
		mu.Lock()
		fire = true
		mu.Unlock()
		select {
		case d := <-heard:
			if i >= 0 {
				lat = append(lat, d)
			}
		case <-time.After(hardTimeout):
			b.Fatal("marker not heard")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(mean(lat).Microseconds())/1000, "ms-mouth→ear-mean")
	b.ReportMetric(float64(slices.Max(lat).Microseconds())/1000, "ms-mouth→ear-max")
}

// detectDevices is fakeDevices whose playback device id plays into sink.
type detectDevices struct {
	*fakeDevices
	id   string
	sink func([]int16)
}

func (d *detectDevices) OpenPlayback(dev audio.Device, c audio.StreamConfig) (audio.PlaybackStream, error) {
	if dev.ID != d.id {
		return d.fakeDevices.OpenPlayback(dev, c)
	}
	return audio.NewFakePlayback(c, audio.FakeOptions{Sink: d.sink})
}
