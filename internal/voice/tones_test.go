package voice

import (
	"errors"
	"testing"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/testbed"
)

func TestDTMFFrequencies(t *testing.T) {
	for _, tt := range []struct {
		digit     rune
		low, high float64
		wantErr   error
	}{
		{'1', 697, 1209, nil},
		{'5', 770, 1336, nil},
		{'9', 852, 1477, nil},
		{'0', 941, 1336, nil},
		{'*', 941, 1209, nil},
		{'#', 941, 1477, nil},
		{'A', 697, 1633, nil},
		{'d', 941, 1633, nil},
		{'x', 0, 0, ErrInvalidDigit},
		{'E', 0, 0, ErrInvalidDigit},
		{' ', 0, 0, ErrInvalidDigit},
	} {
		lo, hi, err := DTMFFrequencies(tt.digit)
		if !errors.Is(err, tt.wantErr) || lo != tt.low || hi != tt.high {
			t.Errorf("DTMFFrequencies(%q) = %g, %g, %v; want %g, %g, %v", tt.digit, lo, hi, err, tt.low, tt.high, tt.wantErr)
		}
	}
}

func TestDTMFSequence(t *testing.T) {
	for _, tt := range []struct {
		digits  string
		wantErr error
	}{
		{"123", nil},
		{"#*", nil},
		{"", ErrInvalidDigit},
		{"12z", ErrInvalidDigit},
	} {
		_, err := dtmfSequence(tt.digits)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("dtmfSequence(%q) err = %v, want %v", tt.digits, err, tt.wantErr)
		}
	}
	// One digit at 8 kHz: 100 ms of the pair, then 60 ms of silence.
	g, err := dtmfSequence("6")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, 8000*160/1000)
	if !g.render(buf[:800], 8000) || g.render(buf[800:], 8000) {
		t.Error("render did not end exactly after tone and pause")
	}
	tone, pause := buf[80:720], buf[820:1280]
	for _, f := range []float64{770, 1477} {
		if l := media.ToneLevel(tone, 8000, f); l < 0.22 || l > 0.26 {
			t.Errorf("digit 6: %g Hz level %.3f, want 0.25", f, l)
		}
		if l := media.ToneLevel(pause, 8000, f); l != 0 {
			t.Errorf("pause: %g Hz level %.3f, want 0", f, l)
		}
	}
	if l := media.ToneLevel(tone, 8000, 697); l > 0.01 {
		t.Errorf("digit 6: 697 Hz level %.3f, want none", l)
	}
}

func TestToneSeqFollowsRateChange(t *testing.T) {
	// 50 ms at 8 kHz then 50 ms at 48 kHz make one 100 ms beep.
	g := &toneSeq{segs: []segment{{freqs: []float64{1000}, amp: 0.5, dur: 100 * time.Millisecond}}}
	a := make([]int16, 400)
	b := make([]int16, 2400)
	if !g.render(a, 8000) {
		t.Fatal("ended after 50 ms of 100")
	}
	if g.render(b, 48000) {
		t.Error("did not end after 100 ms")
	}
	if l := media.ToneLevel(b[:2000], 48000, 1000); l < 0.45 {
		t.Errorf("second half level %.3f, want 0.5", l)
	}
}

func TestCadenceValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		c       Cadence
		wantErr error
	}{
		{"default", DefaultCadence(), nil},
		{"north american", Cadence{Freqs: []float64{440, 480}, Level: 0.2, On: 2 * time.Second, Off: 4 * time.Second}, nil},
		{"continuous", Cadence{Freqs: []float64{425}, Level: 0.3, On: time.Second}, nil},
		{"no frequency", Cadence{Level: 0.3, On: time.Second}, ErrBadCadence},
		{"no on time", Cadence{Freqs: []float64{425}, Level: 0.3}, ErrBadCadence},
		{"negative off", Cadence{Freqs: []float64{425}, Level: 0.3, On: time.Second, Off: -1}, ErrBadCadence},
		{"clipping", Cadence{Freqs: []float64{440, 480}, Level: 0.6, On: time.Second}, ErrBadCadence},
		{"above nyquist", Cadence{Freqs: []float64{30000}, Level: 0.3, On: time.Second}, ErrBadCadence},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.c.Validate(48000); !errors.Is(err, tt.wantErr) {
				t.Errorf("Validate = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestDeviceStateStrings(t *testing.T) {
	for _, tt := range []struct {
		s       string
		want    DeviceState
		wantErr bool
	}{
		{"open", DeviceOpen, false},
		{"none", DeviceNone, false},
		{"lost", DeviceLost, false},
		{"unknown", DeviceUnknown, true},
		{"", DeviceUnknown, true},
	} {
		got, err := ParseDeviceState(tt.s)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseDeviceState(%q) = %v, %v", tt.s, got, err)
		}
		if !tt.wantErr && got.String() != tt.s {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.s)
		}
	}
	if DeviceUnknown.String() != "unknown" {
		t.Errorf("zero value String = %q", DeviceUnknown.String())
	}
}

func TestGain(t *testing.T) {
	for _, tt := range []struct {
		volume  int
		in      []int16
		want    []int16
		wantErr error
	}{
		{100, []int16{1000, -32768, 32767}, []int16{1000, -32768, 32767}, nil},
		{50, []int16{1000, -32768, 32767}, []int16{500, -16384, 16383}, nil},
		{0, []int16{1000, -1000}, []int16{0, 0}, nil},
		{101, nil, nil, ErrBadVolume},
		{-1, nil, nil, ErrBadVolume},
	} {
		err := checkVolume(tt.volume)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("checkVolume(%d) = %v, want %v", tt.volume, err, tt.wantErr)
		}
		if err != nil {
			continue
		}
		got := append([]int16(nil), tt.in...)
		applyGain(got, int32(tt.volume))
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("gain %d: %v, want %v", tt.volume, got, tt.want)
				break
			}
		}
	}
}

func TestUpmix(t *testing.T) {
	got := upmix([]int16{1, 2, 3})
	want := []int16{1, 1, 2, 2, 3, 3}
	if len(got) != len(want) {
		t.Fatalf("upmix = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("upmix = %v, want %v", got, want)
		}
	}
}

func TestFormatOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    media.Negotiated
		want format
	}{
		{"pcmu", media.Negotiated{Codec: pcmu, PTime: 20}, format{8000, 1, 20 * time.Millisecond}},
		{"opus 40 ms", media.Negotiated{Codec: opus, PTime: 40}, format{48000, 1, 40 * time.Millisecond}},
		{"defaults", media.Negotiated{Codec: media.Codec{ClockRate: 16000}}, format{16000, 1, 20 * time.Millisecond}},
		{"empty", media.Negotiated{}, format{8000, 1, 20 * time.Millisecond}},
	} {
		if got := formatOf(tt.n); got != tt.want {
			t.Errorf("%s: formatOf = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestRingerCadence(t *testing.T) {
	testbed.CheckLeaks(t)
	devs := newFakeDevices()
	d1, r1 := devs.speaker("headset")
	d2, r2 := devs.speaker("speaker")
	c := Cadence{Freqs: []float64{440, 480}, Level: 0.2, On: 100 * time.Millisecond, Off: 100 * time.Millisecond}
	rg, err := StartRinger(RingerOptions{Devices: devs, Outputs: []audio.Device{*d1, *d2}, Cadence: c})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*recorder{r1, r2} {
		s := r.waitLen(t, ms(900))
		// Classify 20 ms periods as ringing or silent, from the first ring.
		var runs []int
		on := true
		started := false
		for i := 0; i+ms(20) <= len(s); i += ms(20) {
			ringing := level(s[i:i+ms(20)], 440) > 0.1 && level(s[i:i+ms(20)], 480) > 0.1
			if !started {
				if !ringing {
					continue
				}
				started, runs = true, []int{0}
			}
			if ringing != on {
				on = ringing
				runs = append(runs, 0)
			}
			runs[len(runs)-1]++
		}
		if len(runs) < 4 {
			t.Fatalf("ring runs %v: want at least two on/off cycles", runs)
		}
		for _, n := range runs[:len(runs)-1] { // the last run may be cut short
			if n < 4 || n > 6 {
				t.Errorf("ring runs %v (20 ms periods): want 5 on, 5 off", runs)
				break
			}
		}
	}
	if got := rg.Outputs(); len(got) != 2 {
		t.Errorf("Outputs = %v, want 2", got)
	}
	if err := rg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := rg.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, id := range []string{"headset", "speaker"} {
		if err := devs.stream(t, id).Err(); !errors.Is(err, audio.ErrStreamClosed) {
			t.Errorf("%s: stream err %v after Stop, want closed", id, err)
		}
	}
}

func TestRingerLostDeviceAndErrors(t *testing.T) {
	testbed.CheckLeaks(t)
	devs := newFakeDevices()
	d1, _ := devs.speaker("headset")
	d2, r2 := devs.speaker("speaker")
	devs.failID = "gone"
	rg, err := StartRinger(RingerOptions{Devices: devs, Outputs: []audio.Device{*d1, {ID: "gone"}, *d2}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rg.Outputs(); len(got) != 2 {
		t.Errorf("Outputs = %v, want the two that opened", got)
	}
	devs.stream(t, "headset").Unplug()
	// The speaker goes on ringing (the default cadence starts with 1 s on).
	if l := level(r2.waitLen(t, ms(400))[ms(200):ms(400)], 425); l < 0.25 {
		t.Errorf("speaker 425 Hz level %.3f after the headset was lost, want 0.3", l)
	}
	if err := rg.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		o       RingerOptions
		wantErr error
	}{
		{"no outputs", RingerOptions{Devices: devs}, ErrBadOptions},
		{"no opener", RingerOptions{Outputs: []audio.Device{*d1}}, ErrBadOptions},
		{"none opens", RingerOptions{Devices: devs, Outputs: []audio.Device{{ID: "gone"}}}, ErrNoOutput},
		{"bad cadence", RingerOptions{Devices: devs, Outputs: []audio.Device{*d1}, Cadence: Cadence{Freqs: []float64{425}}}, ErrBadCadence},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := StartRinger(tt.o); !errors.Is(err, tt.wantErr) {
				t.Errorf("StartRinger = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
