// Command softphone-bench runs the daemon and baresip side by side under
// the same load and prints one table (ours, baresip, ratio), writing the
// raw figures as JSON. `make bench` runs it; see BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/softphone/softphone/bench"
	"github.com/softphone/softphone/internal/testbed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "softphone-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		bin     = flag.String("softphone", "bin/softphone", "the daemon binary to measure")
		out     = flag.String("json", "bench-results.json", "where to write the raw figures")
		tiny    = flag.Bool("tiny", false, "tiny settings: proves the harness works in about a minute")
		figures = flag.String("figures", "", "comma-separated figure numbers to run (default all)")
		runs    = flag.Int("runs", 0, "runs per phone and figure (0: the preset's)")
		verbose = flag.Bool("v", false, "log every step")
		agents  = flag.String("agents", "", "comma-separated agent counts of figure 9 (default: the preset's)")
	)
	flag.Parse()
	// The harness starts its peers through the test bed, which skips
	// them unless told it runs for real: here a missing peer is a
	// failure to report, not a skip.
	if err := os.Setenv(testbed.EnvIntegration, "1"); err != nil {
		return err
	}
	opts := bench.Full()
	if *tiny {
		opts = bench.Tiny()
	}
	opts.Softphone = *bin
	if *runs > 0 {
		opts.Runs = *runs
	}
	if *figures != "" {
		opts.Figures = strings.Split(*figures, ",")
	}
	if *agents != "" {
		opts.AgentLevels = nil
		for _, f := range strings.Split(*agents, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-agents: %q is not a count of agents", f)
			}
			opts.AgentLevels = append(opts.AgentLevels, n)
		}
	}
	level := slog.LevelInfo
	if !*verbose {
		level = slog.LevelWarn + 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	// sipgo logs through the default logger: route it through ours
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, opts, log)
	if rep == nil {
		return err
	}
	rep.Command = strings.Join(os.Args, " ")
	if werr := rep.WriteTable(os.Stdout); werr != nil {
		return errors.Join(err, werr)
	}
	f, ferr := os.Create(*out)
	if ferr != nil {
		return errors.Join(err, ferr)
	}
	if jerr := rep.WriteJSON(f); jerr != nil {
		f.Close()
		return errors.Join(err, jerr)
	}
	fmt.Printf("\nraw figures: %s\n", *out)
	return errors.Join(err, f.Close())
}
