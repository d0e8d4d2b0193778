package audio

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>

// miniaudio 0.11 leaks its pa_context when the connection to the sound
// server fails (ma_init_pa_mainloop_and_pa_context__pulse frees the main
// loop but never unrefs the context): about 18 KB of C heap per failed
// ma_context_init. The device lister retries PulseAudio every 2 s while
// it has fallen back to the null backend, and on every poll after an
// enumeration failed (a sound server that went away), so a daemon started
// without a sound server grew by ~9 KB a second, for as long as it ran.
// sp_pulse_probe makes the same connection miniaudio makes (the default
// server, no autospawn) with libpulse directly and tears it down
// completely; miniaudio is asked only once a server has answered.
//
// Returns 1 when a server accepted the connection, 0 when none did, -1
// when libpulse could not be loaded.

typedef void *(*sp_mainloop_new_fn)(void);
typedef void *(*sp_mainloop_get_api_fn)(void *m);
typedef int (*sp_mainloop_iterate_fn)(void *m, int block, int *retval);
typedef void (*sp_mainloop_free_fn)(void *m);
typedef void *(*sp_context_new_fn)(void *api, const char *name);
typedef int (*sp_context_connect_fn)(void *c, const char *server, int flags, const void *api);
typedef int (*sp_context_get_state_fn)(void *c);
typedef void (*sp_context_disconnect_fn)(void *c);
typedef void (*sp_context_unref_fn)(void *c);

enum { SP_PA_CONTEXT_NOAUTOSPAWN = 1, SP_PA_CONTEXT_READY = 4, SP_PA_CONTEXT_FAILED = 5, SP_PA_CONTEXT_TERMINATED = 6 };

static int sp_pulse_probe(void) {
	void *lib = dlopen("libpulse.so.0", RTLD_NOW);
	if (lib == NULL) {
		return -1;
	}
	sp_mainloop_new_fn mnew = (sp_mainloop_new_fn)dlsym(lib, "pa_mainloop_new");
	sp_mainloop_get_api_fn mapi = (sp_mainloop_get_api_fn)dlsym(lib, "pa_mainloop_get_api");
	sp_mainloop_iterate_fn miter = (sp_mainloop_iterate_fn)dlsym(lib, "pa_mainloop_iterate");
	sp_mainloop_free_fn mfree = (sp_mainloop_free_fn)dlsym(lib, "pa_mainloop_free");
	sp_context_new_fn cnew = (sp_context_new_fn)dlsym(lib, "pa_context_new");
	sp_context_connect_fn cconn = (sp_context_connect_fn)dlsym(lib, "pa_context_connect");
	sp_context_get_state_fn cstate = (sp_context_get_state_fn)dlsym(lib, "pa_context_get_state");
	sp_context_disconnect_fn cdisc = (sp_context_disconnect_fn)dlsym(lib, "pa_context_disconnect");
	sp_context_unref_fn cunref = (sp_context_unref_fn)dlsym(lib, "pa_context_unref");
	if (!mnew || !mapi || !miter || !mfree || !cnew || !cconn || !cstate || !cdisc || !cunref) {
		dlclose(lib);
		return -1;
	}
	int up = 0;
	void *m = mnew();
	if (m == NULL) {
		dlclose(lib);
		return 0;
	}
	void *c = cnew(mapi(m), "softphone");
	if (c != NULL) {
		if (cconn(c, NULL, SP_PA_CONTEXT_NOAUTOSPAWN, NULL) >= 0) {
			for (;;) {
				int st = cstate(c);
				if (st == SP_PA_CONTEXT_READY) {
					up = 1;
					break;
				}
				if (st == SP_PA_CONTEXT_FAILED || st == SP_PA_CONTEXT_TERMINATED) {
					break;
				}
				if (miter(m, 1, NULL) < 0) {
					break;
				}
			}
			cdisc(c);
		}
		cunref(c);
	}
	mfree(m);
	dlclose(lib);
	return up;
}
*/
import "C"

// pulseServerUp reports whether a PulseAudio server accepts a connection
// now (see sp_pulse_probe); ok is false when libpulse cannot be loaded.
func pulseServerUp() (up, ok bool) {
	switch C.sp_pulse_probe() {
	case 1:
		return true, true
	case 0:
		return false, true
	}
	return false, false
}
