package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-go/shoal/internal/bench/ratelimitbench"
)

// runClassicLimitCmd measures skipper's gossip cluster limiter algorithm
// over shoal's classic API next to shoal's ratelimit.Limiter, on the same
// load: N nodes, even and 80/20 load, and prints the side-by-side table of
// examples/skipper/README.md.
func runClassicLimitCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("classiclimit", flag.ContinueOnError)
	fs.SetOutput(errOut)
	nodesFlag := fs.String("nodes", "3,10", "comma-separated cluster sizes")
	limit := fs.Int("limit", 100, "events per window, cluster-wide")
	window := fs.Duration("window", 10*time.Second, "sliding window")
	duration := fs.Duration("duration", 30*time.Second, "length of each measured run")
	offered := fs.Float64("offered", 2, "offered load as a multiple of the limit")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var sizes []int
	for _, f := range strings.Split(*nodesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%w: -nodes %q", errBadFlag, *nodesFlag)
		}
		sizes = append(sizes, n)
	}
	prog := newProgress(errOut)
	fmt.Fprintf(out, "limit %d per %v, offered %.1f×, %v per run, sliding windows; admitted/L mean / worst, and the cost of one Allow (p50)\n\n",
		*limit, *window, *offered, *duration)
	fmt.Fprintln(out, "| N, load | skipper's algorithm on shoal classic | shoal `ratelimit.Limiter` |")
	fmt.Fprintln(out, "|---|---|---|")
	for _, n := range sizes {
		for _, skew := range []float64{0, 0.8} {
			row := []string{fmt.Sprintf("%d, %s", n, map[bool]string{true: "even", false: "80/20"}[skew == 0])}
			for _, b := range []string{ratelimitbench.BackendSkipperClassic, ratelimitbench.BackendShoal} {
				p := ratelimitbench.Params{Backend: b, Nodes: n, Limit: *limit, Window: *window, Duration: *duration, Offered: *offered, Skew: skew}
				r, err := runRatelimit(ctx, p, prog)
				if err != nil {
					return err
				}
				row = append(row, fmt.Sprintf("%.3f / %.2f (%s)", r.AdmittedRatioMean, r.AdmittedRatioWorst, allowCost(r.AllowNsP50)))
			}
			fmt.Fprintf(out, "| %s |\n", strings.Join(row, " | "))
		}
	}
	fmt.Fprintf(out, "\ncommand: go run ./internal/cmd/shoalbench classiclimit -nodes %s -limit %d -window %v -duration %v -offered %g\n",
		*nodesFlag, *limit, *window, *duration, *offered)
	return nil
}

func allowCost(ns float64) string {
	if ns >= 1000 {
		return fmt.Sprintf("%.1f µs", ns/1000)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
