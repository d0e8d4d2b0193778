package phone

import (
	"encoding/json"
	"errors"
	"time"
)

// Errors the phone returns to front ends; the control API maps them to HTTP
// statuses with errors.Is.
var (
	// ErrNoSuchCall means no call has the given id (or there is no call
	// when the id was left out).
	ErrNoSuchCall = errors.New("phone: no such call")
	// ErrAmbiguousCall means the id was left out while several calls exist.
	ErrAmbiguousCall = errors.New("phone: several calls: name one")
	// ErrOutgoingBlocked means the policy refuses outgoing calls now
	// (use_headset=1, reject_session_when_headset_na=1 and no headset).
	ErrOutgoingBlocked = errors.New("phone: outgoing calls are blocked")
	// ErrInvalidState means the action does not fit the call's state
	// (answering an established call, holding a ringing one, ...).
	ErrInvalidState = errors.New("phone: action not allowed in the call's state")
	// ErrInvalidArgument means a parameter is malformed (a URI, a code,
	// DTMF digits).
	ErrInvalidArgument = errors.New("phone: invalid argument")
	// ErrUnknownEvent means an event type's name is not known.
	ErrUnknownEvent = errors.New("phone: unknown event type")
)

// CallInfo is one call as front ends see it.
type CallInfo struct {
	ID         string     `json:"id"`
	Direction  string     `json:"direction"` // "incoming" | "outgoing"
	State      string     `json:"state"`     // see sip call states: ringing, early, active, held, ended, ...
	Remote     string     `json:"remote"`    // the peer's URI
	RemoteName string     `json:"remote_name,omitempty"`
	Local      string     `json:"local"`
	Connection int        `json:"connection"` // connectivity index, -1 for standalone
	Started    time.Time  `json:"started"`
	Answered   time.Time  `json:"answered,omitzero"`
	Held       bool       `json:"held"`
	Reason     string     `json:"reason,omitempty"` // why it ended or was refused
	Media      *MediaInfo `json:"media,omitempty"`  // codec and quality, once the media is agreed
	// Transfer is set when the remote party asked to transfer this call
	// (a received REFER): where the new call stands.
	Transfer *TransferInfo `json:"transfer,omitempty"`
	// Replaces is the id of the call this one took the place of (an
	// INVITE with Replaces, RFC 3891: an attended transfer completed
	// towards the agent).
	Replaces string `json:"replaces,omitempty"`
}

// TransferInfo is a transfer the remote party asked of one of our calls (a
// received REFER, RFC 3515 blind transfer) and what became of the call the
// phone placed for it. On "succeeded" the original call ends (the
// transferor's BYE, else the phone's after a few seconds); on "failed" it
// stays up and the transferor decides what to do with it.
type TransferInfo struct {
	Target  string `json:"target"`             // the Refer-To URI
	State   string `json:"state"`              // trying, ringing, succeeded, failed
	Code    int    `json:"code,omitempty"`     // the SIP status reported to the transferor
	Reason  string `json:"reason,omitempty"`   // e.g. "Busy Here", or why the call could not be placed
	NewCall string `json:"new_call,omitempty"` // the id of the call placed to the target
}

// TransferEvent is the data of a "transfer" event: one step of a transfer
// asked of call Call.
type TransferEvent struct {
	Call string `json:"call"`
	TransferInfo
}

// TransferredEvent is the data of a "transferred" event: a transfer the
// agent made of call Call (a REFER we sent) completed; the call ends.
type TransferredEvent struct {
	Call   string `json:"call"`
	Kind   string `json:"kind"`   // "blind" or "attended"
	Target string `json:"target"` // where the remote party was sent
	// Consultation is the agent's call to the target, for an attended
	// transfer.
	Consultation string `json:"consultation,omitempty"`
}

// Registration is the state of one [connectivity.N].
type Registration struct {
	Connection int       `json:"connection"`
	User       string    `json:"user"`
	Server     string    `json:"server"`
	Protocol   string    `json:"protocol"`
	State      string    `json:"state"`            // unregistered, registering, registered, failed, standalone
	Detail     string    `json:"detail,omitempty"` // the server's last answer, e.g. "403 Forbidden"
	Expires    time.Time `json:"expires,omitzero"`
}

// Status is the daemon's overview.
type Status struct {
	Version       string          `json:"version"`
	Started       time.Time       `json:"started"`
	Standalone    bool            `json:"standalone"`
	SIPListen     []string        `json:"sip_listen"`
	Registrations []Registration  `json:"registrations"`
	Verdict       json.RawMessage `json:"verdict"` // the `softphone devices --json` object
	Calls         []CallInfo      `json:"calls"`
}

// Event is one item of the event stream. Type is the wire name of an
// EventType ("status", "registration", "devices", "call", "dtmf",
// "transfer", "media", "quality", "audio", "transferred"); Kind returns it
// typed. Call-state events are never dropped for a connected subscriber.
type Event struct {
	Seq  uint64          `json:"seq"`
	Time time.Time       `json:"time"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// DialResult is what Dial returns once the INVITE is sent.
type DialResult = CallInfo

// AudioDevice is one side of the agent's audio as the Connector reports it.
type AudioDevice struct {
	Name   string `json:"name"`
	Volume int    `json:"volume"` // 0-100
	Muted  bool   `json:"muted"`
}

// AudioState is the selected devices with their levels.
type AudioState struct {
	Speaker     AudioDevice `json:"speaker"`
	Microphone  AudioDevice `json:"microphone"`
	HeadsetUsed bool        `json:"headset_used"`
}

// AudioChange sets levels and mute; nil fields are left as they are.
type AudioChange struct {
	SpeakerVolume    *int  `json:"-"`
	SpeakerMuted     *bool `json:"-"`
	MicrophoneVolume *int  `json:"-"`
	MicrophoneMuted  *bool `json:"-"`
}

// Quality is the voice quality of the current call (zero without one).
type Quality struct {
	LocalMOS  float64 `json:"local_mos"`
	RTTMillis int     `json:"rtt_ms"`
	VQAlarmOn bool    `json:"vq_alarm_on"`
}

// ReloadReport says what a configuration reload applied.
type ReloadReport struct {
	Applied    []string        `json:"applied"`     // e.g. "policy.device", "connectivity.0"
	NotApplied []string        `json:"not_applied"` // with the reason, e.g. "policy.endpoint.sip_port: needs a restart"
	Verdict    json.RawMessage `json:"verdict"`
}

// Apply returns st with the change's fields set.
func (c AudioChange) Apply(st AudioState) AudioState {
	if c.SpeakerVolume != nil {
		st.Speaker.Volume = *c.SpeakerVolume
	}
	if c.SpeakerMuted != nil {
		st.Speaker.Muted = *c.SpeakerMuted
	}
	if c.MicrophoneVolume != nil {
		st.Microphone.Volume = *c.MicrophoneVolume
	}
	if c.MicrophoneMuted != nil {
		st.Microphone.Muted = *c.MicrophoneMuted
	}
	return st
}
