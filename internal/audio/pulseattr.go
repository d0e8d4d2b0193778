package audio

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>

// PulseAudio's playback buffer, as miniaudio 0.11 asks for it: tlength
// one period and minreq left to the server, with PA_STREAM_ADJUST_LATENCY.
// The server then takes minreq = tlength/4 and sets the sink's latency to
// (tlength - 2*minreq)/2: for 20 ms periods a 5 ms sink and a request every
// 5 ms. The sound server mixes, and wakes our stream's thread, 200 times a
// second per call, which was most of the server's CPU in a call and a
// third of the phone's. miniaudio has no setting for it and malgo does not
// reach the stream, so the context's pa_stream_connect_playback (miniaudio
// calls libpulse through the pointers its context holds) is replaced by
// one that asks for minreq sp_minreq_us and a sink latency of
// sp_sink_us: tlength = 2*(sink + minreq), never less than miniaudio's.
//
// The pointer is found by value among the context's words, bounded by the
// context's allocation (miniaudio allocates it with malloc); the context
// is left unchanged when it is not there.

typedef struct {
	uint32_t maxlength, tlength, prebuf, minreq, fragsize;
} sp_pa_buffer_attr;

typedef struct {
	int format;
	uint32_t rate;
	uint8_t channels;
} sp_pa_sample_spec;

typedef int (*sp_connect_playback_fn)(void *s, const char *dev, const sp_pa_buffer_attr *attr, int flags, const void *volume, void *sync);
typedef const sp_pa_sample_spec *(*sp_get_sample_spec_fn)(void *s);
typedef size_t (*sp_frame_size_fn)(const sp_pa_sample_spec *ss);

static sp_connect_playback_fn sp_real_connect_playback;
static sp_get_sample_spec_fn sp_get_sample_spec;
static sp_frame_size_fn sp_frame_size;
static uint32_t sp_sink_us, sp_minreq_us;
// sp_last_tlength and sp_last_minreq are what the last stream asked for
// (bytes), for the tests.
static uint32_t sp_last_tlength, sp_last_minreq;

static int sp_connect_playback(void *s, const char *dev, const sp_pa_buffer_attr *attr, int flags, const void *volume, void *sync) {
	sp_connect_playback_fn connect = __atomic_load_n(&sp_real_connect_playback, __ATOMIC_ACQUIRE);
	if (attr == NULL) {
		return connect(s, dev, attr, flags, volume, sync);
	}
	sp_pa_buffer_attr a = *attr;
	const sp_pa_sample_spec *ss = __atomic_load_n(&sp_get_sample_spec, __ATOMIC_ACQUIRE)(s);
	size_t frame = ss != NULL ? __atomic_load_n(&sp_frame_size, __ATOMIC_ACQUIRE)(ss) : 0;
	uint64_t sink_us = __atomic_load_n(&sp_sink_us, __ATOMIC_RELAXED);
	uint64_t minreq_us = __atomic_load_n(&sp_minreq_us, __ATOMIC_RELAXED);
	if (frame > 0 && ss->rate > 0) {
		uint64_t per_ms = (uint64_t)ss->rate * frame; // bytes per 1000 ms
		uint32_t minreq = (uint32_t)(per_ms * minreq_us / 1000000 / frame * frame);
		uint32_t tlength = (uint32_t)(per_ms * 2 * (sink_us + minreq_us) / 1000000 / frame * frame);
		if (tlength > a.tlength) {
			a.tlength = tlength;
		}
		if (minreq > 0 && minreq <= a.tlength / 2) {
			a.minreq = minreq;
		}
		if (a.maxlength != (uint32_t)-1 && a.maxlength < a.tlength) {
			a.maxlength = a.tlength;
		}
	}
	__atomic_store_n(&sp_last_tlength, a.tlength, __ATOMIC_RELAXED);
	__atomic_store_n(&sp_last_minreq, a.minreq, __ATOMIC_RELAXED);
	return connect(s, dev, &a, flags, volume, sync);
}

static void sp_last_playback_attr(uint32_t *tlength, uint32_t *minreq) {
	*tlength = __atomic_load_n(&sp_last_tlength, __ATOMIC_RELAXED);
	*minreq = __atomic_load_n(&sp_last_minreq, __ATOMIC_RELAXED);
}

// sp_pulse_playback_attr puts sp_connect_playback in ctx, a PulseAudio
// ma_context just initialised. Returns 1 when it is in place.
static int sp_pulse_playback_attr(void *ctx, uint32_t sink_us, uint32_t minreq_us) {
	void *lib = dlopen("libpulse.so.0", RTLD_NOW | RTLD_NOLOAD);
	if (lib == NULL) {
		return 0;
	}
	void *connect = dlsym(lib, "pa_stream_connect_playback");
	void *spec = dlsym(lib, "pa_stream_get_sample_spec");
	void *frame = dlsym(lib, "pa_frame_size");
	dlclose(lib); // miniaudio's own handle keeps the library loaded
	if (connect == NULL || spec == NULL || frame == NULL) {
		return 0;
	}
	__atomic_store_n(&sp_real_connect_playback, (sp_connect_playback_fn)connect, __ATOMIC_RELEASE);
	__atomic_store_n(&sp_get_sample_spec, (sp_get_sample_spec_fn)spec, __ATOMIC_RELEASE);
	__atomic_store_n(&sp_frame_size, (sp_frame_size_fn)frame, __ATOMIC_RELEASE);
	// Every context stores the same values; the stores are atomic as
	// another context's stream may be connecting meanwhile.
	__atomic_store_n(&sp_sink_us, sink_us, __ATOMIC_RELAXED);
	__atomic_store_n(&sp_minreq_us, minreq_us, __ATOMIC_RELAXED);
	void **w = ctx;
	size_t n = malloc_usable_size(ctx) / sizeof(void *);
	for (size_t i = 0; i < n; i++) {
		if (w[i] == (void *)sp_connect_playback) {
			return 1;
		}
		if (w[i] == connect) {
			w[i] = (void *)sp_connect_playback;
			return 1;
		}
	}
	return 0;
}
*/
import "C"

import (
	"time"

	"github.com/gen2brain/malgo"
)

// Playback buffering asked of PulseAudio (see the C comment above): the
// sink's latency and the size of the server's requests. With 20 ms
// periods tlength is 60 ms (miniaudio's own: 20 ms with a 5 ms sink and
// 5 ms requests): the server mixes every 20 ms and asks for 10 ms at a
// time, where a 7.5 ms sink with 5 ms requests (tlength 25 ms) woke the
// server and our stream's thread twice to four times as often. That cost
// the phone and the server together 1.8 times baresip's CPU in a PCMU call
// against 1.1-1.2 now (BENCHMARKS.md, item 4); the receive path stays
// within its goal because the data callback takes the requests straight
// from the ring (malgostream.go, NoFixedSizedCallback), which took up to a
// period off it.
const (
	pulseSinkLatency = 20 * time.Millisecond
	pulseMinReq      = 10 * time.Millisecond
)

// tunePulsePlayback makes the playback streams of c, a PulseAudio context,
// ask the server for pulseSinkLatency and pulseMinReq. It reports whether
// it could.
func tunePulsePlayback(c *malgo.AllocatedContext) bool {
	p := maContext(c)
	if p == nil {
		return false
	}
	return C.sp_pulse_playback_attr(p, C.uint32_t(pulseSinkLatency/time.Microsecond), C.uint32_t(pulseMinReq/time.Microsecond)) == 1
}

// lastPlaybackAttr is the tlength and minreq (bytes) the last playback
// stream asked for.
func lastPlaybackAttr() (tlength, minreq uint32) {
	var t, m C.uint32_t
	C.sp_last_playback_attr(&t, &m)
	return uint32(t), uint32(m)
}
