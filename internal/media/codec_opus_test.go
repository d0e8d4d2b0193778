package media

import (
	"errors"
	"math"
	"testing"

	"gopkg.in/hraban/opus.v2"
)

func TestOpusSettings(t *testing.T) {
	tests := []struct {
		name    string
		codec   Codec
		want    opusSettings
		wantErr error
	}{
		{"defaults", Codec{Channels: 1},
			opusSettings{channels: 1, bitrate: opusBitrateMono, maxBandwidth: opus.Fullband}, nil},
		{"no channel count means mono", Codec{},
			opusSettings{channels: 1, bitrate: opusBitrateMono, maxBandwidth: opus.Fullband}, nil},
		{"stereo", Codec{Channels: 2, Fmtp: "stereo=1;sprop-stereo=1"},
			opusSettings{channels: 2, bitrate: opusBitrateStereo, maxBandwidth: opus.Fullband}, nil},
		{"fec asked by the peer", Codec{Channels: 1, Fmtp: "minptime=10; useinbandfec=1"},
			opusSettings{channels: 1, bitrate: opusBitrateMono, fec: true, maxBandwidth: opus.Fullband}, nil},
		{"fec off", Codec{Channels: 1, Fmtp: "useinbandfec=0"},
			opusSettings{channels: 1, bitrate: opusBitrateMono, maxBandwidth: opus.Fullband}, nil},
		{"bit rate capped", Codec{Channels: 1, Fmtp: "maxaveragebitrate=20000"},
			opusSettings{channels: 1, bitrate: 20000, maxBandwidth: opus.Fullband}, nil},
		{"bit rate cap above default", Codec{Channels: 1, Fmtp: "maxaveragebitrate=128000"},
			opusSettings{channels: 1, bitrate: opusBitrateMono, maxBandwidth: opus.Fullband}, nil},
		{"bit rate cap below minimum", Codec{Channels: 1, Fmtp: "maxaveragebitrate=1000"},
			opusSettings{channels: 1, bitrate: 6000, maxBandwidth: opus.Fullband}, nil},
		{"bad bit rate ignored", Codec{Channels: 1, Fmtp: "maxaveragebitrate=lots"},
			opusSettings{channels: 1, bitrate: opusBitrateMono, maxBandwidth: opus.Fullband}, nil},
		{"wideband playback", Codec{Channels: 1, Fmtp: "MaxPlaybackRate=16000"},
			opusSettings{channels: 1, bitrate: opusBitrateMono, maxBandwidth: opus.Wideband}, nil},
		{"narrowband playback", Codec{Channels: 1, Fmtp: "maxplaybackrate=8000"},
			opusSettings{channels: 1, bitrate: opusBitrateMono, maxBandwidth: opus.Narrowband}, nil},
		{"three channels", Codec{Channels: 3}, opusSettings{}, ErrCodecUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := opusSettingsFor(tt.codec)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// mustOpus returns an Opus coder for fmtp and channels.
func mustOpus(t testing.TB, channels int, fmtp string) *opusCoder {
	t.Helper()
	c, err := newOpusCoder(Codec{Name: "opus", ClockRate: 48000, SampleRate: 48000, Channels: channels, Fmtp: fmtp})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// interleave makes a stereo signal from two mono ones.
func interleave(l, r []int16) []int16 {
	out := make([]int16, 0, 2*len(l))
	for i := range l {
		out = append(out, l[i], r[i])
	}
	return out
}

// channel extracts channel ch of an interleaved signal.
func channel(x []int16, chans, ch int) []int16 {
	out := make([]int16, 0, len(x)/chans)
	for i := ch; i < len(x); i += chans {
		out = append(out, x[i])
	}
	return out
}

// TestOpusRoundTrip: tones keep frequency and level through Opus at 20 ms,
// mono and stereo (each channel its own tone).
func TestOpusRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		channels int
		hz       []float64 // per channel
	}{
		{"mono 1 kHz", 1, []float64{1000}},
		{"mono 5 kHz", 1, []float64{5000}},
		{"stereo 1 kHz left, 3 kHz right", 2, []float64{1000, 3000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustOpus(t, tt.channels, "")
			var in []int16
			if tt.channels == 1 {
				in = sine(48000, 48000, tt.hz[0], 0.3)
			} else {
				in = interleave(sine(48000, 48000, tt.hz[0], 0.3), sine(48000, 48000, tt.hz[1], 0.3))
			}
			frame := 960 * tt.channels
			var out []int16
			bytes := 0
			for i := 0; i < len(in); i += frame {
				p := c.Encode(nil, in[i:i+frame])
				if len(p) == 0 {
					t.Fatalf("frame %d: no payload", i/frame)
				}
				bytes += len(p)
				out = c.Decode(out, p)
			}
			if len(out) != len(in) {
				t.Fatalf("decoded %d samples, want %d", len(out), len(in))
			}
			t.Logf("%s: %.1f kbit/s", tt.name, float64(bytes*8)/1000)
			for ch, hz := range tt.hz {
				got := channel(out, tt.channels, ch)[24000:] // last 500 ms
				lvl := ToneLevel(got, 48000, hz)
				if d := db(lvl / 0.3); math.Abs(d) > 1.5 {
					t.Errorf("channel %d: %.0f Hz level %+.2f dB off, want within 1.5 dB", ch, hz, d)
				}
				for _, other := range tt.hz {
					if other != hz {
						if o := ToneLevel(got, 48000, other); o > lvl/10 {
							t.Errorf("channel %d: %.0f Hz leaked in at %.4f", ch, other, o)
						}
					}
				}
				_, sinad := fitSine(got, 48000, hz)
				t.Logf("channel %d: %.0f Hz SINAD %.1f dB", ch, hz, sinad)
				if sinad < 15 {
					t.Errorf("channel %d: SINAD %.1f dB, want ≥ 15 dB", ch, sinad)
				}
			}
		})
	}
}

// TestOpusFrameSizes: every Opus frame duration codes and decodes to its
// length; other lengths are refused by leaving dst as it was.
func TestOpusFrameSizes(t *testing.T) {
	tests := []struct {
		samples int // per channel
		ok      bool
	}{
		{120, true}, {240, true}, {480, true}, {960, true}, {1920, true}, {2880, true},
		{1440, false}, // 30 ms is no Opus frame size
		{100, false},
		{0, false},
	}
	for _, channels := range []int{1, 2} {
		for _, tt := range tests {
			c := mustOpus(t, channels, "")
			pcm := make([]int16, tt.samples*channels)
			copy(pcm, sine(len(pcm), 48000, 440, 0.3))
			dst := []byte{0xAA}
			got := c.Encode(dst, pcm)
			if !tt.ok {
				if len(got) != 1 {
					t.Errorf("%d ch, %d samples: got %d bytes, want dst unchanged", channels, tt.samples, len(got))
				}
				continue
			}
			if len(got) < 2 || got[0] != 0xAA {
				t.Fatalf("%d ch, %d samples: payload not appended: %x", channels, tt.samples, got)
			}
			if out := c.Decode(nil, got[1:]); len(out) != len(pcm) {
				t.Errorf("%d ch, %d samples: decoded %d, want %d", channels, tt.samples, len(out), len(pcm))
			}
		}
	}
}

// speechLike returns a voiced-speech-like signal: a 140 Hz harmonic series
// with a slow vibrato and a syllable-rate envelope, which Opus codes in its
// speech (SILK) layer where in-band FEC lives.
func speechLike(n int) []int16 {
	out := make([]int16, n)
	phase := 0.0
	for i := range out {
		ts := float64(i) / 48000
		f0 := 140 + 10*math.Sin(2*math.Pi*3*ts)
		phase += 2 * math.Pi * f0 / 48000
		var v float64
		for h := 1; h <= 12; h++ {
			v += math.Sin(float64(h)*phase) / float64(h)
		}
		env := 0.6 + 0.4*math.Sin(2*math.Pi*4*ts)
		out[i] = int16(6000 * env * v)
	}
	return out
}

// TestOpusLoss: a lost packet is rebuilt from the next packet's FEC data
// far better than concealment can guess it, when the peer asked for FEC;
// concealment still gives audio, not silence; a corrupt packet is
// concealed for the last packet's duration.
func TestOpusLoss(t *testing.T) {
	const lostAt = 30
	in := speechLike(960 * 40)
	run := func(fmtp string) (packets [][]byte, ref []int16) {
		c := mustOpus(t, 1, fmtp)
		for i := 0; i < len(in); i += 960 {
			p := c.Encode(nil, in[i:i+960])
			packets = append(packets, p)
			ref = c.Decode(ref, p)
		}
		return packets, ref
	}
	// The receiver decodes up to the lost packet, then fills it in.
	fill := func(packets [][]byte, fec bool) []int16 {
		c := mustOpus(t, 1, "")
		for _, p := range packets[:lostAt] {
			c.Decode(nil, p)
		}
		if fec {
			return c.DecodeFEC(nil, packets[lostAt+1], 960)
		}
		return c.Conceal(nil, 960)
	}
	packets, ref := run("useinbandfec=1;maxplaybackrate=16000")
	want := ref[lostAt*960 : (lostAt+1)*960]
	withFEC := fill(packets, true)
	concealed := fill(packets, false)
	if len(withFEC) != 960 || len(concealed) != 960 {
		t.Fatalf("lengths %d and %d, want 960", len(withFEC), len(concealed))
	}
	fecSNR, _ := snr(want, withFEC, 0, 0)
	plcSNR, _ := snr(want, concealed, 0, 0)
	t.Logf("lost 20 ms rebuilt: FEC %.1f dB, concealment %.1f dB SNR against the decoded packet", fecSNR, plcSNR)
	if fecSNR < plcSNR+3 {
		t.Errorf("FEC (%.1f dB) is not clearly better than concealment (%.1f dB)", fecSNR, plcSNR)
	}
	if rms(concealed) < rms(want)/10 {
		t.Errorf("concealment is near silence: rms %.0f against %.0f", rms(concealed), rms(want))
	}

	// Without useinbandfec the packets carry no redundancy: DecodeFEC
	// falls back to concealment.
	plain, _ := run("maxplaybackrate=16000")
	if got := fill(plain, true); len(got) != 960 {
		t.Errorf("DecodeFEC without FEC data gave %d samples", len(got))
	}

	c := mustOpus(t, 1, "")
	c.Decode(nil, packets[0])
	if got := c.Decode(nil, []byte{0xFF, 0xFF, 0xFF}); len(got) != 960 {
		t.Errorf("corrupt packet concealed with %d samples, want 960", len(got))
	}
	if got := c.Conceal(nil, 1000); len(got) != 1000 {
		t.Errorf("Conceal(1000) gave %d samples", len(got))
	}
}

func BenchmarkOpusEncode(b *testing.B) {
	for _, bc := range []struct {
		name     string
		channels int
		fmtp     string
	}{{"mono", 1, ""}, {"monoFEC", 1, "useinbandfec=1"}, {"stereo", 2, ""}} {
		b.Run(bc.name, func(b *testing.B) {
			c := mustOpus(b, bc.channels, bc.fmtp)
			in := speechLike(960 * 50)
			if bc.channels == 2 {
				in = interleave(in, in)
			}
			frame := 960 * bc.channels
			dst := make([]byte, 0, opusMaxPacket)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				dst = c.Encode(dst[:0], in[i:i+frame])
				i = (i + frame) % len(in)
			}
		})
	}
}

func BenchmarkOpusDecode(b *testing.B) {
	for _, bc := range []struct {
		name     string
		channels int
	}{{"mono", 1}, {"stereo", 2}} {
		b.Run(bc.name, func(b *testing.B) {
			c := mustOpus(b, bc.channels, "")
			in := speechLike(960 * 50)
			if bc.channels == 2 {
				in = interleave(in, in)
			}
			frame := 960 * bc.channels
			var packets [][]byte
			for i := 0; i < len(in); i += frame {
				packets = append(packets, c.Encode(nil, in[i:i+frame]))
			}
			dst := make([]int16, 0, opusMaxFrame*bc.channels)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				dst = c.Decode(dst[:0], packets[n])
				n = (n + 1) % len(packets)
			}
		})
	}
}

func BenchmarkOpusConceal(b *testing.B) {
	c := mustOpus(b, 1, "")
	c.Decode(nil, c.Encode(nil, speechLike(960)))
	dst := make([]int16, 0, 960)
	b.ReportAllocs()
	for b.Loop() {
		dst = c.Conceal(dst[:0], 960)
	}
}
