package audio

import (
	"os"
	"sync"
)

// StreamProperties are the PulseAudio properties every stream of the
// daemon carries (on PipeWire too, through pipewire-pulse): media.role
// "phone" is what PulseAudio's module-role-cork and module-role-ducking,
// module-switch-on-connect's Bluetooth profile switching and WirePlumber's
// role policies (headset profile, ducking of music) key on, as they do
// for other phones; the application's name and icon name it in the
// desktop's volume controls.
const StreamProperties = `media.role="phone" application.name="Softphone" ` +
	`application.id="softphone" application.icon_name="call-start"`

var streamPropsOnce sync.Once

// tagStreams makes every PulseAudio context the process opens from now on
// carry StreamProperties. It runs once, before the first context.
//
// Why the environment: miniaudio creates its PulseAudio contexts and
// streams itself with pa_context_new and pa_stream_new, without a
// property list, and malgo exposes only the application name (which it
// keeps in C memory of the caller's) and the stream names. libpulse reads
// PULSE_PROP (pa_proplist_from_string syntax) into every new context's
// property list, and the server copies a client's properties into each of
// its streams, so setting it once, before the first context, tags every
// stream. An administrator's own PULSE_PROP comes after ours and so wins
// key by key (a later key replaces an earlier one).
func tagStreams() {
	streamPropsOnce.Do(func() {
		v := StreamProperties
		if own := os.Getenv("PULSE_PROP"); own != "" {
			v += " " + own
		}
		// With cgo, os.Setenv also sets the C environment libpulse reads.
		_ = os.Setenv("PULSE_PROP", v)
	})
}
