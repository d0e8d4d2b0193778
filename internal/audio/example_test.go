package audio_test

import (
	"fmt"

	"github.com/softphone/softphone/internal/audio"
)

// Forcing the null backend gives a System that works on any machine; its
// snapshots say plainly that there are no real devices.
func ExampleOpen() {
	sys, err := audio.Open(audio.Options{Backend: "null"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sys.Close()
	snap, err := sys.Snapshot()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(snap.Backend, snap.Null)
	for _, d := range snap.Playback {
		fmt.Printf("%s %q default=%v\n", d.Kind, d.Name, d.Default)
	}
	// Output:
	// null true
	// playback "NULL Playback Device" default=true
}
