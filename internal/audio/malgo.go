package audio

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/gen2brain/malgo"
)

// malgoNull is miniaudio's null backend. malgo's own BackendNull constant
// is one off (it is ma_backend_custom, as malgo's enum leaves "custom"
// out), so the value is spelled here.
const malgoNull = malgo.Backend(14)

// lister is one open connection to a sound system. All calls happen on
// the System's worker goroutine, one at a time.
type lister interface {
	list() (Snapshot, error)
	close() error
}

// openFunc opens a lister on one backend (never backendAuto).
type openFunc func(b backend) (lister, error)

// malgoLister lists devices through a long-lived miniaudio context. A
// long-lived PulseAudio context sees devices loaded and unloaded after it
// was opened, and default changes, on every enumeration: there is no need
// for a fresh context per poll (which costs about 2x the CPU).
type malgoLister struct {
	b   backend
	ctx *malgo.AllocatedContext
}

func openMalgo(b backend) (lister, error) {
	var mb malgo.Backend
	switch b {
	case backendPulse:
		mb = malgo.BackendPulseaudio
	case backendALSA:
		mb = malgo.BackendAlsa
	case backendNull:
		mb = malgoNull
	default:
		return nil, fmt.Errorf("%w: cannot open backend %s", ErrUnknownBackend, b)
	}
	// The lister is opened again and again while no sound server runs
	// (every retry of an "auto" System fallen back to the null backend,
	// every poll after a server went away), and miniaudio leaks its
	// PulseAudio context on each failed connection (pulseprobe.go): it is
	// asked only once a server has answered. Streams open their context
	// without the probe: they are opened on devices just listed, and a
	// probe would cost each a second connection to the server.
	if mb == malgo.BackendPulseaudio {
		if up, ok := pulseServerUp(); ok && !up {
			return nil, fmt.Errorf("%w: %s: no sound server accepted a connection", ErrNoBackend, b)
		}
	}
	// The lister opens no devices; its context is guarded all the same, as
	// every PulseAudio context the package makes.
	ctx, _, _, err := initContext(mb)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoBackend, b, err)
	}
	return &malgoLister{b: b, ctx: ctx}, nil
}

// initContext opens a miniaudio context on mb. It is the only place the
// package makes contexts, so that every PulseAudio one carries the
// device-info guard (pulseinfo.go); unguarded is true for a PulseAudio
// context the guard does not fit (its layout is not the one the guard was
// written for), which is usable all the same. The zero ContextConfig
// leaves PulseAudio's autospawn off: the daemon never starts a sound
// server of its own. Its PulseAudio playback streams ask for the buffering
// of pulseattr.go; untuned is true when that could not be put in place
// (the streams then get miniaudio's).
func initContext(mb malgo.Backend) (ctx *malgo.AllocatedContext, unguarded, untuned bool, err error) {
	ctx, err = malgo.InitContext([]malgo.Backend{mb}, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, false, false, err
	}
	if mb != malgo.BackendPulseaudio {
		return ctx, false, false, nil
	}
	return ctx, !guardPulseDeviceInfo(ctx), !tunePulsePlayback(ctx), nil
}

func (m *malgoLister) list() (Snapshot, error) {
	snap := Snapshot{Backend: m.b.String(), Null: m.b == backendNull}
	play, err := m.ctx.Devices(malgo.Playback)
	if err != nil {
		return Snapshot{}, fmt.Errorf("audio: %s: list playback devices: %w", m.b, err)
	}
	capt, err := m.ctx.Devices(malgo.Capture)
	if err != nil {
		return Snapshot{}, fmt.Errorf("audio: %s: list capture devices: %w", m.b, err)
	}
	snap.Playback = m.convert(play, KindPlayback)
	snap.Capture = m.convert(capt, KindCapture)
	return snap, nil
}

func (m *malgoLister) convert(infos []malgo.DeviceInfo, k Kind) []Device {
	out := make([]Device, 0, len(infos))
	for i := range infos {
		d := Device{
			Name:    infos[i].Name(),
			ID:      decodeID(m.b, infos[i].ID[:]),
			Default: infos[i].IsDefault != 0,
			Kind:    k,
		}
		if isDummy(m.b, d.ID) {
			continue
		}
		if k == KindCapture {
			d.Monitor = isMonitor(m.b, d.ID, d.Name)
		}
		out = append(out, d)
	}
	return out
}

func (m *malgoLister) close() error {
	if m.ctx == nil {
		return nil
	}
	err := m.ctx.Uninit()
	m.ctx.Free()
	m.ctx = nil
	if err != nil {
		return fmt.Errorf("audio: %s: close context: %w", m.b, err)
	}
	return nil
}

// pcmDevice matches the ALSA PCM device nodes of a sound card
// (pcmC0D0p, pcmC1D0c, ...).
var pcmDevice = regexp.MustCompile(`^pcmC[0-9]+D[0-9]+[pc]$`)

// hasSoundCard reports whether dir (normally /dev/snd) holds at least one
// ALSA PCM device node. Without one, ALSA lists only its plugin names
// (pulse, null, jack, oss, ...), which are not devices.
func hasSoundCard(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audio: read %s: %w", dir, err)
	}
	for _, e := range entries {
		if pcmDevice.MatchString(e.Name()) {
			return true, nil
		}
	}
	return false, nil
}
