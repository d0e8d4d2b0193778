package audio

import (
	"encoding/hex"
	"strings"
)

// Device is one capture or playback device as the sound system lists it.
type Device struct {
	// Name is the human-readable name (PulseAudio: the description,
	// such as "Jabra Evolve2 65").
	Name string
	// ID identifies the device to the backend. For PulseAudio it is the
	// sink or source name (such as "jabra_evolve2_65"), for ALSA the PCM
	// name; for other backends the hexadecimal form of the id bytes.
	ID string
	// Default is set on the system's default device of its kind.
	Default bool
	// Monitor is set on PulseAudio monitor sources: they capture what a
	// sink plays, they are not microphones.
	Monitor bool
	// Kind is KindCapture or KindPlayback.
	Kind Kind
}

// Snapshot is the set of devices at one moment, in backend order.
type Snapshot struct {
	// Backend is "pulseaudio", "alsa" or "null".
	Backend string
	// Null is true when no real sound system is in use: the devices
	// listed (if any) are miniaudio's silent null devices.
	Null bool
	// Capture and Playback list the devices in backend order.
	Capture, Playback []Device
}

// Equal reports whether two snapshots hold the same backend and the same
// devices, with the same flags, in the same order. Nil and empty device
// lists are equal.
func (s Snapshot) Equal(o Snapshot) bool {
	return s.Backend == o.Backend && s.Null == o.Null &&
		devicesEqual(s.Capture, o.Capture) && devicesEqual(s.Playback, o.Playback)
}

func devicesEqual(a, b []Device) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Default returns the default device of kind k, if one is flagged.
func (s Snapshot) Default(k Kind) (Device, bool) {
	list := s.Playback
	if k == KindCapture {
		list = s.Capture
	} else if k != KindPlayback {
		return Device{}, false
	}
	for _, d := range list {
		if d.Default {
			return d, true
		}
	}
	return Device{}, false
}

// monitorSuffix and monitorPrefix mark PulseAudio monitor sources: the
// server names a sink's monitor "<sink>.monitor" and describes it as
// "Monitor of <sink description>".
const (
	monitorSuffix = ".monitor"
	monitorPrefix = "Monitor of "
)

// isMonitor reports whether a capture device is a PulseAudio monitor source.
func isMonitor(b backend, id, name string) bool {
	if b != backendPulse {
		return false
	}
	return strings.HasSuffix(id, monitorSuffix) || strings.HasPrefix(name, monitorPrefix)
}

// dummySink is the sink PulseAudio's module-always-sink keeps while no
// other sink exists ("Dummy Output"). pipewire-pulse loads that module by
// default, so every PipeWire desktop without a headset or speaker shows
// it, and so do PulseAudio desktops whose default.pa loads it. It plays
// into nothing and its monitor records silence: it is not a device.
const dummySink = "auto_null"

// isDummy reports whether a device is module-always-sink's placeholder
// sink or its monitor.
func isDummy(b backend, id string) bool {
	return b == backendPulse && (id == dummySink || id == dummySink+monitorSuffix)
}

// decodeID turns the backend's raw device id into a stable string. For
// PulseAudio and ALSA the bytes are a NUL-terminated name; other backends
// get the hexadecimal form of the bytes without trailing zeros.
func decodeID(b backend, raw []byte) string {
	if b == backendPulse || b == backendALSA {
		if i := strings.IndexByte(string(raw), 0); i >= 0 {
			return string(raw[:i])
		}
		return string(raw)
	}
	n := len(raw)
	for n > 1 && raw[n-1] == 0 {
		n--
	}
	return hex.EncodeToString(raw[:n])
}
