// Command labnode is one shoal node driven over stdin and stdout: the
// process the fault lab (internal/lab) starts in each network namespace.
//
//	labnode -name n1 -bind 10.213.7.1 -port 7946 -join 10.213.7.2:7946,10.213.7.3:7946
//
// It starts a node with DefaultLANConfig timings shortened for a test
// (gossip every 100 ms, anti-entropy every second, probes every 500 ms),
// registers the counter "lab", joins the -join peers (retrying until one
// answers or -join-timeout passes), re-joins the -peers list every
// -rediscover (so two halves of a healed partition find each other), and
// prints "ready ADDR". Then it answers one line per command on stdin:
//
//	add N     -> ok             (adds N to this node's slot)
//	value     -> value V        (the cluster-wide sum as this node sees it)
//	members   -> members K a,b  (the K live members, sorted by name)
//	replica   -> replica NAME INCARNATION
//	stats     -> stats {JSON of swarm.Stats}
//	quit      -> bye            (after Leave), then it exits 0
//
// A bad command is answered "error MESSAGE" and the node carries on. When
// stdin ends (the test process died) the node closes and exits, so no
// labnode outlives its driver.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/swarm"
)

// CounterName is the name of the counter every labnode shares.
const CounterName = "lab"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are labnode's flags.
type options struct {
	name        string
	bind        string
	port        int
	join        []string
	peers       []string
	gossip      time.Duration
	pushPull    time.Duration
	probe       time.Duration
	rediscover  time.Duration
	joinTimeout time.Duration
	verbose     bool
}

// parseFlags parses args; errors (and -h) are reported to stderr.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var join, peers string
	fs := flag.NewFlagSet("labnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", "", "node name, unique in the cluster (required)")
	fs.StringVar(&o.bind, "bind", "127.0.0.1", "IP address to listen on")
	fs.IntVar(&o.port, "port", swarm.DefaultPort, "UDP and TCP port (0 picks a free one)")
	fs.StringVar(&join, "join", "", "comma-separated ip:port peers to join at start")
	fs.StringVar(&peers, "peers", "", "comma-separated ip:port peers to re-join every -rediscover (default: the -join list)")
	fs.DurationVar(&o.gossip, "gossip", 100*time.Millisecond, "gossip interval")
	fs.DurationVar(&o.pushPull, "pushpull", time.Second, "anti-entropy (push/pull) interval")
	fs.DurationVar(&o.probe, "probe", 500*time.Millisecond, "failure-detection probe interval")
	fs.DurationVar(&o.rediscover, "rediscover", time.Second, "re-discovery interval")
	fs.DurationVar(&o.joinTimeout, "join-timeout", 20*time.Second, "how long to retry the initial join")
	fs.BoolVar(&o.verbose, "v", false, "log the node's and memberlist's lines to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("labnode: unexpected arguments %q", fs.Args())
	}
	if o.name == "" {
		return o, errors.New("labnode: -name is required")
	}
	o.join = splitList(join)
	o.peers = splitList(peers)
	if o.peers == nil {
		o.peers = o.join
	}
	return o, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// config returns the node's configuration.
func (o options) config(stderr io.Writer) (swarm.Config, error) {
	cfg := swarm.DefaultLANConfig(o.name)
	cfg.BindAddr = o.bind
	cfg.AllowPlaintext = true // the lab's network namespaces reach only each other
	cfg.BindPort = o.port
	cfg.GossipInterval = o.gossip
	cfg.PushPullInterval = o.pushPull
	cfg.ProbeInterval = o.probe
	if cfg.ProbeTimeout > o.probe {
		cfg.ProbeTimeout = o.probe
	}
	if o.verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if len(o.peers) > 0 {
		var ps []discovery.Peer
		for _, a := range o.peers {
			ap, err := netip.ParseAddrPort(a)
			if err != nil {
				return cfg, fmt.Errorf("labnode: peer %q: %w", a, err)
			}
			ps = append(ps, discovery.Peer{Name: a, Addr: ap})
		}
		d, err := discovery.NewStatic(ps...)
		if err != nil {
			return cfg, fmt.Errorf("labnode: peers: %w", err)
		}
		cfg.Discovery = d
		cfg.RediscoverInterval = o.rediscover
		// The lab's six nodes heal partitions by re-discovery every
		// o.rediscover; the fleet-wide rate bound is for API servers.
		cfg.DiscoveryFleetRate = 1000
	}
	return cfg, nil
}

// run is main with its environment as arguments; it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, err)
		return 2
	}
	cfg, err := o.config(stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	n, err := swarm.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "labnode: start: %v\n", err)
		return 1
	}
	defer n.Close()
	c, err := swarm.NewCounter(n, CounterName)
	if err != nil {
		fmt.Fprintf(stderr, "labnode: counter: %v\n", err)
		return 1
	}
	if len(o.join) > 0 {
		if err := joinRetry(n, o.join, o.joinTimeout); err != nil {
			fmt.Fprintf(stderr, "labnode: %v\n", err)
			return 1
		}
	}
	if _, err := fmt.Fprintf(stdout, "ready %s\n", n.Addr()); err != nil {
		return 1
	}
	ctl := &control{node: n, counter: c}
	if err := ctl.serve(stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "labnode: %v\n", err)
		return 1
	}
	return 0
}

// joinRetry joins peers, trying again every 200 ms until one answers or
// timeout passes: peers started at the same moment may not listen yet, and
// under packet loss a join can fail.
func joinRetry(n *swarm.Node, peers []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		_, err := n.Join(ctx, peers...)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join %v within %v: %w", peers, timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
