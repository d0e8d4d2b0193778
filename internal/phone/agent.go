package phone

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/policy"
	"github.com/softphone/softphone/internal/sip"
)

// Audio returns the selected devices with the levels the agent desktop set.
func (p *Phone) Audio() AudioState {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.levels
	if p.dec.Output != nil {
		st.Speaker.Name = p.dec.Output.Device.Name
	}
	if p.dec.Input != nil {
		st.Microphone.Name = p.dec.Input.Device.Name
	}
	st.HeadsetUsed = p.dec.HeadsetAvailable && p.pol.Settings().UseHeadset
	return st
}

// SetAudio changes volumes (0–100) and mute; it applies to every call's
// audio path at once.
func (p *Phone) SetAudio(c AudioChange) error {
	for _, v := range []*int{c.SpeakerVolume, c.MicrophoneVolume} {
		if v != nil && (*v < 0 || *v > 100) {
			return fmt.Errorf("%w: volume %d is not 0-100", ErrInvalidArgument, *v)
		}
	}
	p.mu.Lock()
	p.levels = c.Apply(p.levels)
	p.mu.Unlock()
	st := p.Audio()
	if s := p.sipSide(); s != nil {
		s.mu.Lock()
		for _, e := range s.calls {
			if e.path != nil {
				applyLevels(e.path, st)
			}
		}
		s.mu.Unlock()
	}
	p.events.publish(EventAudio, st)
	return nil
}

// Quality returns the voice quality of the current call (the oldest one
// up), zero without one. The alarm is on while the MOS estimate is below
// vq_alarm_threshold (and stays on until it is back above it by
// vqAlarmHysteresis).
func (p *Phone) Quality() Quality {
	s := p.sipSide()
	if s == nil {
		return Quality{}
	}
	var best *call
	s.mu.Lock()
	for _, e := range s.calls {
		if !e.ans.IsZero() && (best == nil || e.ans.Before(best.ans)) {
			best = e
		}
	}
	if best == nil {
		s.mu.Unlock()
		return Quality{}
	}
	m, alarm := best.media, best.vqAlarm
	s.mu.Unlock()
	if mi := m.info(); mi != nil {
		return Quality{LocalMOS: mi.MOS, RTTMillis: int(mi.RTTMillis), VQAlarmOn: alarm}
	}
	return Quality{}
}

// vqAlarmHysteresis is how far above [policy.session] vq_alarm_threshold
// the MOS estimate must climb back before the alarm clears, so a call
// hovering at the threshold raises one alarm per dip, not one per check.
const vqAlarmHysteresis = 0.3

// checkQuality raises or clears a call's voice-quality alarm and says so
// in an event and a log line, naming what lowers the MOS most (loss,
// jitter or delay) when it rises.
func (p *Phone) checkQuality(s *sipSide, e *call) {
	on := p.config().Session.VQAlarmThreshold
	mi := e.media.info()
	if mi == nil || mi.PacketsReceived < 50 || on <= 0 {
		return
	}
	s.mu.Lock()
	was := e.vqAlarm
	switch {
	case !was && mi.MOS < on:
		e.vqAlarm = true
	case was && mi.MOS > on+vqAlarmHysteresis:
		e.vqAlarm = false
	}
	now := e.vqAlarm
	s.mu.Unlock()
	if now != was {
		cause := ""
		if sess := e.media.session(); now && sess != nil {
			cause = media.QualityCause(sess.Stats())
		}
		p.log.Warn("voice quality alarm", "call", e.sip.ID(), "on", now, "cause", cause, "mos", mi.MOS, "threshold", on,
			"fraction_lost", mi.FractionLost, "jitter_ms", mi.JitterMillis, "rtt_ms", mi.RTTMillis)
		p.events.publish(EventQuality, map[string]any{"call": e.sip.ID(), "vq_alarm_on": now, "cause": cause, "mos": mi.MOS,
			"threshold": on, "fraction_lost": mi.FractionLost, "jitter_ms": mi.JitterMillis, "rtt_ms": mi.RTTMillis})
	}
}

// ReleaseAll ends every call: a ringing incoming call is rejected with 480,
// an outgoing one not yet answered is cancelled, the others get BYE. It
// returns how many calls it released.
func (p *Phone) ReleaseAll(ctx context.Context) (int, error) {
	s := p.sipSide()
	if s == nil {
		return 0, nil
	}
	s.mu.Lock()
	var calls []*call
	for _, e := range s.calls {
		calls = append(calls, e)
	}
	s.mu.Unlock()
	n := 0
	var errs []error
	for _, e := range calls {
		var err error
		if e.sip.Direction() == sip.Incoming && e.sip.State() == sip.CallStateRinging {
			err = e.sip.Reject(480, "released by the agent desktop")
		} else {
			err = p.hangup(e)
		}
		if err == nil {
			n++
		} else if !errors.Is(err, sip.ErrInvalidState) {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// StartConnections (re)starts the SIP registrations.
func (p *Phone) StartConnections(ctx context.Context) error {
	s := p.sipSide()
	if s == nil {
		return fmt.Errorf("%w: sip is not running", ErrInvalidState)
	}
	return s.ua.StartRegistrations(ctx)
}

// StopConnections un-registers every connection and drops the calls (the
// agent logs out).
func (p *Phone) StopConnections(ctx context.Context) error {
	s := p.sipSide()
	if s == nil {
		return nil
	}
	_, err := p.ReleaseAll(ctx)
	return errors.Join(err, s.ua.StopRegistrations(ctx))
}

// Reload re-reads the configuration file and applies what can change
// without dropping calls: the device policy and session settings at once
// (with a new verdict), changed connections by re-registering them. Other
// changes (where SIP listens, the RTP range, the control API, logging) need
// a restart and are reported as not applied.
func (p *Phone) Reload() (ReloadReport, error) {
	old := p.config()
	if old.File == "" {
		return ReloadReport{}, fmt.Errorf("%w: the daemon runs on built-in defaults: no file to reload", ErrInvalidState)
	}
	next, warns, err := config.Load(old.File)
	for _, w := range warns {
		p.log.Warn("reload: " + w)
	}
	if err != nil {
		return ReloadReport{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	rep := ReloadReport{Applied: []string{}, NotApplied: []string{}}
	restart := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			rep.NotApplied = append(rep.NotApplied, name+": needs a restart")
		}
	}
	restart("policy.endpoint", old.Endpoint, next.Endpoint)
	restart("control", old.Control, next.Control)
	restart("system.log", old.Log, next.Log)
	restart("system.audio", old.Audio, next.Audio)
	if old.Device.PollInterval != next.Device.PollInterval {
		rep.NotApplied = append(rep.NotApplied, "policy.device.device_poll_interval: needs a restart")
	}
	// What cannot be applied keeps its old value, so the daemon's view stays
	// what it runs with.
	next.Endpoint, next.Control, next.Log, next.Audio = old.Endpoint, old.Control, old.Log, old.Audio
	next.Device.PollInterval = old.Device.PollInterval

	if !reflect.DeepEqual(PolicySettings(old), PolicySettings(next)) {
		pol, pw := policy.New(PolicySettings(next))
		for _, w := range pw {
			p.log.Warn("device policy: " + w)
		}
		p.mu.Lock()
		p.pol = pol
		p.dec = pol.Evaluate(PolicySnapshot(p.snap))
		dec := p.dec
		p.mu.Unlock()
		rep.Applied = append(rep.Applied, "policy.device", "policy.session (device policy)")
		p.log.Info("reload: device policy applied", "verdict", dec.Summary(), "reason", dec.Reason)
		p.events.publish(EventDevices, p.Verdict())
		p.onVerdict(dec)
	}
	if !reflect.DeepEqual(old.Session, next.Session) {
		rep.Applied = append(rep.Applied, "policy.session")
		if s := p.sipSide(); s != nil {
			s.ua.SetSessionExpires(next.Session.SessionExpires)
		}
	}
	changed := changedConnections(old.Connections, next.Connections)
	p.cfg.Store(next)
	if len(changed) > 0 {
		if s := p.sipSide(); s != nil {
			if err := s.ua.UpdateAccounts(context.Background(), sipAccounts(next)); err != nil {
				rep.NotApplied = append(rep.NotApplied, "connectivity: "+err.Error())
			} else {
				rep.Applied = append(rep.Applied, changed...)
			}
		}
	}
	rep.Verdict = p.Verdict()
	p.log.Info("configuration reloaded", "applied", rep.Applied, "not_applied", rep.NotApplied)
	return rep, nil
}

// changedConnections names the [connectivity.N] sections added, removed or
// changed.
func changedConnections(a, b []config.Connectivity) []string {
	idx := func(list []config.Connectivity) map[int]config.Connectivity {
		m := map[int]config.Connectivity{}
		for _, c := range list {
			m[c.Index] = c
		}
		return m
	}
	ma, mb := idx(a), idx(b)
	var out []string
	for i, c := range ma {
		if d, ok := mb[i]; !ok || !reflect.DeepEqual(c, d) {
			out = append(out, fmt.Sprintf("connectivity.%d", i))
		}
	}
	for i := range mb {
		if _, ok := ma[i]; !ok {
			out = append(out, fmt.Sprintf("connectivity.%d", i))
		}
	}
	sort.Strings(out)
	return out
}
