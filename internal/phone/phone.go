// Package phone is the agent's phone: it is where the SIP user agent, the
// audio devices and the headset policy meet. It keeps the current verdict
// (re-evaluated at start-up and on every device change), decides what each
// incoming call gets from it, refuses outgoing calls while the policy says
// so, and publishes every change as an event for the control API.
//
//	audio.Watch ──snapshot──▶ policy.Evaluate ──verdict──▶ Phone ──decision──▶ sip.UA
//	                                                         │
//	                                     control API ◀──events┘
package phone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/policy"
)

// Options are what a Phone is built from.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Version string
	// Audio is the device system to watch; the Phone does not close it.
	Audio *audio.System
	// Now is the clock; nil = time.Now.
	Now func() time.Time
	// TransferGrace is how long the phone waits, once the call placed for
	// a received REFER was answered, for the transferor to end the
	// original call before it sends the BYE itself; 0 = 4 s.
	TransferGrace time.Duration
}

// Phone is the running softphone.
type Phone struct {
	cfg     atomic.Pointer[config.Config] // replaced whole by Reload
	log     *slog.Logger
	version string
	audio   *audio.System
	now     func() time.Time
	started time.Time
	// outcomes counts ended calls (outcomes.go).
	outcomes outcomeTally
	events   *hub
	// transferGrace: see Options.TransferGrace.
	transferGrace time.Duration

	mu       sync.Mutex
	pol      *policy.Policy
	snap     audio.Snapshot
	dec      policy.Decision
	haveSnap bool
	ready    chan struct{} // closed at the first snapshot
	// opening admits one call at a time to open its devices: a call
	// waiting for it that ends meanwhile opens none (at queue pace the
	// sound server would otherwise get two streams per call, most of
	// them closed before they play).
	opening chan struct{}
	levels  AudioState // volumes and mute set by the agent desktop

	sip *sipSide // nil until Run starts it
	// dtls is the DTLS certificate of WebRTC calls (webrtc.go).
	dtls dtlsCert
}

// New builds a Phone; it logs the policy's warnings (bad device entries).
func New(o Options) (*Phone, error) {
	if o.Config == nil || o.Audio == nil {
		return nil, errors.New("phone: config and audio are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TransferGrace <= 0 {
		o.TransferGrace = 4 * time.Second
	}
	pol, warns := policy.New(PolicySettings(o.Config))
	for _, w := range warns {
		o.Logger.Warn("device policy: " + w)
	}
	p := &Phone{
		log: o.Logger, version: o.Version, audio: o.Audio, now: o.Now,
		started: o.Now(), events: newHub(o.Now), pol: pol, ready: make(chan struct{}), opening: make(chan struct{}, 1), transferGrace: o.TransferGrace,
		levels: AudioState{Speaker: AudioDevice{Volume: 100}, Microphone: AudioDevice{Volume: 100}},
	}
	p.cfg.Store(o.Config)
	return p, nil
}

// config returns the configuration in force.
func (p *Phone) config() *config.Config { return p.cfg.Load() }

// Run watches the devices and runs the SIP side until ctx ends, then shuts
// down: calls are hung up and connections un-registered under a bounded
// context.
func (p *Phone) Run(ctx context.Context) error {
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() { watchDone <- p.audio.Watch(watchCtx, p.onDevices) }()

	// The first verdict comes before SIP starts, so the first call already
	// gets a decision made on the devices present.
	select {
	case <-p.ready:
	case err := <-watchDone:
		stopWatch()
		return fmt.Errorf("phone: device watch: %w", err)
	case <-ctx.Done():
		stopWatch()
		<-watchDone
		return nil
	}

	sipErr := p.startSIP(ctx)
	if sipErr != nil {
		stopWatch()
		<-watchDone
		p.events.close()
		return sipErr
	}

	var werr error
	select {
	case <-ctx.Done():
	case werr = <-watchDone:
		if werr != nil {
			werr = fmt.Errorf("phone: device watch: %w", werr)
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := errors.Join(werr, p.stopSIP(shutdown))
	stopWatch()
	if werr == nil {
		<-watchDone
	}
	p.events.close()
	return err
}

// onDevices is the watcher's callback: re-evaluate and log one line per
// change.
func (p *Phone) onDevices(s audio.Snapshot) {
	p.mu.Lock()
	prev, had := p.snap, p.haveSnap
	prevDec := p.dec
	dec := p.pol.Evaluate(PolicySnapshot(s))
	p.snap, p.dec, p.haveSnap = s, dec, true
	first := !had
	if first {
		close(p.ready)
	}
	p.mu.Unlock()

	if first {
		msg := "devices at start-up"
		if s.Null {
			msg += ": no real audio devices, using the null device"
		}
		p.log.Info(msg, "backend", s.Backend, "capture", len(s.Capture), "playback", len(s.Playback),
			"verdict", dec.Summary(), "reason", dec.Reason)
	} else {
		p.log.Info("devices changed: "+deviceDiff(prev, s), "verdict", dec.Summary(), "reason", dec.Reason,
			"verdict_changed", !dec.Equal(prevDec))
	}
	p.events.publish(EventDevices, json.RawMessage(p.Verdict()))
	p.onVerdict(dec)
}

// Decision returns the current verdict.
func (p *Phone) Decision() policy.Decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dec
}

// Verdict returns the current devices and verdict as the `softphone devices
// --json` object.
func (p *Phone) Verdict() json.RawMessage {
	p.mu.Lock()
	v := policy.NewVerdict(PolicySnapshot(p.snap), p.dec)
	p.mu.Unlock()
	raw, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return raw
}

// Subscribe returns the event stream: first a "status" event with the
// current state (as Status), then every change from that moment on.
func (p *Phone) Subscribe() (<-chan Event, func()) {
	return p.events.subscribeWith(EventStatus, p.Status())
}

// deviceDiff names the devices that came and went between two snapshots,
// and default changes.
func deviceDiff(a, b audio.Snapshot) string {
	var parts []string
	diff := func(kind string, x, y []audio.Device) {
		has := func(list []audio.Device, d audio.Device) bool {
			for _, e := range list {
				if e.ID == d.ID && e.Name == d.Name {
					return true
				}
			}
			return false
		}
		for _, d := range y {
			if !has(x, d) {
				parts = append(parts, fmt.Sprintf("+%s %q", kind, d.Name))
			}
		}
		for _, d := range x {
			if !has(y, d) {
				parts = append(parts, fmt.Sprintf("-%s %q", kind, d.Name))
			}
		}
		def := func(list []audio.Device) string {
			for _, d := range list {
				if d.Default {
					return d.Name
				}
			}
			return ""
		}
		if da, db := def(x), def(y); da != db {
			parts = append(parts, fmt.Sprintf("default %s %q", kind, db))
		}
	}
	diff("capture", a.Capture, b.Capture)
	diff("playback", a.Playback, b.Playback)
	if len(parts) == 0 {
		return "no presence change"
	}
	return strings.Join(parts, ", ")
}
