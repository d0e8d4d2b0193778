package audio

/*
#include <stdint.h>
#include <string.h>
#include <time.h>

// What a stream shares with its device callback: the ring's storage and
// positions, and the counters. Allocated by Go (streamShared) and pinned
// while a device may call back.
typedef struct {
	int16_t *buf;
	uint64_t size;       // samples in buf
	uint64_t r, w;       // ring positions (samples); only grow
	uint64_t frames, callbacks, overruns, underruns, trimmed;
	int64_t first_ns;    // CLOCK_MONOTONIC of the first callback; 0 before
	int64_t last_ns;     // CLOCK_MONOTONIC of the last callback; 0 before
	uint64_t max_queued; // playback: samples kept at most; 0 = no bound
	uint32_t channels;
	uint32_t capture;
} sp_stream;

// The devices whose data callback is sp_data, with their streams.
#define SP_SLOTS 128
static void *sp_dev[SP_SLOTS];
static sp_stream *sp_st[SP_SLOTS];

static int64_t sp_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static sp_stream *sp_lookup(void *dev) {
	for (int i = 0; i < SP_SLOTS; i++) {
		if (__atomic_load_n(&sp_dev[i], __ATOMIC_ACQUIRE) == dev) {
			return sp_st[i];
		}
	}
	return NULL;
}

// sp_data is the device's data callback, on miniaudio's audio thread: the
// same copy into or out of the ring as streamCore.onCapture and
// onPlayback, without entering Go.
static void sp_data(void *dev, void *out, const void *in, uint32_t frames) {
	sp_stream *s = sp_lookup(dev);
	if (s == NULL) {
		return;
	}
	uint64_t n = (uint64_t)frames * s->channels;
	if (s->capture) {
		const int16_t *p = in;
		uint64_t w = s->w, r = __atomic_load_n(&s->r, __ATOMIC_ACQUIRE);
		uint64_t room = s->size - (w - r);
		uint64_t k = n < room ? n : room;
		for (uint64_t i = 0; i < k;) {
			uint64_t at = (w + i) % s->size, run = s->size - at;
			if (run > k - i) run = k - i;
			memcpy(s->buf + at, p + i, run * 2);
			i += run;
		}
		__atomic_store_n(&s->w, w + k, __ATOMIC_RELEASE);
		if (k < n) __atomic_add_fetch(&s->overruns, n - k, __ATOMIC_RELAXED);
	} else {
		int16_t *p = out;
		uint64_t r = s->r, w = __atomic_load_n(&s->w, __ATOMIC_ACQUIRE);
		uint64_t avail = w - r;
		if (s->max_queued > 0 && avail > n + s->max_queued) {
			uint64_t excess = avail - n - s->max_queued;
			r += excess;
			avail -= excess;
			__atomic_add_fetch(&s->trimmed, excess, __ATOMIC_RELAXED);
		}
		uint64_t k = n < avail ? n : avail;
		for (uint64_t i = 0; i < k;) {
			uint64_t at = (r + i) % s->size, run = s->size - at;
			if (run > k - i) run = k - i;
			memcpy(p + i, s->buf + at, run * 2);
			i += run;
		}
		if (k < n) {
			memset(p + k, 0, (n - k) * 2);
			__atomic_add_fetch(&s->underruns, n - k, __ATOMIC_RELAXED);
		}
		__atomic_store_n(&s->r, r + k, __ATOMIC_RELEASE);
	}
	int64_t now = sp_now();
	if (__atomic_add_fetch(&s->callbacks, 1, __ATOMIC_RELAXED) == 1) {
		__atomic_store_n(&s->first_ns, now, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&s->last_ns, now, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->frames, frames, __ATOMIC_RELEASE);
}

// malgo's stop callback (a Go function it exports to C).
extern void goStopCallback(void *dev);

// sp_install and sp_uninstall are called one at a time (installMu).
// sp_install makes sp_data the data callback of dev, a miniaudio device
// that malgo initialised but has not started, and registers s for it.
// miniaudio's ma_device starts with its context, type, rate and state,
// then the callbacks onData, onNotification and onStop: onStop is found
// by its value (malgo's goStopCallback) among the first fields, with no
// notification callback (malgo sets none) before it and the data
// callback before that. Returns 0 when the device is not laid out so
// (dev then keeps malgo's callback) or no slot is free.
static int sp_install(void *dev, sp_stream *s) {
	void **f = dev;
	int at = -1;
	for (int i = 2; i < 16; i++) {
		if (f[i] == (void *)goStopCallback) {
			if (f[i - 1] == NULL && f[i - 2] != NULL) {
				at = i - 2;
			}
			break;
		}
	}
	if (at < 0) {
		return 0;
	}
	for (int i = 0; i < SP_SLOTS; i++) {
		if (__atomic_load_n(&sp_dev[i], __ATOMIC_ACQUIRE) == NULL) {
			sp_st[i] = s;
			__atomic_store_n(&sp_dev[i], dev, __ATOMIC_RELEASE);
			f[at] = (void *)sp_data;
			return 1;
		}
	}
	return 0;
}

// sp_uninstall forgets dev once it calls back no more (uninitialised).
static void sp_uninstall(void *dev) {
	for (int i = 0; i < SP_SLOTS; i++) {
		if (__atomic_load_n(&sp_dev[i], __ATOMIC_ACQUIRE) == dev) {
			__atomic_store_n(&sp_dev[i], NULL, __ATOMIC_RELEASE);
		}
	}
}
*/
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// Why a C data callback: every call from miniaudio's audio thread into Go
// leaves a scheduler P in a syscall state when it returns, which the Go
// runtime's monitor thread then has to take back; with two devices per
// call calling back every 10 ms, that thread woke 3600-3900 times a
// second and was most of a call's CPU. The callback only copies into or
// out of the ring, which C does as well, and the Go side reads the ring
// at its own pace (streamCore.wait).

// streamShared is what a stream shares with its device callback.
type streamShared = C.sp_stream

// newShared makes the shared block of a stream with a ring of n samples.
func newShared(n int, channels int, capture bool, maxQueued int) (*streamShared, []int16) {
	buf := make([]int16, max(n, 1))
	s := &streamShared{size: C.uint64_t(len(buf)), channels: C.uint32_t(channels), max_queued: C.uint64_t(max(maxQueued, 0))}
	if capture {
		s.capture = 1
	}
	return s, buf
}

func u64(p *C.uint64_t) *uint64 { return (*uint64)(unsafe.Pointer(p)) }

var installMu sync.Mutex

// cDevice is a device whose data callback is sp_data.
type cDevice struct {
	raw    unsafe.Pointer
	pinner runtime.Pinner
}

// installCallback makes C's sp_data the data callback of dev (initialised
// by malgo, not started) for the stream's shared block s over buf. It
// returns nil when that cannot be done; the device then keeps malgo's
// callback into Go.
func installCallback(dev *malgo.Device, s *streamShared, buf []int16) *cDevice {
	// malgo.Device holds a pointer to its ma_device pointer (malgo
	// v0.11.24, the version go.mod pins; the integration tests check that
	// the callback is installed).
	pp := *(**unsafe.Pointer)(unsafe.Pointer(dev))
	if pp == nil || *pp == nil {
		return nil
	}
	d := &cDevice{raw: *pp}
	d.pinner.Pin(s)
	d.pinner.Pin(&buf[0])
	s.buf = (*C.int16_t)(unsafe.Pointer(&buf[0]))
	installMu.Lock()
	ok := C.sp_install(d.raw, s)
	installMu.Unlock()
	if ok == 0 {
		s.buf = nil
		d.pinner.Unpin()
		return nil
	}
	return d
}

// uninstall forgets the device: call it once the device is uninitialised.
func (d *cDevice) uninstall() {
	installMu.Lock()
	C.sp_uninstall(d.raw)
	installMu.Unlock()
	d.pinner.Unpin()
}

// firstFrameSince converts the C callback's first time into a duration
// since start (taken on the same monotonic clock by startClock).
func firstFrameSince(s *streamShared, start int64) time.Duration {
	ns := atomic.LoadInt64((*int64)(unsafe.Pointer(&s.first_ns)))
	if ns == 0 {
		return 0
	}
	return time.Duration(max(ns-start, 1))
}

// nextCallback is how long until the device's next callback is due (the
// last one's time plus a period), or false before the first one.
func nextCallback(s *streamShared, period time.Duration) (time.Duration, bool) {
	last := atomic.LoadInt64((*int64)(unsafe.Pointer(&s.last_ns)))
	if last == 0 {
		return 0, false
	}
	return time.Duration(last + int64(period) - monoNow()), true
}

// monoNow is CLOCK_MONOTONIC in ns, the clock of firstFrameSince.
func monoNow() int64 { return int64(C.sp_now()) }
