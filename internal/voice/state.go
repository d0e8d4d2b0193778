package voice

import "fmt"

// DeviceState tells what one side of a Path runs on.
type DeviceState int

// Device states. The zero value is DeviceUnknown.
const (
	// DeviceUnknown is the zero value: no state was set.
	DeviceUnknown DeviceState = iota
	// DeviceOpen: a device stream is open and in use.
	DeviceOpen
	// DeviceNone: no device was given; the side runs without one (the
	// send side sends silence, the receive side drops the audio).
	DeviceNone
	// DeviceLost: the device was lost; the side runs without one until
	// SwitchDevices brings a new one.
	DeviceLost
)

// String returns "open", "none", "lost" or "unknown".
func (s DeviceState) String() string {
	switch s {
	case DeviceOpen:
		return "open"
	case DeviceNone:
		return "none"
	case DeviceLost:
		return "lost"
	default:
		return "unknown"
	}
}

// ParseDeviceState is the inverse of DeviceState.String for the known
// states.
func ParseDeviceState(s string) (DeviceState, error) {
	switch s {
	case "open":
		return DeviceOpen, nil
	case "none":
		return DeviceNone, nil
	case "lost":
		return DeviceLost, nil
	default:
		return DeviceUnknown, fmt.Errorf("voice: unknown device state %q", s)
	}
}
