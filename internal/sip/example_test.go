package sip_test

import (
	"context"
	"log/slog"
	"time"

	"github.com/softphone/softphone/internal/sip"
)

// phone is the layer above: it decides what each call gets.
type phone struct {
	newMedia func() sip.Media
}

func (p *phone) IncomingCall(c *sip.Call) sip.Decision {
	if d, ok := c.AutoAnswer(); ok && d == 0 {
		return sip.Decision{Action: sip.ActionAnswer, Media: p.newMedia()}
	}
	return sip.Decision{Action: sip.ActionRing, Media: p.newMedia()}
}
func (p *phone) CallState(c *sip.Call, st sip.CallState, reason string) {}
func (p *phone) RegistrationChanged(r sip.Registration)                 {}
func (p *phone) RemoteControl(c *sip.Call, ev sip.RemoteEvent) {
	if ev == sip.RemoteTalk {
		_ = c.Answer(nil) // the Media given with the Ring decision
	}
}
func (p *phone) DTMF(c *sip.Call, digit string)               {}
func (p *phone) TransferRequested(c *sip.Call, target string) {}

// Example shows the UA's life cycle: New, Start, calls through the
// Handler, Close with a bounded context.
func Example() {
	ua, err := sip.New(sip.Options{
		Host:       "127.0.0.1",
		Transports: []string{"udp", "tcp"},
		UserAgent:  "softphone",
		Logger:     slog.Default().With("component", "sip"),
		Accounts: []sip.Account{{
			ID: 1, User: "alice", Password: "secret", Server: "pbx.example.com",
			Protocol: "udp", RegTimeout: 10 * time.Minute,
		}},
	}, &phone{newMedia: func() sip.Media { return nil /* the media engine's session */ }})
	if err != nil {
		return
	}
	if err := ua.Start(context.Background()); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = ua.Close(ctx) // hangs up, un-registers, joins
}
