// Command ratelimit is an HTTP server behind a cluster-wide rate limit, and
// a load generator to watch the limit hold across several servers.
//
// Start three servers that share one limit of 100 requests per 10 s:
//
//	go run ./examples/ratelimit serve -name a -port 7001 -http 127.0.0.1:8081
//	go run ./examples/ratelimit serve -name b -port 7002 -http 127.0.0.1:8082 -join 127.0.0.1:7001
//	go run ./examples/ratelimit serve -name c -port 7003 -http 127.0.0.1:8083 -join 127.0.0.1:7001
//
// and offer them twice the limit, spread over all three:
//
//	go run ./examples/ratelimit load -rate 20 -duration 30s \
//	    -targets http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083
//
// A denied request gets 429 Too Many Requests with Retry-After; every
// response carries the IETF RateLimit and RateLimit-Policy fields and
// X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset
// (swarm/ratelimit/httplimit). The load command prints, per window, how
// many requests the whole cluster admitted. Each server serves /healthz
// and /readyz next to the API, and its debug page (/debug/shoal) and
// Prometheus metrics (/metrics) on a separate admin port (-admin). A
// server whose -join peers are down serves alone and keeps retrying them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  ratelimit serve [flags]   run an HTTP server behind the cluster rate limit
  ratelimit load [flags]    offer load to servers and report admissions per window
Run "ratelimit serve -h" or "ratelimit load -h" for the flags.
`

// run dispatches the subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serveMain(ctx, args[1:], stdout, stderr)
	case "load":
		return loadMain(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "ratelimit: unknown command %q\n%s", args[0], usage)
	return 2
}
