package audio

// #include <stdlib.h>
import "C"

import "unsafe"

// freeC frees C memory from malloc, such as the copy malgo's
// DeviceID.Pointer makes (miniaudio copies the id during device init).
func freeC(p unsafe.Pointer) { C.free(p) }
