//go:build pprof

package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestStartDebug(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	tests := []struct {
		addr    string
		wantErr bool
	}{
		{"127.0.0.1:0", false},
		{"[::1]:0", false},
		{"0.0.0.0:0", true},
		{"192.0.2.1:0", true},
		{"no-port", true},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			d, err := startDebug(tt.addr, log)
			if (err != nil) != tt.wantErr {
				t.Fatalf("startDebug(%q) error = %v, wantErr %v", tt.addr, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			closed := false
			t.Cleanup(func() {
				if !closed {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_ = d.Close(ctx)
				}
			})
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			res, err := c.Get("http://" + d.Addr() + "/debug/pprof/heap?debug=1")
			if err != nil {
				t.Fatalf("get the heap profile on %s: %v", tt.addr, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "HeapInuse") {
				t.Errorf("heap profile: status %d, body without MemStats", res.StatusCode)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			closed = true
			if err := d.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
}
