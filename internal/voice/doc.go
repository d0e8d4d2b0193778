// Package voice is the audio path of one call: it moves the agent's voice
// from a capture device into the call's RTP session, and the caller's voice
// from the session to a playback device. It also makes the phone's own
// tones: the ringer, the zip tone played at auto-answer and in-band DTMF.
//
//	capture device ─► ring buffer ─► (dsp) ─► gain / mute ─► resample ─► (DTMF) ─► Media.WriteFrame ─► RTP
//	                                   ▲ reference
//	playback device ◄─ ring buffer ◄─ ─┴─ gain ◄─ (zip tone) ◄─ resample ◄─ Media.ReadFrame ◄─ jitter/PLC ◄─ RTP
//
// (dsp) is the voice processing stage (echo cancellation, noise
// suppression, gain control: Options.Processing, processing.go).
//
// The ring buffers belong to the audio package's streams; jitter buffering,
// loss concealment and the codecs belong to the media package's Session.
// A Path owns one goroutine, started by Start and stopped and joined by
// Close, paced by the session's playout clock (Media.ReadFrame, one frame
// per packet time). At every tick it:
//
//   - sends: reads every whole packet time (Negotiated.PTime) of samples
//     at the device rate the capture stream holds, converts them to the
//     codec's rate and hands each frame to Media.WriteFrame (without a
//     microphone, one frame of silence per packet time);
//   - receives: converts the frame ReadFrame returned to the device rate
//     and writes it to the playback stream, waiting at most a packet time
//     for room, so a speaker that takes nothing never stops the sending.
//
// Codec rate, channels and frame size are read from Media.Negotiated for
// every frame, so a re-INVITE that changes the codec or the packet time
// (media.Session.Update) is followed without restarting the path.
//
// # Mute and hold
//
// A muted microphone's audio is never sent, but the call keeps sending
// RTP: a peer or a gateway with an RTP timeout (30 s is common, and this
// daemon's own default) would otherwise end the call of an agent who
// stays muted. Where the peer agreed comfort noise (RFC 3389, CN/8000 with
// PCMU, PCMA or G.722) the session sends a SID every 200 ms carrying the
// microphone's noise floor from before the mute (the quietest frame of
// the last one to two seconds), so the caller hears the agent's room
// instead of a line gone dead; otherwise, as with Opus, encoded digital
// silence goes out every packet time (media.Session.WriteMuted). A held
// path sends no RTP and plays nothing; the session's RTCP reports go on
// both ways (RFC 3550 §6).
//
// # No device, lost devices and switching
//
// A Path runs without a capture or playback device (Options.Input or
// Options.Output nil), and goes on when a device is lost (its stream's
// Lost channel closes, as when a headset is unplugged): the send side then
// paces itself with a timer and sends silence, so the peer keeps getting
// RTP and the call stays up; the receive side drops what it decodes. Stats
// says which side runs on a device (DeviceOpen), on none (DeviceNone) or
// after a loss (DeviceLost), and Options.OnDeviceLost reports each loss.
//
// SwitchDevices opens the new streams first and then swaps them in between
// two frames; the old streams are closed off the audio path. The SIP dialog
// and the RTP session are never touched. The audio gap of each switch (last
// frame handed to the old device to first frame handed to the new one) is
// kept in Stats.
//
// # Tones
//
// The ringer plays a cadence (DefaultCadence: 425 Hz, 1 s on, 4 s off, the
// ringing tone of ITU-T E.180 Supplement 2 for most of Europe) on one or
// more playback devices until stopped. The zip tone is two 60 ms beeps of
// 1 kHz, 60 ms apart, played on the path's output in place of the caller's
// audio. It starts once the playback device consumes frames (its frame
// counter moves and the queue is within the latency bound), so neither a
// device's start-up stall nor the backlog the bound drops after it cuts
// the tone: a fresh PulseAudio null sink stalls after its first period,
// and a tone written at once lost most of its first beep there; waiting,
// it plays whole.
// In-band DTMF sends the ITU-T Q.23 frequency pairs, 100 ms of tone
// and 60 ms of silence per digit, in place of the microphone's audio.
//
// # Playback priming
//
// A new playback stream gets one packet time of silence queued before the
// first frame, and another after every underrun, so the small phase jitter
// between the session's playout clock and the device's clock costs one
// short gap instead of many; what waits for the device is bounded
// (Options.PlaybackLatency, one packet time by default: the device drops
// the older samples), so this cannot build up latency.
//
// # Latency and measurements
//
// Options.OnSent and Options.OnPlayed report, per frame, when the frame
// left the capture device's ring buffer and when it was handed to the
// session, and when a frame was decoded and when it was handed to the
// playback device's ring buffer. Benchmarks build their latency figures
// from them. The switch gap is measured at the same hand-offs: frames are
// handed over once per packet time, so a gap of one packet time means no
// frame was lost at the switch (the device's own start-up is not in it).
//
// BenchmarkPathCPU, BenchmarkFrameProcessing, BenchmarkSwitchGap and
// BenchmarkMouthToEar (bench_test.go) measure these; their figures are in
// BENCHMARKS.md.
package voice
