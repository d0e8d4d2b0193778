// The C face of WebRTC's audio processing module: see apm.h.

#include "apm.h"

#include <webrtc/modules/audio_processing/include/audio_processing.h>

// The float interface: the module's int16 one (AudioFrame) refuses 48 kHz.
struct apm {
	webrtc::AudioProcessing *ap;
	webrtc::StreamConfig config;
	size_t n;
	float capture[480];
	float reference[480];
	bool aec;
};

static void to_float(float *dst, const int16_t *src, size_t n) {
	for (size_t i = 0; i < n; i++) {
		dst[i] = src[i] / 32768.0f;
	}
}

static void to_int16(int16_t *dst, const float *src, size_t n) {
	for (size_t i = 0; i < n; i++) {
		float v = src[i] * 32768.0f;
		dst[i] = v >= 32767.0f ? 32767 : v <= -32768.0f ? -32768 : (int16_t)v;
	}
}

extern "C" apm *apm_new(int rate, int aec, int ns, int agc) {
	if (rate != 8000 && rate != 16000 && rate != 32000 && rate != 48000) {
		return nullptr;
	}
	webrtc::Config config;
	// The reference handed to the module is already aligned on the
	// speaker's place; what is left of the delay (the room, the devices'
	// buffering) is estimated by the module, with the longer filter.
	config.Set<webrtc::ExtendedFilter>(new webrtc::ExtendedFilter(true));
	config.Set<webrtc::DelayAgnostic>(new webrtc::DelayAgnostic(true));
	webrtc::AudioProcessing *ap = webrtc::AudioProcessing::Create(config);
	if (ap == nullptr) {
		return nullptr;
	}
	apm *a = new apm;
	a->ap = ap;
	a->aec = aec != 0;
	a->config = webrtc::StreamConfig(rate, 1);
	a->n = rate / 100;
	ap->high_pass_filter()->Enable(true);
	if (aec) {
		ap->echo_cancellation()->enable_drift_compensation(false);
		ap->echo_cancellation()->set_suppression_level(webrtc::EchoCancellation::kLowSuppression);
		ap->echo_cancellation()->Enable(true);
	}
	if (ns) {
		ap->noise_suppression()->set_level(webrtc::NoiseSuppression::kHigh);
		ap->noise_suppression()->Enable(true);
	}
	if (agc) {
		ap->gain_control()->set_mode(webrtc::GainControl::kAdaptiveDigital);
		ap->gain_control()->set_target_level_dbfs(12);
		ap->gain_control()->set_compression_gain_db(20);
		ap->gain_control()->enable_limiter(true);
		ap->gain_control()->Enable(true);
	}
	return a;
}

extern "C" int apm_process(apm *a, int16_t *capture, const int16_t *reference) {
	if (a->aec) {
		to_float(a->reference, reference, a->n);
		float *ref[1] = {a->reference};
		int err = a->ap->ProcessReverseStream(ref, a->config, a->config, ref);
		if (err != 0) {
			return err;
		}
		a->ap->set_stream_delay_ms(0);
	}
	to_float(a->capture, capture, a->n);
	float *cap[1] = {a->capture};
	int err = a->ap->ProcessStream(cap, a->config, a->config, cap);
	if (err != 0) {
		return err;
	}
	to_int16(capture, a->capture, a->n);
	return 0;
}

extern "C" void apm_free(apm *a) {
	if (a == nullptr) {
		return;
	}
	delete a->ap;
	delete a;
}
