package main

import (
	"testing"

	"github.com/softphone/softphone/internal/testbed"
)

// TestCallAudioBothWaysOnPipeWire is TestCallAudioBothWays on PipeWire for
// a narrowband and a wideband codec (PCMU plain, Opus over SRTP): baresip's
// 440 Hz tone comes out of our headset, our microphone's 1 kHz tone
// reaches baresip. The other codecs take the same device path.
func TestCallAudioBothWaysOnPipeWire(t *testing.T) {
	for _, c := range []struct {
		name, codec string
		srtp        bool
	}{{"PCMU", "PCMU", false}, {"opus+SRTP", "opus", true}} {
		t.Run(c.name, func(t *testing.T) { testCallAudio(t, testbed.PipeWire, c.codec, c.srtp) })
	}
}
