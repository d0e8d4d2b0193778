package voice_test

import (
	"log"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/media"
	"github.com/softphone/softphone/internal/voice"
)

// A call's audio: the headset on both sides, a device switch when the
// agent picks another headset, and Close when the call ends (before the
// RTP session is closed).
func Example() {
	sys, err := audio.Open(audio.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sys.Close()
	var session *media.Session // the call's started RTP session
	headsetMic := audio.Device{ID: "jabra_evolve2_65_mic", Kind: audio.KindCapture}
	headset := audio.Device{ID: "jabra_evolve2_65", Kind: audio.KindPlayback}
	path, err := voice.Start(voice.Options{
		Devices: sys, Media: session, Input: &headsetMic, Output: &headset,
		OnDeviceLost: func(k audio.Kind, d audio.Device, err error) {
			log.Printf("%s device %s lost: %v", k, d.ID, err)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer path.Close()
	<-path.PlayZipTone() // auto-answered: tell the agent
	speaker := audio.Device{ID: "plantronics_bw3220", Kind: audio.KindPlayback}
	if err := path.SwitchDevices(nil, &speaker); err != nil {
		log.Print(err)
	}
}
