package voice

import (
	"fmt"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/dsp"
)

// The voice processing stage (package dsp) sits on the capture path, fed
// with what the receive side hands to the playback device:
//
//	capture device ─► ring ─► dsp.Capture ─► gain / mute ─► resample ─► ...
//	                            ▲ reference
//	playback device ◄─ ring ◄───┴─ (priming silence, received frames)
//
// It runs at the device rate in 10 ms frames, within the packet time the
// send side already reads, so it adds no buffering. A device switch or a
// lost device (Path.swap) resets it: a new device pair is a new echo path.
// With every part off it is not built and the path runs as before.

// newProcessing builds the stage of o.Processing, or returns nil when all
// of it is off.
func newProcessing(o Options) (*dsp.Processor, error) {
	if !o.Processing.Any() {
		return nil, nil
	}
	dp, err := dsp.New(dsp.Options{Settings: o.Processing, Rate: o.DeviceRate})
	if err != nil {
		return nil, fmt.Errorf("voice: processing: %w", err)
	}
	return dp, nil
}

// alignProcessing tells the stage where the speaker was when the frame
// just read (n samples, from the capture stream cs of generation gen) was
// captured, from the two devices' counters read now: the playback
// device's place in what it was handed (what it took from its queue plus
// what it dropped from it, less the silence it played on underruns), less
// what the capture device has picked up since the frame's first sample.
// Device counters, not the time the path's goroutines run at, so the
// reference stays aligned with the echo although both sides move in
// bursts.
func (p *Path) alignProcessing(s *sender, cs audio.CaptureStream, gen uint64, n int) {
	if p.dsp == nil || !p.opts.Processing.EchoCancellation {
		return
	}
	if s.readGen != gen {
		s.read, s.readGen = 0, gen
	}
	s.read += uint64(n)
	st, _ := p.current(&p.out)
	ps, ok := st.(audio.PlaybackStream)
	if !ok || ps == nil {
		return
	}
	pst := ps.Stats()
	played := pst.Frames*uint64(ps.Config().Channels) + pst.Trimmed - min(pst.Underruns, pst.Frames)
	cst := cs.Stats()
	kept := cst.Frames - min(cst.Overruns, cst.Frames) // mono: frames are samples
	since := kept - min(s.read-uint64(n), kept)
	if since > played {
		return
	}
	p.dsp.Playing(played - since)
}
