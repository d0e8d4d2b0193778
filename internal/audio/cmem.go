package audio

// #include <malloc.h>
// #include <stdlib.h>
import "C"

import "unsafe"

// freeC frees C memory from malloc, such as the copy malgo's
// DeviceID.Pointer makes (miniaudio copies the id during device init).
func freeC(p unsafe.Pointer) { C.free(p) }

// cHeapInUse is the C heap's allocated bytes (glibc's mallinfo2), which
// the tests use to catch C-side leaks.
func cHeapInUse() uint64 { return uint64(C.mallinfo2().uordblks) }
