// Command counter is one process of a cluster-wide counter. Start it in
// two or three terminals, join them, add on any of them, and watch every
// process print the same sum:
//
//	go run ./examples/counter -name a -port 7001
//	go run ./examples/counter -name b -port 7002 -join 127.0.0.1:7001
//	go run ./examples/counter -name c -port 7003 -join 127.0.0.1:7001 -add 5
//
// Off loopback (-bind 10.0.0.5), give every process the same gossip key:
// SHOAL_SECRET_KEYS=$(head -c32 /dev/urandom | base64) in the environment,
// or -secret-keys.
//
// Each line typed on standard input is a number to add (an empty line adds
// 1), or a tenant and a number ("acme 5") to add to that tenant's counter
// in a per-tenant counter map. Every process prints the value (and the
// number of live members) whenever either changes, and a tenant's value
// when it is added to. Ctrl-C leaves the cluster gracefully.
//
// With -state DIR the process writes a snapshot of its values there every
// -snapshot-interval and when it leaves, and loads it when it starts: the
// counts survive a restart of every process at once (a crash loses at most
// the last interval):
//
//	go run ./examples/counter -name a -port 7001 -state /tmp/counter-a
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-go/shoal/swarm"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

type options struct {
	name     string
	bind     string
	port     int
	join     []string
	add      int64
	count    int
	value    string
	state    string
	interval time.Duration
	// security holds -secret-keys and -allow-plaintext (or
	// SHOAL_SECRET_KEYS, SHOAL_ALLOW_PLAINTEXT): off loopback a node needs
	// one of them.
	security swarm.Config
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	host, _ := os.Hostname()
	o := options{}
	fs := flag.NewFlagSet("counter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", fmt.Sprintf("%s-%d", host, os.Getpid()), "this node's name, unique in the cluster")
	fs.StringVar(&o.bind, "bind", "127.0.0.1", "address to listen on (UDP and TCP)")
	fs.IntVar(&o.port, "port", 0, "port to listen on; 0 picks a free one (printed at start)")
	join := fs.String("join", "", "comma-separated host:port of nodes to join")
	fs.Int64Var(&o.add, "add", 0, "add this much once, after joining")
	fs.IntVar(&o.count, "count", 0, "add 1 this many times, after joining")
	fs.StringVar(&o.value, "counter", "clicks", "name of the shared counter")
	fs.StringVar(&o.state, "state", "", "directory for snapshots; empty: nothing survives a restart")
	fs.DurationVar(&o.interval, "snapshot-interval", 10*time.Second, "how often to write a snapshot (with -state)")
	ml := flag.NewFlagSet("memberlist", flag.ContinueOnError)
	o.security.RegisterFlags(ml, "")
	for _, name := range []string{"secret-keys", "allow-plaintext"} {
		f := ml.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := swarm.SetFromEnv(fs, nil); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if net.ParseIP(o.bind) == nil {
		return o, fmt.Errorf("-bind %q: not an IP address", o.bind)
	}
	if o.count < 0 {
		return o, fmt.Errorf("-count %d: want 0 or more", o.count)
	}
	if o.interval <= 0 {
		return o, fmt.Errorf("-snapshot-interval %v: want more than 0", o.interval)
	}
	if o.port < 0 || o.port > 65535 {
		return o, fmt.Errorf("-port %d: want 0 to 65535", o.port)
	}
	for _, a := range strings.Split(*join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return o, fmt.Errorf("-join %q: %w", a, err)
			}
			o.join = append(o.join, a)
		}
	}
	return o, nil
}

// run is the program; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "counter:", err)
		return 2
	}
	cfg := swarm.DefaultLANConfig(o.name)
	if ip := net.ParseIP(o.bind); ip.IsLoopback() {
		cfg = swarm.DefaultLocalConfig(o.name) // faster timings on one host
	}
	cfg.BindAddr, cfg.BindPort = o.bind, o.port
	cfg.StateDir, cfg.SnapshotInterval = o.state, o.interval
	cfg.SecretKeys, cfg.AllowPlaintext = o.security.SecretKeys, o.security.AllowPlaintext
	n, err := swarm.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "counter:", err)
		return 1
	}
	defer func() {
		if err := n.Leave(); err != nil && !errors.Is(err, swarm.ErrClosed) {
			fmt.Fprintln(stderr, "counter: leave:", err)
		}
	}()
	fmt.Fprintf(stdout, "%s: listening on %s\n", o.name, n.Addr())

	ctr, err := swarm.NewCounter(n, o.value)
	if err != nil {
		fmt.Fprintln(stderr, "counter:", err)
		return 1
	}
	tenants, err := swarm.NewCounterMap[string](n, o.value+"-per-tenant")
	if err != nil {
		fmt.Fprintln(stderr, "counter:", err)
		return 1
	}
	changed, cancel := ctr.Shared().Subscribe()
	defer cancel()
	memberEvents, cancelMembers := n.SubscribeMembers(16)
	defer cancelMembers()

	if len(o.join) > 0 {
		jctx, jcancel := context.WithTimeout(ctx, 10*time.Second)
		k, err := n.Join(jctx, o.join...)
		jcancel()
		if err != nil {
			fmt.Fprintln(stderr, "counter:", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: joined %d of %d peers\n", o.name, k, len(o.join))
	}
	if o.add != 0 {
		if err := ctr.Add(o.add); err != nil {
			fmt.Fprintln(stderr, "counter:", err)
			return 1
		}
	}
	for range o.count {
		if err := ctr.Add(1); err != nil {
			fmt.Fprintln(stderr, "counter:", err)
			return 1
		}
	}
	if o.count > 0 {
		fmt.Fprintf(stdout, "%s: counted %d\n", o.name, o.count)
	}
	snapshots := time.NewTicker(100 * time.Millisecond)
	defer snapshots.Stop()
	var lastSnapshot uint64

	lines := make(chan string)
	go readLines(stdin, lines) // ends with stdin; never waited for

	type state struct{ value, members int64 }
	var last state
	printed := false
	show := func() {
		v, err := ctr.Value()
		if err != nil {
			return
		}
		now := state{v, int64(n.Stats().Members)}
		if printed && now == last {
			return
		}
		last, printed = now, true
		fmt.Fprintf(stdout, "%s: value=%d members=%d\n", o.name, now.value, now.members)
	}
	show()
	for {
		select {
		case <-ctx.Done():
			show()
			fmt.Fprintf(stdout, "%s: leaving\n", o.name)
			return 0
		case <-changed:
			show()
		case <-snapshots.C:
			if s := n.Stats().Snapshots; s != lastSnapshot && o.state != "" {
				lastSnapshot = s
				v, _ := ctr.Value()
				fmt.Fprintf(stdout, "%s: snapshot %d value=%d\n", o.name, s, v)
			}
		case _, ok := <-memberEvents:
			if !ok {
				memberEvents = nil
			}
			show()
		case line, ok := <-lines:
			if !ok {
				lines = nil // stdin closed: keep running until signalled
				continue
			}
			if tenant, d, ok := parseTenantAdd(line); ok {
				if err := tenants.Add(tenant, d); err != nil {
					fmt.Fprintln(stderr, "counter:", err)
					continue
				}
				v, _ := tenants.Value(tenant)
				fmt.Fprintf(stdout, "%s: tenant %s=%d\n", o.name, tenant, v)
				continue
			}
			d, err := parseAdd(line)
			if err != nil {
				fmt.Fprintln(stderr, "counter:", err)
				continue
			}
			if err := ctr.Add(d); err != nil {
				fmt.Fprintln(stderr, "counter:", err)
				return 1
			}
			show()
		}
	}
}

func readLines(r io.Reader, out chan<- string) {
	defer close(out)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		out <- sc.Text()
	}
}

// parseTenantAdd reads "tenant n"; ok is false for any other line.
func parseTenantAdd(line string) (tenant string, n int64, ok bool) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return "", 0, false
	}
	d, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return f[0], d, true
}

// parseAdd reads one stdin line: an integer, or empty for 1.
func parseAdd(line string) (int64, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return 1, nil
	}
	d, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: type a whole number to add (empty line: 1)", line)
	}
	return d, nil
}
