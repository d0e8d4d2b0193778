package media

// G.722 sub-band ADPCM (ITU-T Recommendation G.722, 09/2012), 64 kbit/s
// mode (mode 1) only, which is the one RTP uses (RFC 3551 §4.5.2).
//
// It is written here in Go from the Recommendation rather than bound from a
// C library: the algorithm is small and fixed-point, no Go package for it
// is available to the project, and a cgo binding (spandsp) would add a
// system library to every build and installation for about 300 lines of
// arithmetic. The tests cross-check the bit stream against an independent
// implementation (ffmpeg) when one is installed.
//
// Signal path (§1.4):
//
//	16 kHz PCM ─► transmit QMF ─┬─► low band  (0-4 kHz)  ─► 6-bit ADPCM ─┐
//	                            └─► high band (4-8 kHz) ─► 2-bit ADPCM ─┴─► 8-bit code
//
// The decoder mirrors it with the receive QMF. Both bands share the same
// adaptive predictor (§3.6, block 4): a 2-pole/6-zero filter whose
// coefficients follow the sign of the reconstructed signals.
//
// Levels: 16-bit PCM goes into the QMF and the sub-band signals are kept in
// 15 bits, the level convention the widely deployed encoders use, so that
// streams decode at the same loudness on both ends.

// g722QMF holds the 24 QMF coefficients h(0)…h(23) of §3.1 Table 9,
// scaled by 2^13. They are symmetric: h(i) = h(23-i).
var g722QMF = [24]int32{
	3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876,
	3876, 951, -805, -210, 362, 32, -156, 12, 53, -11, -11, 3,
}

// Lower sub-band quantizer (§3.3, QUANTL): decision levels scaled by 2^12
// relative to the scale factor, and the 6-bit codes for a magnitude index
// (1…30) of a negative or positive difference.
var (
	g722Q6 = [31]int32{
		0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714,
		786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0,
	}
	g722ILNeg = [31]int32{
		0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
		18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
	}
	g722ILPos = [31]int32{
		0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
		46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32,
	}
)

// g722QM6 is the 6-bit inverse quantizer of the lower band (§3.3, INVQBL,
// mode 1), indexed by the 6-bit code.
var g722QM6 = [64]int32{
	-136, -136, -136, -136, -24808, -21904, -19008, -16704,
	-14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
	-7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
	-3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
	24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
	10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
	4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
	1688, 1360, 1040, 728, 432, 136, -432, -136,
}

// g722QM4 is the 4-bit inverse quantizer of the lower band (§3.3, INVQAL),
// indexed by the code's top four bits. The predictor and the scale factor
// only ever see this truncated difference, which keeps encoder and decoder
// in step whatever mode the decoder uses (embedded ADPCM).
var g722QM4 = [16]int32{
	0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
	20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
}

// Lower band scale factor adaptation (§3.5, LOGSCL): the log step for each
// 4-bit code, through the magnitude map RIL → IL4.
var (
	g722WL   = [8]int32{-60, -30, 58, 172, 334, 538, 1198, 3042}
	g722RL42 = [16]int32{0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0}
)

// g722ILB is the log-to-linear table of §3.5 (SCALEL/SCALEH):
// 2^(i/32) scaled by 2^11.
var g722ILB = [32]int32{
	2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383,
	2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
	2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371,
	3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
}

// Higher sub-band (§3.4): inverse quantizer, log steps and the code map.
var (
	g722QM2 = [4]int32{-7408, -1616, 7408, 1616}
	g722WH  = [3]int32{0, -214, 798}
	g722RH2 = [4]int32{2, 1, 2, 1}
)

// Scale factor limits (§3.5): the log scale factors stay in [0, 18432]
// (lower) and [0, 22528] (higher).
const (
	g722NBLMax = 18432
	g722NBHMax = 22528
)

// sat16 limits v to the 16-bit two's-complement range, as the
// Recommendation's LIMIT operations do.
func sat16(v int32) int32 {
	if v > 32767 {
		return 32767
	}
	if v < -32768 {
		return -32768
	}
	return v
}

// g722Band is the ADPCM state of one sub-band: the predictor of §3.6
// (block 4) and the log scale factor.
type g722Band struct {
	s  int32    // predicted signal
	sp int32    // pole part of the prediction
	sz int32    // zero part of the prediction
	r  [2]int32 // reconstructed signal r(k), r(k-1)
	a  [3]int32 // pole coefficients a1, a2 (index 0 unused)
	p  [2]int32 // partially reconstructed signal p(k), p(k-1)
	d  [6]int32 // quantized differences d(k)…d(k-5)
	b  [7]int32 // zero coefficients b1…b6 (index 0 unused)
	nb int32    // log scale factor (NBL/NBH)
	de int32    // linear scale factor (DETL/DETH)
}

// update runs block 4 of §3.6 with the quantized difference d: it
// reconstructs the signal, adapts the pole and zero coefficients and
// computes the next prediction.
func (b *g722Band) update(d int32) {
	// RECONS and PARREC.
	r0 := sat16(b.s + d)
	p0 := sat16(b.sz + d)

	// UPPOL2: second pole coefficient.
	// Until DELAYA below, b.p[0] holds p(k-1) and b.p[1] holds p(k-2).
	sg0, sg1, sg2 := p0>>15, b.p[0]>>15, b.p[1]>>15
	wd1 := sat16(b.a[1] << 2)
	wd2 := wd1
	if sg0 == sg1 {
		wd2 = -wd1
	}
	if wd2 > 32767 {
		wd2 = 32767
	}
	wd3 := int32(-128)
	if sg0 == sg2 {
		wd3 = 128
	}
	wd3 += wd2 >> 7
	wd3 += (b.a[2] * 32512) >> 15
	a2 := min(max(wd3, -12288), 12288)

	// UPPOL1: first pole coefficient, bounded by the new a2.
	wd1 = -192
	if sg0 == sg1 {
		wd1 = 192
	}
	a1 := sat16(wd1 + (b.a[1]*32640)>>15)
	lim := sat16(15360 - a2)
	a1 = min(max(a1, -lim), lim)

	// UPZERO: zero coefficients.
	step := int32(128)
	if d == 0 {
		step = 0
	}
	sgd := d >> 15
	var bp [7]int32
	for i := 1; i < 7; i++ {
		w := step
		if b.d[i-1]>>15 != sgd {
			w = -step
		}
		bp[i] = sat16(w + (b.b[i]*32640)>>15)
	}

	// DELAYA: shift the histories.
	copy(b.d[1:], b.d[:5])
	b.d[0] = d
	copy(b.b[1:], bp[1:])
	b.r[1], b.r[0] = b.r[0], r0
	b.p[1], b.p[0] = b.p[0], p0
	b.a[1], b.a[2] = a1, a2

	// FILTEP: pole part from r(k) and r(k-1).
	w1 := (b.a[1] * sat16(b.r[0]+b.r[0])) >> 15
	w2 := (b.a[2] * sat16(b.r[1]+b.r[1])) >> 15
	b.sp = sat16(w1 + w2)

	// FILTEZ: zero part from d(k)…d(k-5).
	var sz int32
	for i := 6; i > 0; i-- {
		sz += (b.b[i] * sat16(b.d[i-1]+b.d[i-1])) >> 15
	}
	b.sz = sat16(sz)

	// PREDIC.
	b.s = sat16(b.sp + b.sz)
}

// scaleLow adapts the lower band's scale factor to the 4-bit code ril
// (§3.5, LOGSCL and SCALEL).
func (b *g722Band) scaleLow(ril int32) {
	nb := (b.nb*127)>>7 + g722WL[g722RL42[ril]]
	b.nb = min(max(nb, 0), g722NBLMax)
	b.de = g722Scale(b.nb, 8)
}

// scaleHigh adapts the higher band's scale factor to the 2-bit code ih
// (§3.5, LOGSCH and SCALEH).
func (b *g722Band) scaleHigh(ih int32) {
	nb := (b.nb*127)>>7 + g722WH[g722RH2[ih]]
	b.nb = min(max(nb, 0), g722NBHMax)
	b.de = g722Scale(b.nb, 10)
}

// g722Scale turns a log scale factor into the linear one (SCALEL/SCALEH);
// shift is 8 for the lower band and 10 for the higher.
func g722Scale(nb int32, shift int32) int32 {
	mant := g722ILB[(nb>>6)&31]
	e := shift - nb>>11
	if e < 0 {
		return (mant << -e) << 2
	}
	return (mant >> e) << 2
}

// g722Reset puts both bands in the initial state of §3.7 (all zero except
// the scale factors DETL = 32 and DETH = 8).
func g722Reset(low, high *g722Band) {
	*low = g722Band{de: 32}
	*high = g722Band{de: 8}
}

// G722Encoder encodes 16 kHz 16-bit PCM to G.722 at 64 kbit/s: one byte
// per two samples. An odd sample at the end of a call is kept and encoded
// with the first sample of the next call. The zero value is not ready; use
// NewG722Encoder.
type G722Encoder struct {
	x       [24]int32 // QMF input history, x[0] newest
	low     g722Band
	high    g722Band
	pending int16
	odd     bool
}

// NewG722Encoder returns an encoder in the initial state.
func NewG722Encoder() *G722Encoder {
	e := &G722Encoder{}
	e.Reset()
	return e
}

// Reset returns the encoder to its initial state (§3.7).
func (e *G722Encoder) Reset() {
	*e = G722Encoder{}
	g722Reset(&e.low, &e.high)
}

// Encode appends the G.722 codes for pcm to dst and returns it.
func (e *G722Encoder) Encode(dst []byte, pcm []int16) []byte {
	i := 0
	if e.odd && len(pcm) > 0 {
		dst = append(dst, e.encodePair(e.pending, pcm[0]))
		e.odd = false
		i = 1
	}
	for ; i+1 < len(pcm); i += 2 {
		dst = append(dst, e.encodePair(pcm[i], pcm[i+1]))
	}
	if i < len(pcm) {
		e.pending, e.odd = pcm[i], true
	}
	return dst
}

// encodePair runs the transmit QMF on two input samples (§3.1) and codes
// the resulting sub-band samples.
func (e *G722Encoder) encodePair(s0, s1 int16) byte {
	copy(e.x[2:], e.x[:22])
	e.x[1], e.x[0] = int32(s0), int32(s1)
	// xA = Σ h(2i)·x(j-2i), xB = Σ h(2i+1)·x(j-2i-1).
	var xa, xb int32
	for i := 0; i < 24; i += 2 {
		xa += g722QMF[i] * e.x[i]
		xb += g722QMF[i+1] * e.x[i+1]
	}
	xl := (xa + xb) >> 14
	xh := (xa - xb) >> 14
	return byte(e.encodeHigh(xh)<<6 | e.encodeLow(xl))
}

// encodeLow codes one lower sub-band sample to 6 bits (§3.3).
func (e *G722Encoder) encodeLow(xl int32) int32 {
	b := &e.low
	el := sat16(xl - b.s)
	// QUANTL: magnitude in one's complement, then the decision levels.
	wd := el
	if el < 0 {
		wd = -(el + 1)
	}
	mil := int32(1)
	for ; mil < 30; mil++ {
		if wd < (g722Q6[mil]*b.de)>>12 {
			break
		}
	}
	il := g722ILPos[mil]
	if el < 0 {
		il = g722ILNeg[mil]
	}
	ril := il >> 2
	dl := (b.de * g722QM4[ril]) >> 15
	b.scaleLow(ril)
	b.update(dl)
	return il
}

// encodeHigh codes one higher sub-band sample to 2 bits (§3.4).
func (e *G722Encoder) encodeHigh(xh int32) int32 {
	b := &e.high
	eh := sat16(xh - b.s)
	wd := eh
	if eh < 0 {
		wd = -(eh + 1)
	}
	// QUANTH: one decision level, 564 scaled by 2^12.
	big := wd >= (564*b.de)>>12
	var ih int32
	switch {
	case eh < 0 && big:
		ih = 0
	case eh < 0:
		ih = 1
	case big:
		ih = 2
	default:
		ih = 3
	}
	dh := (b.de * g722QM2[ih]) >> 15
	b.scaleHigh(ih)
	b.update(dh)
	return ih
}

// G722Decoder decodes G.722 at 64 kbit/s to 16 kHz 16-bit PCM: two
// samples per byte. The zero value is not ready; use NewG722Decoder.
type G722Decoder struct {
	xd, xs [12]int32 // receive QMF histories, index 0 newest
	low    g722Band
	high   g722Band
}

// NewG722Decoder returns a decoder in the initial state.
func NewG722Decoder() *G722Decoder {
	d := &G722Decoder{}
	d.Reset()
	return d
}

// Reset returns the decoder to its initial state (§3.7).
func (d *G722Decoder) Reset() {
	*d = G722Decoder{}
	g722Reset(&d.low, &d.high)
}

// Decode appends the PCM samples of the G.722 codes in code to dst and
// returns it.
func (d *G722Decoder) Decode(dst []int16, code []byte) []int16 {
	for _, c := range code {
		rl := d.decodeLow(int32(c & 0x3F))
		rh := d.decodeHigh(int32(c >> 6))
		// Receive QMF (§4.4): xd = rL - rH, xs = rL + rH;
		// xout1 = Σ h(2i)·xd(j-i), xout2 = Σ h(2i+1)·xs(j-i).
		copy(d.xd[1:], d.xd[:11])
		copy(d.xs[1:], d.xs[:11])
		d.xd[0], d.xs[0] = rl-rh, rl+rh
		var o1, o2 int32
		for i := range 12 {
			o1 += g722QMF[2*i] * d.xd[i]
			o2 += g722QMF[2*i+1] * d.xs[i]
		}
		dst = append(dst, int16(sat16(o1>>11)), int16(sat16(o2>>11)))
	}
	return dst
}

// decodeLow reconstructs one lower sub-band sample from a 6-bit code
// (§4.2, mode 1).
func (d *G722Decoder) decodeLow(il int32) int32 {
	b := &d.low
	dl6 := (b.de * g722QM6[il]) >> 15
	rl := min(max(b.s+dl6, -16384), 16383)
	ril := il >> 2
	dl := (b.de * g722QM4[ril]) >> 15
	b.scaleLow(ril)
	b.update(dl)
	return rl
}

// decodeHigh reconstructs one higher sub-band sample from a 2-bit code
// (§4.3).
func (d *G722Decoder) decodeHigh(ih int32) int32 {
	b := &d.high
	dh := (b.de * g722QM2[ih]) >> 15
	rh := min(max(b.s+dh, -16384), 16383)
	b.scaleHigh(ih)
	b.update(dh)
	return rh
}

// g722Coder is the frameCoder half of G.722: an encoder and a decoder with
// separate state, so that the two directions may run at the same time.
type g722Coder struct {
	enc *G722Encoder
	dec *G722Decoder
}

func newG722Coder() g722Coder {
	return g722Coder{enc: NewG722Encoder(), dec: NewG722Decoder()}
}

func (c g722Coder) Encode(dst []byte, pcm []int16) []byte { return c.enc.Encode(dst, pcm) }

func (c g722Coder) Decode(dst []int16, payload []byte) []int16 { return c.dec.Decode(dst, payload) }
