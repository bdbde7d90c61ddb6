package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // SHOALBENCH_PPROF
	"os"
	"os/signal"
	"runtime/pprof"
)

// errUsage is returned for a missing or unknown scenario or a bad flag.
var errUsage = errors.New("shoalbench: usage")

const usage = `usage: shoalbench SCENARIO [flags]

scenarios:
  convergence  time until every node reads an update (and memberlist's relay reference)
  traffic      bytes and messages per node per second against the update rate
  scale        membership and convergence of hundreds of simulated nodes
  antientropy  digest anti-entropy: a quiet exchange's bytes and a joiner's catch-up
  burst        time until thousands of values changed in one flush reach every node
  leave        how long Leave takes with many values changed and not yet flushed
  ratelimit    cluster rate-limit accuracy (internal/bench/ratelimitbench)
  classiclimit skipper's cluster limiter on the classic API next to shoal's limiter
  soak         10 nodes under traffic, rolling restarts and bursts: growth of heap, goroutines, state, queue, slots
  report       run the standard set and write docs/BENCHMARKS.md

run "shoalbench SCENARIO -h" for a scenario's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	slowTracePath = os.Getenv("SHOALBENCH_SLOWTRACE")
	stopProfile, err := startProfile(os.Getenv("SHOALBENCH_CPUPROFILE"))
	if err == nil {
		err = servePprof(os.Getenv("SHOALBENCH_PPROF"))
	}
	if err == nil {
		go fleetPacer.run(ctx)
		err = run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stopProfile()
	}
	stop()
	if err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "shoalbench:", err)
		}
		os.Exit(2)
	}
}

// run executes one scenario with its arguments; out receives the results,
// errOut usage and progress.
func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, usage)
		return errUsage
	}
	scenario, rest := args[0], args[1:]
	switch scenario {
	case "convergence":
		return runConvergenceCmd(ctx, rest, out, errOut)
	case "traffic":
		return runTrafficCmd(ctx, rest, out, errOut)
	case "scale":
		return runScaleCmd(ctx, rest, out, errOut)
	case "antientropy":
		return runAntiEntropyCmd(ctx, rest, out, errOut)
	case "burst":
		return runBurstCmd(ctx, rest, out, errOut)
	case "leave":
		return runLeaveCmd(ctx, rest, out, errOut)
	case "ratelimit":
		return runRatelimitCmd(ctx, rest, out, errOut)
	case "classiclimit":
		return runClassicLimitCmd(ctx, rest, out, errOut)
	case "soak":
		return runSoakCmd(ctx, rest, out, errOut)
	case "report":
		return runReportCmd(ctx, rest, out, errOut)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(errOut, usage)
		return nil
	default:
		fmt.Fprintf(errOut, "shoalbench: unknown scenario %q\n\n%s", scenario, usage)
		return errUsage
	}
}

// startProfile writes a CPU profile of the whole run to path, if set
// (SHOALBENCH_CPUPROFILE): every node runs in this process, so it shows
// where a scenario's CPU goes.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("SHOALBENCH_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("SHOALBENCH_CPUPROFILE: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "shoalbench: SHOALBENCH_CPUPROFILE:", err)
		}
	}, nil
}

// servePprof serves net/http/pprof on addr, if set (SHOALBENCH_PPROF, for
// example 127.0.0.1:6060): a heap profile of a long soak shows what grows.
func servePprof(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("SHOALBENCH_PPROF: %w", err)
	}
	go func() { _ = http.Serve(ln, nil) }()
	return nil
}
