/* A C face for WebRTC's audio processing module (webrtc-audio-processing
 * 0.3, Debian's libwebrtc-audio-processing-dev), whose API is C++. */
#ifndef SOFTPHONE_APM_H
#define SOFTPHONE_APM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct apm apm;

/* apm_new makes a mono processor at rate (8000, 16000, 32000 or 48000)
 * with echo cancellation (delay-agnostic, extended filter, high
 * suppression), noise suppression (high) and adaptive digital gain
 * control each on or off. NULL when the module refuses. */
apm *apm_new(int rate, int aec, int ns, int agc);

/* apm_process processes one 10 ms frame of capture in place; reference is
 * the 10 ms the speaker played as that frame was picked up (ignored
 * without echo cancellation). Returns the module's error code, 0 for
 * none. */
int apm_process(apm *a, int16_t *capture, const int16_t *reference);

void apm_free(apm *a);

#ifdef __cplusplus
}
#endif

#endif
