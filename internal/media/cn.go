package media

import (
	"math"
	"math/rand/v2"
	"time"
)

// Comfort noise (RFC 3389).
//
// What we send: a muted microphone still sends RTP, so that a peer's (or a
// gateway's) RTP timeout does not end the call of an agent who stays muted.
// When the peer agreed CN for the codec's clock (PCMU, PCMA and G.722 run
// an 8 kHz RTP clock, so CN/8000, static payload type 13), the session
// sends a SID packet when the mute starts and repeats it every
// ComfortNoiseInterval; otherwise (Opus, or a peer without CN) it sends the
// codec's encoding of digital silence every packet time. SIDs cost a tenth
// of the packets (5 instead of 50 a second); repeating them instead of
// sending one per noise change (RFC 3389 §4 allows either) keeps RTP
// arriving well within any media timeout, including peers that count only
// RTP, and lets a peer that joins the stream late (a re-INVITE, a media
// relay's new leg) learn the level at once.
//
// What we receive: a SID is never handed to the speech decoder. It counts
// as RTP for the statistics and the media timeout, ends the talkspurt
// playing (no loss concealment stretching the last word into the pause)
// and sets the level of the noise played until the next audio packet:
// white noise at the SID's level. The optional spectral coefficients are
// ignored (RFC 3389 §3 lets a decoder drop them).

// ComfortNoiseInterval is how often a SID is repeated while the
// microphone is muted.
const ComfortNoiseInterval = 200 * time.Millisecond

// ptCN is CN's static payload type at 8 kHz (RFC 3551 §6, RFC 3389 §5).
const ptCN uint8 = 13

// codecCN is CN's key among the codec specs.
const codecCN = "cn"

// cnSpec is the CN format we offer: only at 8 kHz, the clock of the codecs
// without comfort noise of their own (RFC 3389 §1); Opus has its own DTX.
var cnSpec = codecSpec{key: codecCN, name: "CN", pt: ptCN, static: true, clock: 8000, sampleRate: 8000}

// NoiseLevelSilence is the SID level of digital silence: -127 dBov, the
// lowest the payload carries (RFC 3389 §3.1).
const NoiseLevelSilence uint8 = 127

// NoiseLevel returns the level of samples as a SID noise level: the
// magnitude of their RMS in dBov (0 to 127 meaning 0 to -127 dBov,
// RFC 3389 §3.1), taking the RMS of a full-scale square wave (32768) as
// 0 dBov.
func NoiseLevel(samples []int16) uint8 {
	if len(samples) == 0 {
		return NoiseLevelSilence
	}
	var sum float64
	for _, v := range samples {
		sum += float64(v) * float64(v)
	}
	rms := math.Sqrt(sum / float64(len(samples)))
	if rms < 1 {
		return NoiseLevelSilence
	}
	db := -20 * math.Log10(rms/32768)
	return uint8(min(max(math.Round(db), 0), float64(NoiseLevelSilence)))
}

// noiseGen makes the comfort noise played for a received SID: white noise
// whose RMS is the SID's level.
type noiseGen struct {
	rng *rand.Rand
}

func newNoiseGen() noiseGen {
	return noiseGen{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// fill appends n samples of noise at level (-dBov) to dst.
func (g noiseGen) fill(dst []int16, n int, level uint8) []int16 {
	if level >= NoiseLevelSilence {
		for range n {
			dst = append(dst, 0)
		}
		return dst
	}
	// A uniform distribution over [-a, a] has an RMS of a/√3.
	a := 32768 * math.Pow(10, -float64(level)/20) * math.Sqrt(3)
	a = min(a, 32767)
	for range n {
		dst = append(dst, int16((g.rng.Float64()*2-1)*a))
	}
	return dst
}
