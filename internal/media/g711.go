package media

import "math/bits"

// G.711 companding (ITU-T Recommendation G.711, 11/1988), on 16-bit linear
// PCM. The Recommendation states its tables for 14-bit (µ-law) and 13-bit
// (A-law) linear values; the 16-bit values here are those scaled by 4 and 8.

const (
	mulawBias = 0x84 // 132: the µ-law bias (33 in 14-bit units) scaled by 4
	mulawClip = 32635
)

// EncodeMulaw compresses one 16-bit linear sample to a G.711 µ-law code
// (G.711 Table 2a: segment, 4-bit step, sign; all bits inverted).
func EncodeMulaw(s int16) byte {
	v := int32(s)
	sign := byte(0)
	if v < 0 {
		v = -v
		sign = 0x80
	}
	if v > mulawClip {
		v = mulawClip
	}
	v += mulawBias
	// v is in [132, 32767]: its top set bit is bit 7 (segment 0) … bit 14
	// (segment 7).
	seg := bits.Len32(uint32(v)) - 8
	mant := byte(v>>(seg+3)) & 0x0F
	return ^(sign | byte(seg)<<4 | mant)
}

// DecodeMulaw expands a G.711 µ-law code to a 16-bit linear sample.
func DecodeMulaw(code byte) int16 {
	u := ^code
	t := (int32(u&0x0F) << 3) + mulawBias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(mulawBias - t)
	}
	return int16(t - mulawBias)
}

// EncodeAlaw compresses one 16-bit linear sample to a G.711 A-law code
// (G.711 Table 1a; even bits inverted, i.e. XOR 0x55).
func EncodeAlaw(s int16) byte {
	v := int32(s) >> 3 // 13-bit
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	// v is in [0, 4095]. Segment 0 covers [0, 32); segment k ≥ 1 covers
	// [2^(k+4), 2^(k+5)).
	seg := 0
	if v >= 32 {
		seg = bits.Len32(uint32(v)) - 5
	}
	var mant int32
	if seg == 0 {
		mant = v >> 1
	} else {
		mant = (v >> seg) & 0x0F
	}
	return (byte(seg)<<4 | byte(mant)) ^ mask
}

// DecodeAlaw expands a G.711 A-law code to a 16-bit linear sample.
func DecodeAlaw(code byte) int16 {
	a := code ^ 0x55
	t := int32(a&0x0F) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}
