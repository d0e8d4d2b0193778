package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped by the Makefile with -ldflags -X.
var version = "dev"

const usage = `usage: softphone COMMAND [flags] [arguments]

Daemon and local commands:
  run            start the daemon (registers, takes and places calls)
  devices        list audio devices and the policy's verdict for a call now
  check-config   check a configuration file and print a summary
  version        print the version

Commands for the running daemon (through its local API):
  status         version, uptime, connections, devices, verdict and calls
  calls          the calls
  dial URI       place a call
  answer [CALL]  answer a ringing call
  reject [CALL]  reject a ringing call (--code N)
  hangup [CALL]  end a call
  hold [CALL], resume [CALL]
  dtmf DIGITS    send DTMF digits (--call CALL)
  transfer URI   blind transfer (--call CALL)
  transfer --to-call CALL2
                 attended transfer to the party of CALL2 (--call CALL)
  events         print the daemon's events, one JSON object a line
  page           print the status page's address (with the token)
  token rotate   replace the API token; the old one stops working at once

Every command takes -c FILE (the configuration file) and -h for its help;
flags may stand before or after the arguments.
The commands reach the daemon over its unix socket ([control] unix_socket),
or over TCP when it serves none, and only after checking that the daemon
runs as the same user.
The configuration is found at -c, else $SOFTPHONE_CONFIG, else
$XDG_CONFIG_HOME/softphone/softphone.ini, else /etc/softphone/softphone.ini,
else built-in defaults (standalone).

Debug: SOFTPHONE_PPROF=127.0.0.1:PORT makes "run" serve Go's profiles
(net/http/pprof, /debug/pprof/) on that loopback address, in a daemon built
with "make build-pprof" (-tags pprof); other builds refuse the switch.
`

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintf(stdout, "softphone %s\n", version)
		return 0
	case "run":
		return runCommand(rest, stderr)
	case "devices":
		return devicesCommand(rest, stdout, stderr)
	case "check-config":
		return checkConfigCommand(rest, stdout, stderr)
	default:
		return clientCommand(cmd, rest, stdout, stderr)
	}
}

// signalContext is cancelled at the first SIGINT/SIGTERM; a second one
// exits at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s, ok := <-ch
		if !ok {
			return
		}
		cancel(fmt.Errorf("signal %s", s))
		if _, ok := <-ch; ok {
			os.Exit(130)
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(ch)
		cancel(errors.New("done"))
	}
}

// onSIGHUP calls f on every SIGHUP until the returned stop is called.
func onSIGHUP(f func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
			f()
		}
	}()
	return func() {
		signal.Stop(ch)
		close(ch)
		<-done
	}
}
