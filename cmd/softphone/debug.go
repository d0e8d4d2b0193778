//go:build pprof

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// debugServer serves the profiles until closed.
type debugServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// startDebug starts the profile server on addr, which must be a loopback
// address.
func startDebug(addr string, log *slog.Logger) (*debugServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("softphone: %s: %w", envPprof, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("softphone: %s: %q is not a loopback address", envPprof, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("softphone: %s: %w", envPprof, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	d := &debugServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("profile server stopped", "err", err)
		}
	}()
	log.Info("profile server listening (debug switch "+envPprof+")", "addr", ln.Addr().String())
	return d, nil
}

// Addr is the address the profile server listens on.
func (d *debugServer) Addr() string { return d.ln.Addr().String() }

// Close stops the server and joins its goroutine.
func (d *debugServer) Close(ctx context.Context) error {
	err := d.srv.Shutdown(ctx)
	<-d.done
	return err
}
