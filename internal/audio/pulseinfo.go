package audio

/*
#include <stddef.h>

// miniaudio 0.11 (malgo v0.11.24) ends ma_device_init by asking the backend
// for the device's name. On PulseAudio that is a sink or source lookup by
// name whose callback dereferences the info pointer without checking it;
// PulseAudio passes NULL when the device is gone by then ("no such
// entity"), so a headset unplugged at that moment crashed the process.
// miniaudio asks ma_backend_callbacks.onDeviceGetInfo first when the
// backend sets it; PulseAudio's does not, so we set one that declines,
// and miniaudio falls back to a generic name (which we never use).
//
// Layout (miniaudio.h, struct ma_context): the backend callbacks come
// first, 13 function pointers in this order: onContextInit,
// onContextUninit, onContextEnumerateDevices, onContextGetDeviceInfo,
// onDeviceInit, onDeviceUninit, onDeviceStart, onDeviceStop, onDeviceRead,
// onDeviceWrite, onDeviceDataLoop, onDeviceDataLoopWakeup, onDeviceGetInfo;
// then the ma_backend in use. The layout is checked before anything is
// written: the backend must read as PulseAudio, the context's device-info
// callback must be set and the device's must not be. pulseinfo_test.go
// checks this layout against the miniaudio.h of the malgo in go.mod, and
// that miniaudio calls the guard when a stream opens.
enum {
	sp_callback_count = 13,
	sp_on_context_get_device_info = 3,
	sp_on_device_get_info = 12,
	sp_backend_pulseaudio = 7,
	sp_ma_error = -1,
};

// sp_declined counts the lookups declined, so a test can tell that
// miniaudio called the guard where we put it.
static long sp_declined;

static int sp_device_info_declined(void* device, int type, void* info) {
	(void)device; (void)type; (void)info;
	__atomic_add_fetch(&sp_declined, 1, __ATOMIC_RELAXED);
	return sp_ma_error;
}

static long sp_declined_lookups(void) {
	return __atomic_load_n(&sp_declined, __ATOMIC_RELAXED);
}

// sp_pulse_device_info_guarded reports whether ctx carries the guard.
static int sp_pulse_device_info_guarded(void* ctx) {
	void** callbacks = (void**)ctx;
	return callbacks[sp_on_device_get_info] == (void*)sp_device_info_declined;
}

static int sp_guard_pulse_device_info(void* ctx) {
	void** callbacks = (void**)ctx;
	int backend = *(int*)((char*)ctx + sp_callback_count * sizeof(void*));
	if (backend != sp_backend_pulseaudio || callbacks[sp_on_context_get_device_info] == NULL) {
		return 0;
	}
	if (callbacks[sp_on_device_get_info] == (void*)sp_device_info_declined) {
		return 1;
	}
	if (callbacks[sp_on_device_get_info] != NULL) {
		return 0;
	}
	callbacks[sp_on_device_get_info] = (void*)sp_device_info_declined;
	return 1;
}
*/
import "C"

import (
	"unsafe"

	"github.com/gen2brain/malgo"
)

// guardPulseDeviceInfo keeps a PulseAudio context's device init from
// crashing when the device vanishes during it (see the C comment above).
// It reports whether the guard is in place; false means the context is not
// PulseAudio or its layout is not the one this was written for.
func guardPulseDeviceInfo(c *malgo.AllocatedContext) bool {
	if c == nil || maContext(c) == nil {
		return false
	}
	return C.sp_guard_pulse_device_info(maContext(c)) == 1
}

// guardLayout is the layout of struct ma_context the guard assumes: the
// number of backend callbacks at its start, the indexes of
// onContextGetDeviceInfo and onDeviceGetInfo among them, and the value of
// ma_backend_pulseaudio. A test checks it against malgo's miniaudio.h.
func guardLayout() (callbacks, contextGetDeviceInfo, deviceGetInfo, pulseBackend int) {
	return C.sp_callback_count, C.sp_on_context_get_device_info, C.sp_on_device_get_info, C.sp_backend_pulseaudio
}

// pulseDeviceInfoGuarded reports whether guardPulseDeviceInfo has put the
// guard on c.
func pulseDeviceInfoGuarded(c *malgo.AllocatedContext) bool {
	if c == nil || maContext(c) == nil {
		return false
	}
	return C.sp_pulse_device_info_guarded(maContext(c)) == 1
}

// declinedDeviceInfoLookups counts the device-name lookups the guard has
// declined in this process: one per direction of every device opened on a
// guarded context.
func declinedDeviceInfoLookups() int64 { return int64(C.sp_declined_lookups()) }

// maContext is the ma_context of c. malgo.Context holds only the address of its
// ma_context pointer and exports no accessor for it.
func maContext(c *malgo.AllocatedContext) unsafe.Pointer {
	if unsafe.Sizeof(c.Context) != unsafe.Sizeof(uintptr(0)) {
		return nil
	}
	p := *(**unsafe.Pointer)(unsafe.Pointer(&c.Context))
	if p == nil {
		return nil
	}
	return *p
}
