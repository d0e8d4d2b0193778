package audio

/*
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

// What a stream shares with its device side: the ring's positions and
// the counters. It holds no pointer: the ring's storage is passed next to
// it (sp_capture, sp_playback) or kept in the device table (sp_data).
typedef struct {
	uint64_t size;       // samples in the ring's storage
	uint64_t r, w;       // ring positions (samples); only grow
	uint64_t frames, callbacks, overruns, underruns, trimmed;
	int64_t first_ns;    // CLOCK_MONOTONIC of the first callback; 0 before
	int64_t last_ns;     // CLOCK_MONOTONIC of the last callback; 0 before
	uint64_t last_frames; // frames of the last callback
	uint64_t max_queued; // playback: samples kept at most; 0 = no bound
	uint32_t channels;
	uint32_t capture;
	uint32_t realtime;   // the device's thread runs SCHED_FIFO (set by sp_data)
} sp_stream;

static int64_t sp_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// sp_counted bumps the counters after one callback of frames.
static void sp_counted(sp_stream *s, uint32_t frames) {
	int64_t now = sp_now();
	if (__atomic_add_fetch(&s->callbacks, 1, __ATOMIC_RELAXED) == 1) {
		__atomic_store_n(&s->first_ns, now, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&s->last_frames, frames, __ATOMIC_RELAXED);
	__atomic_store_n(&s->last_ns, now, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->frames, frames, __ATOMIC_RELEASE);
}

// sp_ring_copy copies k samples between the ring's storage buf (size
// samples, from position pos on, wrapping) and p: into the ring when
// into is set, out of it otherwise.
static void sp_ring_copy(int16_t *buf, uint64_t size, uint64_t pos, int16_t *p, uint64_t k, int into) {
	for (uint64_t i = 0; i < k;) {
		uint64_t at = (pos + i) % size, run = size - at;
		if (run > k - i) run = k - i;
		if (into) {
			memcpy(buf + at, p + i, run * 2);
		} else {
			memcpy(p + i, buf + at, run * 2);
		}
		i += run;
	}
}

// sp_capture is the device side of a capture stream for one callback:
// n samples (frames * channels) from in go into the ring over buf; what
// does not fit is dropped and counted.
static void sp_capture(sp_stream *s, int16_t *buf, const int16_t *in, uint32_t frames) {
	uint64_t n = (uint64_t)frames * s->channels;
	uint64_t w = s->w, r = __atomic_load_n(&s->r, __ATOMIC_ACQUIRE);
	uint64_t room = s->size - (w - r);
	uint64_t k = n < room ? n : room;
	sp_ring_copy(buf, s->size, w, (int16_t *)in, k, 1);
	__atomic_store_n(&s->w, w + k, __ATOMIC_RELEASE);
	if (k < n) __atomic_add_fetch(&s->overruns, n - k, __ATOMIC_RELAXED);
	sp_counted(s, frames);
}

// sp_playback is the device side of a playback stream for one callback:
// out is filled from the ring over buf, after dropping what exceeds
// max_queued behind it; what the ring cannot give is silence, counted.
static void sp_playback(sp_stream *s, int16_t *buf, int16_t *out, uint32_t frames) {
	uint64_t n = (uint64_t)frames * s->channels;
	uint64_t r = s->r, w = __atomic_load_n(&s->w, __ATOMIC_ACQUIRE);
	uint64_t avail = w - r;
	if (s->max_queued > 0 && avail > n + s->max_queued) {
		uint64_t excess = avail - n - s->max_queued;
		r += excess;
		avail -= excess;
		__atomic_add_fetch(&s->trimmed, excess, __ATOMIC_RELAXED);
	}
	uint64_t k = n < avail ? n : avail;
	sp_ring_copy(buf, s->size, r, out, k, 0);
	if (k < n) {
		memset(out + k, 0, (n - k) * 2);
		__atomic_add_fetch(&s->underruns, n - k, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&s->r, r + k, __ATOMIC_RELEASE);
	sp_counted(s, frames);
}

// The devices whose data callback is sp_data, with their streams and the
// streams' ring storage.
#define SP_SLOTS 128
static void *sp_dev[SP_SLOTS];
static sp_stream *sp_st[SP_SLOTS];
static int16_t *sp_buf[SP_SLOTS];

// SP_RT_PRIORITY is the SCHED_FIFO priority a device's audio thread asks
// for at its first callback (realtimePriority); sp_thread_rt is what the
// calling thread got: 0 not asked yet, 1 real-time, -1 refused.
#define SP_RT_PRIORITY 3
static __thread int sp_thread_rt;

// sp_realtime makes the calling thread, a device's audio thread, real-time
// once, and says whether it is. Only ever called from sp_data: a Go
// thread must never be made real-time.
static int sp_realtime(void) {
	if (sp_thread_rt == 0) {
		struct sched_param p = {.sched_priority = SP_RT_PRIORITY};
		sp_thread_rt = sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &p) == 0 ? 1 : -1;
	}
	return sp_thread_rt > 0;
}

// sp_data is the device's data callback, on miniaudio's audio thread: it
// never enters Go.
static void sp_data(void *dev, void *out, const void *in, uint32_t frames) {
	for (int i = 0; i < SP_SLOTS; i++) {
		if (__atomic_load_n(&sp_dev[i], __ATOMIC_ACQUIRE) == dev) {
			sp_stream *s = sp_st[i];
			if (__atomic_load_n(&s->realtime, __ATOMIC_RELAXED) == 0 && sp_realtime()) {
				__atomic_store_n(&s->realtime, 1, __ATOMIC_RELAXED);
			}
			if (s->capture) {
				sp_capture(s, sp_buf[i], in, frames);
			} else {
				sp_playback(s, sp_buf[i], out, frames);
			}
			return;
		}
	}
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
static int sp_install(void *dev, sp_stream *s, int16_t *buf) {
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
			sp_buf[i] = buf;
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

// realtimePriority is the SCHED_FIFO priority of the devices' audio
// threads, below the sound servers' own (PulseAudio's 5, PipeWire's data
// thread higher still). The sound server gives a playback stream only
// what it has buffered to answer each request (pulseattr.go): an
// ordinary thread on a busy desktop misses that now and then, and the
// server then plays silence ("implicit underrun" in its log) that no
// counter of ours sees; the speaker's sound comes late from there on, which
// throws the echo canceller off. The thread only copies to and from the
// ring and waits in poll. Where the system refuses (an unprivileged user
// without RLIMIT_RTPRIO) the thread runs as an ordinary one;
// StreamStats.RealTime says which.
const realtimePriority = C.SP_RT_PRIORITY

// Why a C data callback: every call from miniaudio's audio thread into Go
// leaves a scheduler P in a syscall state when it returns, which the Go
// runtime's monitor thread then has to take back; with two devices per
// call calling back every 10 ms, that thread woke 3600-3900 times a
// second and was most of a call's CPU. The callback only copies into or
// out of the ring, which C does as well, and the Go side reads the ring
// at its own pace (streamCore.wait).

// streamShared is what a stream shares with its device callback.
type streamShared = C.sp_stream

// newShared makes the shared block of a stream and its ring of n samples
// over it.
func newShared(n int, channels int, capture bool, maxQueued int) (*streamShared, *ring) {
	buf := make([]int16, max(n, 1))
	s := &streamShared{size: C.uint64_t(len(buf)), channels: C.uint32_t(channels), max_queued: C.uint64_t(max(maxQueued, 0))}
	if capture {
		s.capture = 1
	}
	return s, newRingOn(buf, u64(&s.r), u64(&s.w))
}

// cbuf is the ring's storage as C sees it.
func cbuf(r *ring) *C.int16_t { return (*C.int16_t)(unsafe.Pointer(&r.buf[0])) }

// deviceCapture and devicePlayback are the device side of a stream for
// one callback in Go (the fake device): the same code as a C callback's.
func deviceCapture(s *streamShared, r *ring, in []int16, channels int) {
	C.sp_capture(s, cbuf(r), (*C.int16_t)(unsafe.Pointer(&in[0])), C.uint32_t(len(in)/channels))
}

func devicePlayback(s *streamShared, r *ring, out []int16, channels int) {
	C.sp_playback(s, cbuf(r), (*C.int16_t)(unsafe.Pointer(&out[0])), C.uint32_t(len(out)/channels))
}

// realtimeOf reports whether s's device thread got its real-time priority.
func realtimeOf(s *streamShared) bool {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&s.realtime))) != 0
}

func u64(p *C.uint64_t) *uint64 { return (*uint64)(unsafe.Pointer(p)) }

var installMu sync.Mutex

// cDevice is a device whose data callback is sp_data.
type cDevice struct {
	raw    unsafe.Pointer
	pinner runtime.Pinner
}

// installCallback makes C's sp_data the data callback of dev (initialised
// by malgo, not started) for the stream's shared block s and ring r. It
// returns nil when that cannot be done; the device then keeps malgo's
// callback into Go.
func installCallback(dev *malgo.Device, s *streamShared, r *ring) *cDevice {
	// malgo.Device holds a pointer to its ma_device pointer (malgo
	// v0.11.24, the version go.mod pins; the integration tests check that
	// the callback is installed).
	pp := *(**unsafe.Pointer)(unsafe.Pointer(dev))
	if pp == nil || *pp == nil {
		return nil
	}
	d := &cDevice{raw: *pp}
	d.pinner.Pin(s)
	d.pinner.Pin(&r.buf[0])
	installMu.Lock()
	ok := C.sp_install(d.raw, s, cbuf(r))
	installMu.Unlock()
	if ok == 0 {
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
// last one's time plus the time its frames last at rate), or false before
// the first one. A callback's size is the device's period or, for a
// playback stream called at the sound server's requests, the request's.
func nextCallback(s *streamShared, rate int) (time.Duration, bool) {
	last := atomic.LoadInt64((*int64)(unsafe.Pointer(&s.last_ns)))
	frames := atomic.LoadUint64(u64(&s.last_frames))
	if last == 0 || rate <= 0 {
		return 0, false
	}
	return time.Duration(last + int64(frames)*int64(time.Second)/int64(rate) - monoNow()), true
}

// monoNow is CLOCK_MONOTONIC in ns, the clock of firstFrameSince and of
// the C callbacks' times. It is read from Go's own monotonic clock (the
// same CLOCK_MONOTONIC, through the vDSO) set against one C reading at
// start: a cgo call on every wait of every stream, 100 a second in a
// call, wakes the runtime's monitor thread each time the process comes
// out of idle (see media's quietConn for the cost).
func monoNow() int64 { return monoBase.c + int64(time.Since(monoBase.t)) }

var monoBase = struct {
	c int64
	t time.Time
}{int64(C.sp_now()), time.Now()}

// cMonoNow is CLOCK_MONOTONIC read in C, for the test of monoNow.
func cMonoNow() int64 { return int64(C.sp_now()) }
