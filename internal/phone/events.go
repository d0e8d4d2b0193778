package phone

import (
	"fmt"
	"strings"
)

// EventType is the kind of an event on the stream. The phone publishes
// only these; on the wire (Event.Type, the SSE "event:" field) each is its
// String.
type EventType int

// Event types; the zero value is unknown and never published.
const (
	EventUnknown EventType = iota
	// EventStatus is the first event of every subscription: a Status.
	EventStatus
	// EventRegistration is a connection's registration change: a
	// Registration.
	EventRegistration
	// EventDevices is a new device snapshot and verdict: the `softphone
	// devices --json` object.
	EventDevices
	// EventCall is a call's state change: a CallInfo.
	EventCall
	// EventDTMF is a digit received or digits sent.
	EventDTMF
	// EventTransfer is one step of a transfer asked of one of our calls
	// (a received REFER): a TransferEvent.
	EventTransfer
	// EventMedia is a call's audio event: devices lost, switched, none.
	EventMedia
	// EventQuality is a voice-quality alarm raised or cleared.
	EventQuality
	// EventAudio is a change of the agent's volumes or mute: an
	// AudioState.
	EventAudio
	// EventTransferred is the outcome of a transfer the agent made of
	// one of our calls (blind or attended): a TransferredEvent.
	EventTransferred
)

var eventTypeNames = []string{"unknown", "status", "registration", "devices", "call", "dtmf", "transfer", "media", "quality", "audio", "transferred"}

// String returns the event type's wire name.
func (t EventType) String() string {
	if t < 0 || int(t) >= len(eventTypeNames) {
		return eventTypeNames[0]
	}
	return eventTypeNames[t]
}

// ParseEventType parses an event type's wire name.
func ParseEventType(s string) (EventType, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range eventTypeNames {
		if i > 0 && n == s {
			return EventType(i), nil
		}
	}
	return EventUnknown, fmt.Errorf("%w: %q", ErrUnknownEvent, s)
}

// Kind returns the event's type, EventUnknown for a name this version
// does not know.
func (e Event) Kind() EventType {
	t, _ := ParseEventType(e.Type)
	return t
}
