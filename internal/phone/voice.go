package phone

import (
	"context"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/dsp"
	"github.com/softphone/softphone/internal/policy"
	"github.com/softphone/softphone/internal/sip"
	"github.com/softphone/softphone/internal/voice"
)

// The audio of a call: once a call is up and its media agreed, a voice
// path carries it between the devices the policy selected and the RTP
// session. The path follows every new selection (a plug, an unplug, a new
// default) without touching the SIP dialog; with no device left the call
// stays up on silence and an event says so. While an incoming call rings,
// a ringer plays on the selected output and on the ringing_device entries.

// selectedDevices returns the audio devices the decision selected, nil for
// none.
func selectedDevices(s audio.Snapshot, d policy.Decision) (in, out *audio.Device) {
	find := func(list []audio.Device, sel *policy.Selection) *audio.Device {
		if sel == nil {
			return nil
		}
		for i := range list {
			if list[i].ID == sel.Device.ID && list[i].Name == sel.Device.Name {
				dev := list[i]
				return &dev
			}
		}
		return nil
	}
	return find(s.Capture, d.Input), find(s.Playback, d.Output)
}

// currentDevices is selectedDevices for the phone's current verdict.
func (p *Phone) currentDevices() (in, out *audio.Device) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return selectedDevices(p.snap, p.dec)
}

// maybeStartVoiceLocked starts the call's audio once the call is up and its
// media agreed, whichever comes last (a late offer's answer arrives in the
// ACK, after the call is up). s.mu is held.
func (p *Phone) maybeStartVoiceLocked(s *sipSide, e *call) {
	if e.voice || e.media == nil || (e.state != sip.CallStateActive && e.state != sip.CallStateHeld) || e.media.session() == nil {
		return
	}
	e.voice = true
	p.startVoice(s, e, e.auto)
}

// startVoice starts the call's audio path on a goroutine of the call
// (opening devices may take a while, and never delays the SIP layer).
func (p *Phone) startVoice(s *sipSide, e *call, zip bool) {
	e.g.Go(func() {
		sess := e.media.session()
		if sess == nil || e.ctx.Err() != nil {
			return
		}
		select {
		case p.opening <- struct{}{}:
		case <-e.ctx.Done():
			return // ended before its turn: no device to open or close
		}
		release := func() { <-p.opening }
		if e.ctx.Err() != nil {
			release()
			return
		}
		in, out := p.currentDevices()
		id := e.sip.ID()
		opts := voice.Options{
			Devices: p.audio, Media: sess, Input: in, Output: out, Logger: p.log.With("component", "voice", "call", id),
			Processing: voiceProcessing(p.config().Session),
			OnDeviceLost: func(kind audio.Kind, dev audio.Device, err error) {
				p.log.Warn("device lost during the call: the call goes on", "call", id, "kind", kind.String(), "device", dev.Name)
				p.events.publish(EventMedia, map[string]string{"call": id, "event": "device_lost", "kind": kind.String(), "device": dev.Name})
				// The stream died though the device may still be listed:
				// select again (off the path's goroutine, as it asks).
				s.bg.Go(func() { p.followDevices(s) })
			},
		}
		path, err := voice.Start(opts)
		if err != nil && (in != nil || out != nil) {
			// A device that does not open must not cost the call its
			// audio path: go on without devices until the next selection.
			p.log.Warn("call audio: the selected devices did not open, going on without them", "call", id, "err", err)
			opts.Input, opts.Output, in, out = nil, nil, nil, nil
			path, err = voice.Start(opts)
		}
		release()
		if err != nil {
			p.log.Error("call audio could not start: the call goes on without it", "call", id, "err", err)
			return
		}
		e.media.setPath(path)
		lv := p.Audio()
		applyLevels(path, lv)
		s.mu.Lock()
		ended := e.state == sip.CallStateEnded || e.ctx.Err() != nil
		if !ended {
			e.path = path
			path.SetHold(e.held)
		}
		s.mu.Unlock()
		if ended {
			path.Close()
			return
		}
		p.log.Info("call audio started", "call", id, "input", devName(in), "output", devName(out))
		if in == nil || out == nil {
			s.mu.Lock()
			e.noDevice = true
			s.mu.Unlock()
			p.events.publish(EventMedia, map[string]string{"call": id, "event": "no_device", "input": devName(in), "output": devName(out)})
		}
		if zip && p.config().Session.ZipTone {
			path.PlayZipTone()
		}
		// Opening the devices takes a while: a plug or an unplug meanwhile
		// found no path to move. Follow the selection as it is now.
		if cin, cout := p.currentDevices(); !sameDevice(cin, in) || !sameDevice(cout, out) {
			p.log.Info("call audio: the devices changed while they opened: following them", "call", id)
			p.followDevices(s)
		}
	})
}

// sameDevice reports whether a and b are the same device or both none.
func sameDevice(a, b *audio.Device) bool {
	if a == nil {
		return b == nil
	}
	return same(*a, true, b)
}

func devName(d *audio.Device) string {
	if d == nil {
		return "none"
	}
	return d.Name
}

// applyLevels sets a path's volumes and mute from the agent desktop's
// levels; a muted speaker plays at volume 0.
func applyLevels(path *voice.Path, lv AudioState) {
	_ = path.SetMicVolume(lv.Microphone.Volume)
	spk := lv.Speaker.Volume
	if lv.Speaker.Muted {
		spk = 0
	}
	_ = path.SetSpeakerVolume(spk)
	path.SetMute(lv.Microphone.Muted)
}

// followDevices moves every call's audio to the devices of a new verdict,
// and says once when a call is left without a device.
func (p *Phone) followDevices(s *sipSide) {
	in, out := p.currentDevices()
	none := in == nil || out == nil
	type moving struct {
		e    *call
		path *voice.Path
	}
	s.mu.Lock()
	var calls []moving
	for _, e := range s.calls {
		if e.path != nil {
			calls = append(calls, moving{e, e.path})
		}
	}
	s.mu.Unlock()
	failed := false
	defer func() { p.retryFollow(s, failed) }()
	for _, mv := range calls {
		e, path := mv.e, mv.path
		id := e.sip.ID()
		cin, cinOK, cout, coutOK := path.Devices()
		switched := false
		if !same(cin, cinOK, in) || !same(cout, coutOK, out) {
			start := time.Now()
			if err := path.SwitchDevices(in, out); err != nil {
				p.log.Warn("call audio could not move to the new devices", "call", id, "err", err)
				failed = true
				continue
			}
			switched = true
			p.log.Info("call audio moved", "call", id, "input", devName(in), "output", devName(out), "took", time.Since(start))
		}
		s.mu.Lock()
		tell := none && !e.noDevice
		e.noDevice = none
		s.mu.Unlock()
		switch {
		case tell:
			p.log.Warn("no audio device left: the call goes on without one", "call", id, "input", devName(in), "output", devName(out))
			p.events.publish(EventMedia, map[string]string{"call": id, "event": "no_device", "input": devName(in), "output": devName(out)})
		case switched:
			p.events.publish(EventMedia, map[string]string{"call": id, "event": "devices_switched", "input": devName(in), "output": devName(out)})
		}
	}
}

// Retries of a device move that failed: a device just plugged in may be
// listed before it opens (PipeWire's pulse service answers "Unknown error"
// for a few tens of milliseconds after a sink appears), and no further
// event comes to try again, so the call would stay on the spare device.
const (
	moveRetryFirst = 100 * time.Millisecond
	moveRetryMax   = 2 * time.Second
	moveRetries    = 10 // then wait for the next device change
)

// retryFollow arms one retry of followDevices after a failed move, with
// a delay doubling from moveRetryFirst to moveRetryMax, at most
// moveRetries in a row; a pass where every move succeeded resets it.
func (p *Phone) retryFollow(s *sipSide, failed bool) {
	s.retryMu.Lock()
	defer s.retryMu.Unlock()
	if !failed {
		s.moveFailed = 0
		return
	}
	if s.retry != nil || s.moveFailed >= moveRetries || s.ctx.Err() != nil {
		return
	}
	d := min(moveRetryFirst<<s.moveFailed, moveRetryMax)
	s.moveFailed++
	s.retry = time.AfterFunc(d, func() {
		s.retryMu.Lock()
		s.retry = nil
		s.retryMu.Unlock()
		if s.ctx.Err() == nil {
			s.bg.Go(func() { p.followDevices(s) })
		}
	})
}

// same reports whether the path's device (ok false: none) is want.
func same(have audio.Device, ok bool, want *audio.Device) bool {
	if want == nil || !ok {
		return want == nil && !ok
	}
	return have.ID == want.ID && have.Name == want.Name
}

// ringOutputs are the devices a call rings on: the selected output and
// the ringing_device entries' devices.
func (p *Phone) ringOutputs() []audio.Device {
	p.mu.Lock()
	snap, dec := p.snap, p.dec
	p.mu.Unlock()
	_, out := selectedDevices(snap, dec)
	var outs []audio.Device
	if out != nil {
		outs = append(outs, *out)
	}
	for _, i := range policy.MatchAll(p.config().Device.RingingDevice, PolicySnapshot(snap).Playback) {
		d := snap.Playback[i]
		if out == nil || d.ID != out.ID {
			outs = append(outs, d)
		}
	}
	return outs
}

// startRinger rings for an incoming call on the selected output and the
// ringing_device entries, unless another call is up (a waiting call does
// not ring over the conversation).
func (p *Phone) startRinger(s *sipSide, e *call) {
	e.g.Go(func() {
		outs := p.ringOutputs()
		if len(outs) == 0 {
			return
		}
		s.mu.Lock()
		ringing := e.state == sip.CallStateRinging && !e.waiting && !e.answering && e.ringer == nil
		s.mu.Unlock()
		if !ringing || e.ctx.Err() != nil {
			return
		}
		r, err := voice.StartRinger(voice.RingerOptions{Devices: p.audio, Outputs: outs, Logger: p.log.With("component", "ringer")})
		if err != nil {
			p.log.Warn("cannot ring", "call", e.sip.ID(), "err", err)
			return
		}
		s.mu.Lock()
		ringing = e.state == sip.CallStateRinging && !e.waiting && !e.answering && e.ringer == nil && e.ctx.Err() == nil
		if ringing {
			e.ringer = r
		}
		s.mu.Unlock()
		if !ringing {
			r.Stop()
		}
	})
}

// sendInbandDTMF plays DTMF tones into the call's send path.
func (p *Phone) sendInbandDTMF(e *call, digits string) (bool, error) {
	s := p.sipSide()
	s.mu.Lock()
	path := e.path
	s.mu.Unlock()
	if path == nil {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(len(digits)+1)*time.Second)
	defer cancel()
	return true, path.SendDTMF(ctx, digits)
}

// voiceProcessing is the voice processing stage the session settings ask
// for (echo_cancellation, echo_canceller, noise_suppression, agc_mode).
func voiceProcessing(s config.Session) dsp.Settings {
	return dsp.Settings{EchoCancellation: s.EchoCancellation, NoiseSuppression: s.NoiseSuppression, AGC: s.AGCMode == 1,
		Engine: s.EchoCanceller}
}

// followRingers moves the ringing of the calls that ring to the devices
// of a new verdict (a headset plugged in or out, the sound server gone and
// back): a ringer whose devices are not the ones wanted now is stopped
// and, when there are devices to ring on, started again on them.
func (p *Phone) followRingers(s *sipSide) {
	want := p.ringOutputs()
	s.mu.Lock()
	var again []*call
	for _, e := range s.calls {
		if e.state != sip.CallStateRinging || e.waiting || e.answering || e.sip.Direction() != sip.Incoming {
			continue
		}
		var have []audio.Device
		if e.ringer != nil {
			have = e.ringer.Outputs()
		}
		if !sameDevices(have, want) {
			again = append(again, e)
		}
	}
	s.mu.Unlock()
	for _, e := range again {
		e.stopRinger()
		p.startRinger(s, e)
		p.log.Info("ringing follows the devices", "call", e.sip.ID(), "outputs", len(want))
	}
}

// sameDevices reports whether a and b list the same devices in the same
// order.
func sameDevices(a, b []audio.Device) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}
