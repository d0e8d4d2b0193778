package phone

import (
	"errors"
	"testing"
)

func TestEventTypeNames(t *testing.T) {
	// The wire names are a contract with every agent desktop: they never
	// change.
	want := map[EventType]string{
		EventStatus: "status", EventRegistration: "registration", EventDevices: "devices", EventCall: "call",
		EventDTMF: "dtmf", EventTransfer: "transfer", EventMedia: "media", EventQuality: "quality", EventAudio: "audio",
		EventTransferred: "transferred",
	}
	for typ, name := range want {
		if typ.String() != name {
			t.Errorf("%d.String() = %q, want %q", int(typ), typ.String(), name)
		}
		got, err := ParseEventType(" " + name + " ")
		if err != nil || got != typ {
			t.Errorf("ParseEventType(%q) = %v, %v", name, got, err)
		}
		if (Event{Type: name}).Kind() != typ {
			t.Errorf("Kind of %q", name)
		}
	}
	if len(want) != len(eventTypeNames)-1 {
		t.Errorf("%d names tested, %d defined", len(want), len(eventTypeNames)-1)
	}
	for _, bad := range []string{"", "unknown", "calls"} {
		if _, err := ParseEventType(bad); !errors.Is(err, ErrUnknownEvent) {
			t.Errorf("ParseEventType(%q): %v, want ErrUnknownEvent", bad, err)
		}
	}
	if EventType(-1).String() != "unknown" || EventType(99).String() != "unknown" {
		t.Error("a type outside the enum is not unknown")
	}
}
