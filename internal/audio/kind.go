package audio

import "fmt"

// Kind tells a capture device (microphone) from a playback device
// (earpiece, speaker).
type Kind int

// Device kinds.
const (
	// KindUnknown is the zero value: no kind was set.
	KindUnknown Kind = iota
	// KindCapture is a device that records (a microphone or a monitor).
	KindCapture
	// KindPlayback is a device that plays (an earpiece or a speaker).
	KindPlayback
)

// String returns "capture", "playback" or "unknown".
func (k Kind) String() string {
	switch k {
	case KindCapture:
		return "capture"
	case KindPlayback:
		return "playback"
	default:
		return "unknown"
	}
}

// ParseKind is the inverse of Kind.String for the known kinds.
func ParseKind(s string) (Kind, error) {
	switch s {
	case "capture":
		return KindCapture, nil
	case "playback":
		return KindPlayback, nil
	default:
		return KindUnknown, fmt.Errorf("audio: unknown device kind %q", s)
	}
}

// backend is the sound system a System talks to.
type backend int

const (
	backendUnknown backend = iota
	backendAuto
	backendPulse
	backendALSA
	backendNull
)

// Names of the backends as they appear in Options.Backend and
// Snapshot.Backend.
const (
	BackendAuto       = "auto"
	BackendPulseAudio = "pulseaudio"
	BackendALSA       = "alsa"
	BackendNull       = "null"
)

func (b backend) String() string {
	switch b {
	case backendAuto:
		return BackendAuto
	case backendPulse:
		return BackendPulseAudio
	case backendALSA:
		return BackendALSA
	case backendNull:
		return BackendNull
	default:
		return "unknown"
	}
}

// parseBackend reads Options.Backend; the empty string means "auto".
func parseBackend(s string) (backend, error) {
	switch s {
	case "", BackendAuto:
		return backendAuto, nil
	case BackendPulseAudio:
		return backendPulse, nil
	case BackendALSA:
		return backendALSA, nil
	case BackendNull:
		return backendNull, nil
	default:
		return backendUnknown, fmt.Errorf("%w %q (want auto, pulseaudio, alsa or null)", ErrUnknownBackend, s)
	}
}
