//go:build !pprof

package main

import (
	"context"
	"fmt"
	"log/slog"
)

// debugServer is the profile server, which this build does not have (see
// envPprof).
type debugServer struct{}

// startDebug says that this build has no profile server.
func startDebug(addr string, log *slog.Logger) (*debugServer, error) {
	return nil, fmt.Errorf("softphone: %s=%s: this build has no profile server; build it with -tags pprof (make build-pprof)", envPprof, addr)
}

// Close does nothing.
func (d *debugServer) Close(ctx context.Context) error { return nil }
