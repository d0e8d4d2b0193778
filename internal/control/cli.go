package control

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/softphone/softphone/internal/phone"
)

// Exit codes of RunCLI.
const (
	ExitOK    = 0 // the daemon did what was asked
	ExitError = 1 // the daemon refused, or could not be reached
	ExitUsage = 2 // the command line is wrong
)

// command is one client subcommand of the softphone command.
type command struct {
	name    string
	flags   string // flag synopsis for the command list
	args    string // argument synopsis after the flags
	summary string
	run     func(cl *cli, ctx context.Context, fs *flag.FlagSet, args []string) int
}

// commands are the subcommands RunCLI knows, in help order.
var commands = []command{
	{"status", "[--json]", "", "show version, uptime, connections, devices, verdict and calls", (*cli).status},
	{"calls", "[--json]", "", "list the calls", (*cli).calls},
	{"dial", "[--connection N] [--json]", "URI", "place a call", (*cli).dial},
	{"answer", "", "[CALL]", "answer the ringing call", simple("answer", (*Client).Answer)},
	{"reject", "[--code N]", "[CALL]", "refuse the ringing call", (*cli).reject},
	{"hangup", "", "[CALL]", "end a call", simple("hangup", (*Client).Hangup)},
	{"hold", "", "[CALL]", "put a call on hold", simple("hold", (*Client).Hold)},
	{"resume", "", "[CALL]", "take a call off hold", simple("resume", (*Client).Resume)},
	{"dtmf", "[--call CALL]", "DIGITS", "send DTMF digits (0-9, *, #, A-D)", (*cli).dtmf},
	{"transfer", "[--call CALL] [--to-call CALL2]", "[URI]", "transfer a call to URI (blind), or to the party of CALL2 (attended)", (*cli).transfer},
	{"events", "", "", "print the daemon's events, one JSON object per line, until interrupted", (*cli).events},
	{"reload", "[--json]", "", "read the configuration file again and apply what can be applied", (*cli).reload},
}

// IsCommand reports whether name is a client command RunCLI runs.
func IsCommand(name string) bool {
	_, ok := lookup(name)
	return ok
}

// PrintUsage lists the client commands on w.
func PrintUsage(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "commands for a running daemon (flags may come before or after arguments; CALL defaults to the only call):")
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.Join(strings.Fields(c.name+" "+c.flags+" "+c.args), " "), c.summary)
	}
	tw.Flush()
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// RunCLI runs one client command against the daemon behind c and returns
// the process exit code: ExitOK, ExitError with the server's message on
// stderr, or ExitUsage for a wrong command line. "events" runs until ctx
// ends.
func RunCLI(ctx context.Context, cmd string, args []string, c *Client, stdout, stderr io.Writer) int {
	cl := &cli{c: c, out: stdout, err: stderr, now: time.Now}
	return cl.run(ctx, cmd, args)
}

// cli is one run of a command; now is the clock used for uptimes.
type cli struct {
	c   *Client
	out io.Writer
	err io.Writer
	now func() time.Time
	cmd command // the command being run
}

func (cl *cli) run(ctx context.Context, name string, args []string) int {
	switch name {
	case "help", "-h", "--help":
		PrintUsage(cl.out)
		return ExitOK
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(cl.err, "softphone: unknown command %q\n", name)
		PrintUsage(cl.err)
		return ExitUsage
	}
	cl.cmd = c
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return c.run(cl, ctx, fs, args)
}

// parse parses flags then checks that between min and max arguments
// remain. It returns the arguments, or ok=false with the exit code.
func (cl *cli) parse(fs *flag.FlagSet, args []string, lo, hi int) (rest []string, code int, ok bool) {
	c := cl.cmd
	rest, err := ParseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		cl.usage(cl.out, c, fs)
		return nil, ExitOK, false
	case err != nil:
		return nil, cl.misuse(fs, err.Error()), false
	}
	if len(rest) < lo || len(rest) > hi {
		return nil, cl.misuse(fs, "wrong number of arguments"), false
	}
	return rest, ExitOK, true
}

// ParseInterleaved parses flags found anywhere among args, before or
// after the arguments ("reject 7 --code 480" as "reject --code 480 7"),
// and returns the arguments in order. "--" ends the flags: everything
// after it is an argument.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
	return append(rest, tail...), nil
}

func (cl *cli) usage(w io.Writer, c command, fs *flag.FlagSet) {
	synopsis := "softphone " + c.name
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		synopsis += " [flags]"
	}
	if c.args != "" {
		synopsis += " " + c.args
	}
	fmt.Fprintf(w, "usage: %s\n%s\n", synopsis, c.summary)
	if hasFlags {
		fmt.Fprintln(w, "flags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// misuse reports arguments that cannot be used, with the usage, and
// returns ExitUsage.
func (cl *cli) misuse(fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(cl.err, "softphone %s: %s\n", cl.cmd.name, msg)
	cl.usage(cl.err, cl.cmd, fs)
	return ExitUsage
}

// fail reports a refusal or transport error and returns ExitError.
func (cl *cli) fail(name string, err error) int {
	fmt.Fprintf(cl.err, "softphone %s: %v\n", name, err)
	return ExitError
}

func (cl *cli) printJSON(v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return cl.fail("json", err)
	}
	if _, err := fmt.Fprintf(cl.out, "%s\n", b); err != nil {
		return cl.fail("output", err)
	}
	return ExitOK
}

func (cl *cli) status(ctx context.Context, fs *flag.FlagSet, args []string) int {
	asJSON := fs.Bool("json", false, "print the raw JSON status")
	if _, code, ok := cl.parse(fs, args, 0, 0); !ok {
		return code
	}
	st, err := cl.c.Status(ctx)
	if err != nil {
		return cl.fail("status", err)
	}
	if *asJSON {
		return cl.printJSON(st)
	}
	cl.writeStatus(st)
	return ExitOK
}

// verdictView is the part of the devices verdict the status table shows;
// unknown fields are ignored so the verdict may grow.
type verdictView struct {
	Input            *selectionView `json:"input"`
	Output           *selectionView `json:"output"`
	HeadsetAvailable bool           `json:"headset_available"`
	ShouldAnswer     string         `json:"should_answer"`
	RejectCode       int            `json:"reject_code"`
	OutgoingAllowed  bool           `json:"outgoing_allowed"`
	Reason           string         `json:"reason"`
}

type selectionView struct {
	Name     string `json:"name"`
	Fallback bool   `json:"fallback"`
}

func (s *selectionView) String() string {
	if s == nil || s.Name == "" {
		return "none"
	}
	if s.Fallback {
		return s.Name + " (fallback)"
	}
	return s.Name
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (cl *cli) writeStatus(st phone.Status) {
	now := cl.now()
	kv := func(key, format string, a ...any) {
		fmt.Fprintf(cl.out, "%-12s %s\n", key, fmt.Sprintf(format, a...))
	}
	kv("version", "%s", orDash(st.Version))
	if st.Started.IsZero() {
		kv("uptime", "-")
	} else {
		kv("uptime", "%s (since %s)", now.Sub(st.Started).Truncate(time.Second), st.Started.Local().Format(time.DateTime))
	}
	if len(st.SIPListen) > 0 {
		kv("sip", "%s", strings.Join(st.SIPListen, ", "))
	}
	switch {
	case st.Standalone && len(st.Registrations) == 0:
		kv("connections", "none (standalone)")
	case len(st.Registrations) == 0:
		kv("connections", "none")
	default:
		kv("connections", "%d", len(st.Registrations))
		tw := tabwriter.NewWriter(cl.out, 0, 4, 2, ' ', 0)
		for _, r := range st.Registrations {
			fmt.Fprintf(tw, "  #%d\t%s@%s\t%s\t%s\t%s", r.Connection, r.User, r.Server, orDash(r.Protocol), orDash(r.State), r.Detail)
			if !r.Expires.IsZero() {
				fmt.Fprintf(tw, "\texpires in %s", r.Expires.Sub(now).Truncate(time.Second))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	var v verdictView
	if len(st.Verdict) == 0 || string(st.Verdict) == "null" || json.Unmarshal(st.Verdict, &v) != nil {
		kv("devices", "unknown")
	} else {
		outgoing := "blocked"
		if v.OutgoingAllowed {
			outgoing = "allowed"
		}
		kv("devices", "input: %s, output: %s", v.Input, v.Output)
		kv("verdict", "headset=%s should_answer=%s outgoing=%s reject_code=%d",
			yesNo(v.HeadsetAvailable), orDash(v.ShouldAnswer), outgoing, v.RejectCode)
		kv("reason", "%s", orDash(v.Reason))
	}
	if len(st.Calls) == 0 {
		kv("calls", "none")
		return
	}
	kv("calls", "%d", len(st.Calls))
	cl.writeCalls(st.Calls, "  ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (cl *cli) calls(ctx context.Context, fs *flag.FlagSet, args []string) int {
	asJSON := fs.Bool("json", false, "print the raw JSON list")
	if _, code, ok := cl.parse(fs, args, 0, 0); !ok {
		return code
	}
	calls, err := cl.c.Calls(ctx)
	if err != nil {
		return cl.fail("calls", err)
	}
	if *asJSON {
		if calls == nil {
			calls = []phone.CallInfo{}
		}
		return cl.printJSON(calls)
	}
	if len(calls) == 0 {
		fmt.Fprintln(cl.out, "no calls")
		return ExitOK
	}
	cl.writeCalls(calls, "")
	return ExitOK
}

// writeCalls prints a call table; DURATION counts from the answer, or from
// the start for calls not answered yet.
func (cl *cli) writeCalls(calls []phone.CallInfo, indent string) {
	now := cl.now()
	tw := tabwriter.NewWriter(cl.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%sID\tDIR\tSTATE\tREMOTE\tCONN\tDURATION\n", indent)
	for _, c := range calls {
		remote := c.Remote
		if c.RemoteName != "" {
			remote = fmt.Sprintf("%q <%s>", c.RemoteName, c.Remote)
		}
		state := c.State
		if c.Held && state != "held" {
			state += " (held)"
		}
		since := c.Started
		if !c.Answered.IsZero() {
			since = c.Answered
		}
		dur := "-"
		if !since.IsZero() {
			dur = now.Sub(since).Truncate(time.Second).String()
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%d\t%s\n", indent, c.ID, orDash(c.Direction), orDash(state), orDash(remote), c.Connection, dur)
	}
	tw.Flush()
}

func (cl *cli) dial(ctx context.Context, fs *flag.FlagSet, args []string) int {
	conn := fs.Int("connection", -1, "connection index to call through (-1: the default)")
	asJSON := fs.Bool("json", false, "print the new call as JSON")
	rest, code, ok := cl.parse(fs, args, 1, 1)
	if !ok {
		return code
	}
	ci, err := cl.c.Dial(ctx, rest[0], *conn)
	if err != nil {
		return cl.fail("dial", err)
	}
	if *asJSON {
		return cl.printJSON(ci)
	}
	fmt.Fprintf(cl.out, "%s\t%s\t%s\n", ci.ID, ci.State, ci.Remote)
	return ExitOK
}

// simple builds the command of a verb that takes only an optional call id.
func simple(name string, do func(*Client, context.Context, string) error) func(*cli, context.Context, *flag.FlagSet, []string) int {
	return func(cl *cli, ctx context.Context, fs *flag.FlagSet, args []string) int {
		rest, code, ok := cl.parse(fs, args, 0, 1)
		if !ok {
			return code
		}
		if err := do(cl.c, ctx, first(rest)); err != nil {
			return cl.fail(name, err)
		}
		return ExitOK
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func (cl *cli) reject(ctx context.Context, fs *flag.FlagSet, args []string) int {
	code := fs.Int("code", 0, fmt.Sprintf("SIP response code, 400-699 (0: %d Busy Here)", DefaultRejectCode))
	rest, exit, ok := cl.parse(fs, args, 0, 1)
	if !ok {
		return exit
	}
	if err := cl.c.Reject(ctx, first(rest), *code); err != nil {
		return cl.fail("reject", err)
	}
	return ExitOK
}

func (cl *cli) dtmf(ctx context.Context, fs *flag.FlagSet, args []string) int {
	call := fs.String("call", "", "call id (default: the only call)")
	rest, code, ok := cl.parse(fs, args, 1, 1)
	if !ok {
		return code
	}
	if err := cl.c.DTMF(ctx, *call, rest[0]); err != nil {
		return cl.fail("dtmf", err)
	}
	return ExitOK
}

func (cl *cli) transfer(ctx context.Context, fs *flag.FlagSet, args []string) int {
	call := fs.String("call", "", "call id (default: the only call; with --to-call, the one besides CALL2)")
	toCall := fs.String("to-call", "", "attended transfer: connect the call with the party of this call (the consultation)")
	rest, code, ok := cl.parse(fs, args, 0, 1)
	if !ok {
		return code
	}
	var err error
	switch {
	case *toCall != "" && len(rest) == 1:
		return cl.misuse(fs, "a URI (blind) or --to-call (attended), not both")
	case *toCall != "":
		err = cl.c.AttendedTransfer(ctx, *call, *toCall)
	case len(rest) == 0:
		return cl.misuse(fs, "a URI (blind) or --to-call CALL2 (attended) is needed")
	default:
		err = cl.c.Transfer(ctx, *call, rest[0])
	}
	if err != nil {
		return cl.fail("transfer", err)
	}
	return ExitOK
}

// flusher is an output that buffers (a *bufio.Writer, for one).
type flusher interface{ Flush() error }

func (cl *cli) events(ctx context.Context, fs *flag.FlagSet, args []string) int {
	if _, code, ok := cl.parse(fs, args, 0, 0); !ok {
		return code
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var werr error
	err := cl.c.Events(ctx, func(ev phone.Event) {
		if werr != nil {
			return
		}
		b, err := json.Marshal(ev)
		if err == nil {
			_, err = cl.out.Write(append(b, '\n'))
		}
		if f, ok := cl.out.(flusher); ok && err == nil {
			err = f.Flush()
		}
		if err != nil {
			werr = err
			cancel()
		}
	})
	if werr != nil {
		return cl.fail("events", werr)
	}
	if err != nil {
		return cl.fail("events", err)
	}
	return ExitOK
}

func (cl *cli) reload(ctx context.Context, fs *flag.FlagSet, args []string) int {
	asJSON := fs.Bool("json", false, "print the raw JSON report")
	if _, code, ok := cl.parse(fs, args, 0, 0); !ok {
		return code
	}
	rep, err := cl.c.Reload(ctx)
	if err != nil {
		return cl.fail("reload", err)
	}
	if *asJSON {
		return cl.printJSON(rep)
	}
	if len(rep.Applied) == 0 && len(rep.NotApplied) == 0 {
		fmt.Fprintln(cl.out, "nothing changed")
		return ExitOK
	}
	for _, a := range rep.Applied {
		fmt.Fprintf(cl.out, "applied      %s\n", a)
	}
	for _, n := range rep.NotApplied {
		fmt.Fprintf(cl.out, "not applied  %s\n", n)
	}
	return ExitOK
}

// PrintPage writes the status page's address for a daemon listening on
// listen, with token in the fragment (see PageURL), for `softphone page`.
func PrintPage(w io.Writer, listen, token string) error {
	_, err := fmt.Fprintln(w, PageURL(listen, token))
	return err
}
