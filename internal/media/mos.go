package media

import (
	"strings"
	"time"
)

// Call quality estimate with the E-model (ITU-T G.107), simplified as is
// usual for VoIP monitoring: all parameters at their G.107 defaults except
// delay and equipment (codec and loss) impairment.
//
//	R = R0 − Is − Id − Ie,eff + A,  with R0 − Is = 93.2 (G.107 defaults), A = 0
//	Id = 0.024·Ta + 0.11·(Ta − 177.3)·H(Ta − 177.3)        (Cole & Rosenbluth's fit of G.107's Idd, Idte and Idle)
//	Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl/BurstR + Bpl)     (G.107 §7.6.1, BurstR = 1: random loss)
//	MOS = 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶          (G.107 Annex B, 0 < R < 100)

// rDefault is R0 − Is with G.107's default parameters.
const rDefault = 93.2

// Impairment describes a codec for the E-model.
type Impairment struct {
	// Ie is the equipment impairment factor of the codec without loss.
	Ie float64
	// Bpl is the packet-loss robustness factor.
	Bpl float64
}

// CodecImpairment returns the E-model values for a codec name and whether
// the receiver conceals loss.
//
// G.711: ITU-T G.113 Appendix I: Ie = 0, Bpl = 4.3 without loss
// concealment and 25.1 with G.711 Appendix I concealment. Our G.711 and
// G.722 decoders conceal by pitch repetition in the spirit of G.711
// Appendix I, so plc=true applies to them.
//
// G.722 at 64 kbit/s: the narrowband E-model cannot credit its wider band
// (G.107.1 does that on a 129-point scale), so it is scored like G.711:
// Ie = 0 and the same Bpl. This slightly understates its quality.
//
// Opus: not in G.113. We use Ie = 0 (at the bit rates a softphone uses
// Opus is at least as good as G.711) and Bpl = 25.1, its built-in
// concealment being at least as robust as G.711 Appendix I. These are
// estimates of ours, not ITU values.
func CodecImpairment(name string, plc bool) Impairment {
	bpl := 4.3
	if plc {
		bpl = 25.1
	}
	switch strings.ToLower(name) {
	case "opus":
		return Impairment{Ie: 0, Bpl: 25.1}
	default: // PCMU, PCMA, G722
		return Impairment{Ie: 0, Bpl: bpl}
	}
}

// RFactor computes the E-model rating R from the one-way mouth-to-ear
// delay and the packet loss percentage (0-100) for a codec.
func RFactor(delay time.Duration, lossPercent float64, imp Impairment) float64 {
	ta := float64(delay) / float64(time.Millisecond)
	if ta < 0 {
		ta = 0
	}
	id := 0.024 * ta
	if ta > 177.3 {
		id += 0.11 * (ta - 177.3)
	}
	ppl := min(max(lossPercent, 0), 100)
	ie := imp.Ie
	if ppl > 0 {
		ie += (95 - imp.Ie) * ppl / (ppl + imp.Bpl)
	}
	return rDefault - id - ie
}

// MOSFromR converts an R rating to an estimated mean opinion score, 1-4.5
// (G.107 Annex B).
func MOSFromR(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	default:
		return 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
	}
}
