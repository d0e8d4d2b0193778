package bench

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/softphone/softphone/internal/testbed"
)

// fatal is the panic value runTB's Fatal raises; figure runners recover it
// and record the figure as failed.
type fatal struct{ msg string }

// runTB is the testbed.TB internal/testbed's helpers receive when the
// harness runs as a program. It keeps cleanups (run in reverse order by
// Close), temporary folders and environment changes; Fatal and Skip panic
// with a fatal value that guard recovers, so one failed figure does not end
// the run.
type runTB struct {
	log *slog.Logger

	mu       sync.Mutex
	cleanups []func()
}

var _ testbed.TB = (*runTB)(nil)

// newRunTB returns the runner of one scope, logging to log.
func newRunTB(log *slog.Logger) *runTB { return &runTB{log: log} }

func (t *runTB) Helper() {}

func (t *runTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// Close runs the cleanups in reverse order of registration; it may be
// called more than once.
func (t *runTB) Close() {
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		f()
	}
}

func (t *runTB) TempDir() string {
	d, err := os.MkdirTemp("", "softphone-bench-")
	if err != nil {
		t.Fatalf("bench: temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func (t *runTB) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		t.Fatalf("bench: setenv %s: %v", key, err)
	}
	t.Cleanup(func() {
		if had {
			_ = os.Setenv(key, old)
		} else {
			_ = os.Unsetenv(key)
		}
	})
}

func (t *runTB) Logf(format string, args ...any) { t.log.Info(fmt.Sprintf(format, args...)) }

// Error and Errorf log the failure; the figure goes on, as a test would.
func (t *runTB) Error(args ...any)            { t.log.Warn(fmt.Sprint(args...)) }
func (t *runTB) Errorf(f string, args ...any) { t.log.Warn(fmt.Sprintf(f, args...)) }
func (t *runTB) Fatal(args ...any)            { panic(fatal{fmt.Sprint(args...)}) }
func (t *runTB) Fatalf(f string, args ...any) { panic(fatal{fmt.Sprintf(f, args...)}) }
func (t *runTB) Skip(args ...any)             { panic(fatal{"skipped: " + fmt.Sprint(args...)}) }

// guard runs f and turns a Fatal inside it into an error wrapping
// ErrFigureFailed. Other panics are not swallowed.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%w: %s", ErrFigureFailed, fe.msg)
		}
	}()
	return f()
}
