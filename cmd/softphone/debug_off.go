//go:build !pprof

package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
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

// This build serves no heap profile, so the runtime records none: with
// Go's default rate it samples an allocation every 512 KB and keeps a
// bucket per sampled stack for the life of the process, in a hash table
// whose pages each new stack touches (a few hundred KB resident).
func init() { runtime.MemProfileRate = 0 }
