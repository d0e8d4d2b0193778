//go:build !pprof

package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestStartDebugNeedsTag: a build without the pprof tag refuses the
// profile switch and says how to get it.
func TestStartDebugNeedsTag(t *testing.T) {
	d, err := startDebug("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || d != nil {
		t.Fatalf("startDebug = %v, %v; want an error", d, err)
	}
	if !strings.Contains(err.Error(), "-tags pprof") || !strings.Contains(err.Error(), envPprof) {
		t.Errorf("error %q does not name the switch and the build tag", err)
	}
}
