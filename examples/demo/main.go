// Command demo starts a small shoal swarm inside one process, on
// 127.0.0.1, and shows it working: every node counts requests into one
// shared counter and offers them to one cluster-wide rate limit, and a
// beacon update measures how long a change takes to reach every node. It
// runs for a while, prints a summary and exits.
//
//	go run ./examples/demo                 # 5 nodes, 20 s, live view
//	go run ./examples/demo -nodes 9 -duration 1m
//	go run ./examples/demo -no-tui         # plain log lines
//
// The live view is drawn with ANSI escape codes when stdout is a terminal;
// otherwise (CI, a pipe, a file) the demo prints one plain line a second.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stdout)))
}

// isTerminal reports whether f is a character device (a terminal), without
// a dependency: a pipe or a file is not one.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// options are the demo's flags.
type options struct {
	nodes    int
	duration time.Duration
	rate     float64
	noTUI    bool
	refresh  time.Duration
	limit    int           // cluster rate limit per window
	window   time.Duration // rate-limit window
	debug    string        // address of the debug pages; empty: none
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.nodes, "nodes", 5, "number of nodes in the swarm (1-64)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long the demo runs")
	fs.Float64Var(&o.rate, "rate", 100, "requests per second each node counts (and offers to the rate limit)")
	fs.BoolVar(&o.noTUI, "no-tui", false, "print plain log lines instead of the live view (the default when stdout is not a terminal)")
	fs.DurationVar(&o.refresh, "refresh", 250*time.Millisecond, "how often the live view is redrawn")
	fs.IntVar(&o.limit, "limit", 0, "cluster-wide rate limit per window; 0 means half of what the nodes offer")
	fs.DurationVar(&o.window, "window", 5*time.Second, "rate-limit sliding window")
	fs.StringVar(&o.debug, "debug", "", "serve every node's debug page on this address while the demo runs (e.g. 127.0.0.1:6060)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case o.nodes < 1 || o.nodes > 64:
		return o, fmt.Errorf("-nodes %d: want 1 to 64", o.nodes)
	case o.duration <= 0:
		return o, fmt.Errorf("-duration %v: want a positive duration", o.duration)
	case o.rate <= 0 || o.rate > 100000:
		return o, fmt.Errorf("-rate %v: want more than 0 and at most 100000", o.rate)
	case o.refresh <= 0:
		return o, fmt.Errorf("-refresh %v: want a positive duration", o.refresh)
	case o.limit < 0:
		return o, fmt.Errorf("-limit %d: want 0 (automatic) or more", o.limit)
	case o.window < 100*time.Millisecond || o.window%100 != 0:
		return o, fmt.Errorf("-window %v: want at least 100ms, a whole number of 100ns", o.window)
	}
	if o.limit == 0 {
		o.limit = max(1, int(float64(o.nodes)*o.rate*o.window.Seconds()/2))
	}
	return o, nil
}

// run is the whole program; it returns the exit code. tty tells whether
// stdout is a terminal (the live view is drawn only there).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	}
	fmt.Fprintf(stderr, "demo: starting %d nodes on 127.0.0.1 ...\n", o.nodes)
	d, err := startDemo(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	if o.debug != "" {
		ds, err := startDebugServer(o.debug, d)
		if err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			_ = d.stop()
			return 1
		}
		defer ds.close()
		fmt.Fprintf(stderr, "demo: debug pages on http://%s/\n", ds.addr)
	}
	var v view
	if tty && !o.noTUI {
		v = newLiveView(stdout)
	} else {
		v = newPlainView(stdout)
	}
	sum := d.run(ctx, v)
	if err := d.stop(); err != nil {
		fmt.Fprintln(stderr, "demo: shutting down:", err)
	}
	fmt.Fprintln(stdout, sum.paragraph())
	if !sum.Converged {
		return 1
	}
	return 0
}
