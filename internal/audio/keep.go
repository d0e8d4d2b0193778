package audio

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// sp_keep_library loads name for the rest of the process's life
// (RTLD_NODELETE; the handle is never closed): later dlopen and dlclose
// calls of the same library (miniaudio's contexts, the server probe) only
// move its reference count, and neither it nor the libraries it brings
// are ever unmapped. Returns NULL when loaded, else dlerror's text (read
// in the same call: it is the calling thread's).
static const char *sp_keep_library(const char *name) {
	if (dlopen(name, RTLD_NOW | RTLD_NODELETE) != NULL) {
		return NULL;
	}
	const char *e = dlerror();
	return e != NULL ? e : "dlopen failed";
}

// sp_load_and_unload loads name and unloads it, as a context's life does.
static void sp_load_and_unload(const char *name) {
	void *h = dlopen(name, RTLD_NOW);
	if (h != NULL) {
		dlclose(h);
	}
}

// sp_library_loaded reports whether name is loaded now, without loading it.
static int sp_library_loaded(const char *name) {
	void *h = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
	if (h == NULL) {
		return 0;
	}
	dlclose(h);
	return 1;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// The client libraries miniaudio loads for each backend.
const (
	libPulse = "libpulse.so.0"
	libALSA  = "libasound.so.2"
)

// KeepClientLibrary loads the client library of the sound system backend
// names (Options.Backend: libpulse for "auto" and "pulseaudio", libasound
// for "alsa", none for "null") and keeps it, with the libraries it
// brings, loaded until the process exits. miniaudio loads the library
// with each context and unloads it with the last one, and the device
// lister's probe does the same every few seconds while no sound server
// answers; with the library kept, those are reference counts only: no
// relinking, and the library's mappings stay the same for the process's
// life, which the daemon's memory trimmer relies on (cmd/softphone).
//
// It returns the library's name, "" for the null backend. A library that
// cannot be loaded is an error the caller may ignore: the backend will
// fail the same way when opened.
func KeepClientLibrary(backendName string) (string, error) {
	b, err := parseBackend(backendName)
	if err != nil {
		return "", err
	}
	var name string
	switch b {
	case backendAuto, backendPulse:
		name = libPulse
	case backendALSA:
		name = libALSA
	default:
		return "", nil
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	if e := C.sp_keep_library(cs); e != nil {
		return name, fmt.Errorf("audio: cannot load %s: %s", name, C.GoString(e))
	}
	return name, nil
}

// libraryLoaded reports whether the shared library name is loaded.
func libraryLoaded(name string) bool {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.sp_library_loaded(cs) == 1
}

// loadAndUnload loads and unloads the shared library name, as the life
// of a miniaudio context does.
func loadAndUnload(name string) {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	C.sp_load_and_unload(cs)
}
