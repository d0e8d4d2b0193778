package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/softphone/softphone/internal/phone"
)

// ExampleClient drives a daemon's API: the server here serves a stand-in
// phone on a free loopback port, as the daemon serves its own.
func ExampleClient() {
	srv := NewServer(Options{Listen: "127.0.0.1:0", Token: "s3cret"}, newFakePhone())
	if err := srv.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close(context.Background())

	ctx := context.Background()
	c := NewClient(srv.Addr(), "s3cret")

	st, err := c.Status(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("daemon", st.Version, "with", len(st.Calls), "call")

	call, err := c.Dial(ctx, "sip:bob@example.com", -1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("dialled", call.ID, call.State)

	// Refusals come back as *APIError and match the phone's sentinels.
	err = c.Reject(ctx, "c1", 200)
	var ae *APIError
	if errors.As(err, &ae) && errors.Is(err, phone.ErrInvalidArgument) {
		fmt.Println(ae.Status, ae.Code)
	}
	// Output:
	// daemon 1.2.3 with 1 call
	// dialled c2 calling
	// 400 invalid_argument
}
