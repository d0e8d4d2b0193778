package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/softphone/softphone/internal/audio"
	"github.com/softphone/softphone/internal/config"
	"github.com/softphone/softphone/internal/control"
	"github.com/softphone/softphone/internal/phone"
	"github.com/softphone/softphone/internal/policy"
)

// newFlags makes a command's flag set with the common -c flag.
func newFlags(name, args, help string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("c", "", "configuration `FILE`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: softphone %s [flags] %s\n\n%s\n\nflags:\n", name, args, help)
		fs.PrintDefaults()
	}
	return fs, cfg
}

// parseFlags parses flags anywhere among args and checks that no
// argument is left; it returns the exit code to use when the command must
// stop (help asked for: 0, bad flags or arguments: 2), or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	rest, err := control.ParseInterleaved(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	case len(rest) > 0:
		fmt.Fprintf(fs.Output(), "softphone %s: unexpected argument %q\n", fs.Name(), rest[0])
		fs.Usage()
		return 2
	}
	return -1
}

// loadConfig finds and loads the configuration, printing warnings.
func loadConfig(flagPath string, stderr io.Writer) (*config.Config, error) {
	path, err := config.Locate(flagPath)
	if err != nil {
		return nil, err
	}
	cfg, warns, err := config.Load(path)
	for _, w := range warns {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// newPolicy builds the device policy of cfg and prints its warnings (device
// entries that are not valid regular expressions).
func newPolicy(cfg *config.Config, stderr io.Writer) *policy.Policy {
	pol, warns := policy.New(phone.PolicySettings(cfg))
	for _, w := range warns {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	return pol
}

func devicesCommand(args []string, stdout, stderr io.Writer) int {
	fs, cfgPath := newFlags("devices", "", "Lists the audio devices and what the device policy would do with a call arriving now, and why.\nIt reads the devices itself: no daemon is needed.", stderr)
	asJSON := fs.Bool("json", false, "print the verdict as JSON (the stable contract)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 1
	}
	sys, err := audio.Open(audio.Options{Backend: cfg.Audio.Backend})
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 1
	}
	defer sys.Close()
	snap, err := sys.Snapshot()
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 1
	}
	dec := newPolicy(cfg, stderr).Evaluate(phone.PolicySnapshot(snap))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(policy.NewVerdict(phone.PolicySnapshot(snap), dec)); err != nil {
			fmt.Fprintln(stderr, "softphone: "+err.Error())
			return 1
		}
		return 0
	}
	phone.WriteDevices(stdout, snap, dec)
	return 0
}

func checkConfigCommand(args []string, stdout, stderr io.Writer) int {
	fs, cfgPath := newFlags("check-config", "", "Checks a configuration file: exit 0 with a one-line summary, or non-zero listing every problem.", stderr)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "error: "+line)
		}
		return 1
	}
	newPolicy(cfg, stderr)
	fmt.Fprintln(stdout, "ok: "+cfg.Summary())
	return 0
}

func runCommand(args []string, stderr io.Writer) int {
	fs, cfgPath := newFlags("run", "", "Starts the daemon: selects devices, registers, takes and places calls, serves the local API.\nSIGINT/SIGTERM stops it cleanly (a second one at once); SIGHUP reloads the configuration.", stderr)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 1
	}
	log, closeLog, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 1
	}
	defer closeLog()
	ctx, stop := signalContext()
	defer stop()
	if err := runDaemon(ctx, cfg, log); err != nil {
		log.Error("softphone stopped", "err", err)
		return 1
	}
	return 0
}

// runDaemon wires the daemon and runs it until ctx ends; teardown runs in
// reverse order of construction.
func runDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	log.Info("softphone starting", "version", version, "config", cfg.Summary())
	unlock, err := lockInstance(cfg.Control.TokenFile, syscall.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	// The sound system's client library is loaded now, for good, before
	// anything else loads or unloads a library: its files join those the
	// memory trimmer may drop from the page tables (pageout_linux.go).
	kept, err := keepMapped(func() error {
		_, err := audio.KeepClientLibrary(cfg.Audio.Backend)
		return err
	})
	log.Debug("audio: client library kept loaded", "files", kept, "err", err)
	if addr := os.Getenv(envPprof); addr != "" {
		dbg, err := startDebug(addr, log)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = dbg.Close(sctx)
		}()
	}
	log.Debug("memory: garbage collection", "gogc", tuneGC(os.Getenv))
	trimmer := startTrimmer(defaultTrimSettings(), nil, daemonTrim(log))
	defer trimmer.Close()
	if w := passwordFileWarning(cfg); w != "" {
		log.Warn(w)
	}
	sys, err := audio.Open(audio.Options{Backend: cfg.Audio.Backend, PollInterval: cfg.Device.PollInterval, Logger: log.With("component", "audio")})
	if err != nil {
		return err
	}
	defer sys.Close()
	ph, err := phone.New(phone.Options{Config: cfg, Logger: log.With("component", "phone"), Version: version, Audio: sys})
	if err != nil {
		return err
	}
	token, err := control.LoadOrCreateToken(cfg.Control.TokenFile)
	if err != nil {
		return err
	}
	opts := controlOptions(cfg, token, log)
	srv := control.NewServer(opts, ph)
	if err := srv.Start(ctx); err != nil {
		return err
	}
	log.Info("control API listening", "addr", srv.Addr(), "unix_socket", opts.UnixSocket, "token_file", cfg.Control.TokenFile,
		"max_connections", opts.MaxConnections, "max_event_streams", opts.MaxEventStreams)
	stopHUP := onSIGHUP(func() {
		if _, err := ph.Reload(); err != nil {
			log.Error("reload failed: the configuration in force is kept", "err", err)
		}
	})
	defer stopHUP()
	runErr := ph.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return errors.Join(runErr, srv.Close(sctx))
}

// newLogger makes the daemon's one logger from [system.log].
func newLogger(c config.Log, stderr io.Writer) (*slog.Logger, func(), error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, nil, fmt.Errorf("[system.log] level: %w", err)
	}
	w, closeFn := stderr, func() {}
	if c.File != "" {
		f, err := os.OpenFile(c.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("[system.log] file: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closeFn, nil
}

// splitConfigFlag takes -c FILE (or -c=FILE, --c) out of args wherever
// it stands, up to a "--", and returns FILE and the other arguments.
func splitConfigFlag(args []string) (string, []string, error) {
	cfgPath := ""
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return cfgPath, append(rest, args[i:]...), nil
		case a == "-c" || a == "--c":
			if i+1 >= len(args) {
				return "", nil, errors.New("-c needs a FILE")
			}
			cfgPath = args[i+1]
			i++
		case strings.HasPrefix(a, "-c="), strings.HasPrefix(a, "--c="):
			cfgPath = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	return cfgPath, rest, nil
}

// clientCommand runs a command against the running daemon through its
// local API, found through the same configuration file.
func clientCommand(cmd string, args []string, stdout, stderr io.Writer) int {
	cfgPath, args, err := splitConfigFlag(args)
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 2
	}
	switch cmd {
	case "page":
		return pageCommand(cfgPath, args, stdout, stderr)
	case "token":
		return tokenCommand(cfgPath, args, stdout, stderr)
	}
	if !control.IsCommand(cmd) {
		fmt.Fprintf(stderr, "softphone: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	cfg, err := loadConfig(cfgPath, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 1
	}
	token, err := control.ReadToken(cfg.Control.TokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "softphone: cannot read the daemon's token (is it running with this config?): %v\n", err)
		return 1
	}
	ctx, stop := signalContext()
	defer stop()
	return control.RunCLI(ctx, cmd, args, newClient(cfg, token), stdout, stderr)
}

// apiConnLimit returns how many connections each API listener may hold:
// the configured cap, lowered to an eighth of the open-file limit — the
// two listeners together then take at most a quarter — so the phone's own
// sockets (SIP, RTP, devices) always find descriptors. (Go raises the soft
// limit to the hard one at start, so nofile is the hard limit.)
func apiConnLimit(configured int) (limit int, nofile uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return configured, 0
	}
	// Two listeners (TCP and the unix socket) share the budget.
	eighth := int(min(rl.Cur/8, 1<<20))
	return max(min(configured, eighth), 1), rl.Cur
}

// controlOptions maps [control] onto the API server's options.
func controlOptions(cfg *config.Config, token string, log *slog.Logger) control.Options {
	limit, nofile := apiConnLimit(cfg.Control.MaxConnections)
	if limit < cfg.Control.MaxConnections {
		log.Warn("[control] max_connections lowered to keep file descriptors for the phone", "configured", cfg.Control.MaxConnections, "used", limit, "open_file_limit", nofile)
	}
	o := control.Options{
		Listen: cfg.Control.Listen, Token: token, Logger: log.With("component", "control"),
		UnixSocket: cfg.Control.SocketPath(), ConnectorWithoutToken: cfg.Control.ConnectorWithoutToken,
		AllowedOrigins: cfg.Control.AllowedOrigins, TokenFile: cfg.Control.TokenFile,
		MaxConnections: limit, MaxEventStreams: cfg.Control.MaxEventStreams,
	}
	if cfg.Control.Listen == config.ListenNone {
		o.Listen = control.ListenNone
	}
	return o
}

// newClient reaches the daemon on its unix socket, or on TCP when it
// serves none; either way the client checks the daemon is this user's.
func newClient(cfg *config.Config, token string) *control.Client {
	if p := cfg.Control.SocketPath(); p != "" {
		return control.NewClient("unix:"+p, token)
	}
	return control.NewClient("http://"+cfg.Control.Listen, token)
}

// tokenCommand is `softphone token rotate`: a running daemon makes the new
// token and drops the old one at once (POST /v1/token/rotate); with no
// daemon running, the token file is rewritten here.
func tokenCommand(cfgPath string, args []string, stdout, stderr io.Writer) int {
	const help = "usage: softphone token rotate [-c FILE]\n\nReplaces the API token: the old one stops working at once."
	if len(args) != 1 || args[0] != "rotate" {
		fmt.Fprintln(stderr, help)
		if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	cfg, err := loadConfig(cfgPath, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 1
	}
	path := cfg.Control.TokenFile
	token, err := control.ReadToken(path)
	if err == nil {
		ctx, stop := signalContext()
		defer stop()
		err = newClient(cfg, token).RotateToken(ctx)
		if err == nil {
			fmt.Fprintf(stdout, "token rotated by the running daemon: %s\n", path)
			return 0
		}
		var ae *control.APIError
		if errors.As(err, &ae) || errors.Is(err, control.ErrNotYours) {
			fmt.Fprintln(stderr, "softphone token rotate: "+err.Error())
			return 1
		}
	}
	// No daemon answered: rewrite the file, unless a daemon holds the
	// instance lock (it would keep the old token in force).
	unlock, lerr := lockInstance(path, syscall.LOCK_SH)
	if lerr != nil {
		fmt.Fprintf(stderr, "softphone token rotate: %v; its API did not answer (%v): the token was not changed\n", lerr, err)
		return 1
	}
	defer unlock()
	if _, err := control.RotateToken(path); err != nil {
		fmt.Fprintln(stderr, "softphone token rotate: "+err.Error())
		return 1
	}
	fmt.Fprintf(stdout, "no daemon running: new token written to %s\n", path)
	return 0
}

// pageCommand prints the status page's address with the token in the
// fragment (never sent to the server in a request line).
func pageCommand(cfgPath string, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: softphone page [-c FILE]\n\nPrints the address of the daemon's status page, with its token.")
		if args[0] == "-h" || args[0] == "--help" {
			return 0
		}
		return 2
	}
	cfg, err := loadConfig(cfgPath, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "softphone: "+err.Error())
		return 1
	}
	if cfg.Control.Listen == config.ListenNone {
		fmt.Fprintln(stderr, "softphone: the API has no TCP listener ([control] listen = none): no page for a browser")
		return 1
	}
	// The address carries the token: only for this user's own daemon.
	if err := control.VerifyListener(cfg.Control.Listen); err != nil {
		fmt.Fprintf(stderr, "softphone page: %v: is the daemon running?\n", err)
		return 1
	}
	token, err := control.ReadToken(cfg.Control.TokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "softphone: cannot read the daemon's token: %v\n", err)
		return 1
	}
	control.PrintPage(stdout, cfg.Control.Listen, token)
	return 0
}
