package control

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/softphone/softphone/internal/phone"
)

func BenchmarkEncodeEvent(b *testing.B) {
	ev := callEvent(42, "c1", "active")
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := encodeEvent(&buf, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventStream measures call events through the server to a
// Client.Events reader over loopback.
func BenchmarkEventStream(b *testing.B) {
	f := newFakePhone()
	s := NewServer(Options{Listen: "127.0.0.1:0", Token: testToken}, f)
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	c := NewClient(s.Addr(), testToken)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = c.Events(ctx, func(phone.Event) { got <- struct{}{} })
	}()
	sub := <-f.subscribed
	ev := callEvent(1, "c1", "active")
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			ev.Seq = uint64(i + 1)
			if !sub.send(ev) {
				return
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		<-got
	}
	b.StopTimer()
	cancel()
	wg.Wait()
}

// BenchmarkStatusRoundTrip measures one GET /v1/status through the Client
// (a new connection per request, as the command line makes).
func BenchmarkStatusRoundTrip(b *testing.B) {
	s := NewServer(Options{Listen: "127.0.0.1:0", Token: testToken}, newFakePhone())
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	c := NewClient(s.Addr(), testToken)
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
