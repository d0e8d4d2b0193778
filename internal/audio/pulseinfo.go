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
// callback must be set and the device's must not be.
enum {
	sp_callback_count = 13,
	sp_on_context_get_device_info = 3,
	sp_on_device_get_info = 12,
	sp_backend_pulseaudio = 7,
	sp_ma_error = -1,
};

static int sp_device_info_declined(void* device, int type, void* info) {
	(void)device; (void)type; (void)info;
	return sp_ma_error;
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
