package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/debugpage"
	"github.com/shoal-go/shoal/swarm/promshoal"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/ratelimit/httplimit"
)

type serveOptions struct {
	name      string
	bind      string
	port      int
	join      []string
	http      string
	admin     string
	limit     int
	window    time.Duration
	keyHeader string
	selector  string // Kubernetes label selector: find peers in cluster
	// cfg holds the -memberlist.* flags (and SHOAL_MEMBERLIST_*); -name,
	// -bind and -port are copied into it after parsing.
	cfg swarm.Config
}

// memberlistShorthands are the -memberlist.* flags that -name, -bind and
// -port stand for: not registered twice.
var memberlistShorthands = map[string]bool{
	"memberlist.nodename": true, "memberlist.bind-addr": true, "memberlist.bind-port": true,
}

func parseServe(args []string, stderr io.Writer) (serveOptions, error) {
	o := serveOptions{cfg: swarm.DefaultLANConfig("")}
	// Alone (peers down, or the first pod), retry the peers often.
	o.cfg.RediscoverInterval = 10 * time.Second
	fs := flag.NewFlagSet("ratelimit serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", "", "this server's node name, unique in the cluster (required)")
	fs.StringVar(&o.bind, "bind", "127.0.0.1", "gossip address (UDP and TCP); off loopback it needs -memberlist.secret-keys (or $SHOAL_MEMBERLIST_SECRET_KEYS)")
	fs.IntVar(&o.port, "port", 0, "gossip port; 0 picks a free one")
	join := fs.String("join", "", "comma-separated gossip ip:port of servers to join; retried every -memberlist.rediscover-interval while they are down")
	fs.StringVar(&o.http, "http", "127.0.0.1:8080", "HTTP listen address: the limited API, /healthz and /readyz")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:0", "admin listen address: /metrics and /debug/shoal (port 0: a free one, printed at start; empty: off)")
	fs.IntVar(&o.limit, "limit", 100, "requests the whole cluster admits per window")
	fs.DurationVar(&o.window, "window", 10*time.Second, "sliding window of the limit")
	fs.StringVar(&o.keyHeader, "key-header", "", "limit per client: the request header that names the client (e.g. X-Api-Key); empty: one limit for everyone")
	fs.StringVar(&o.selector, "kubernetes", "", "find peers in Kubernetes, in cluster: the label selector of the servers' pods (e.g. app.kubernetes.io/name=shoal-ratelimit); -name and -bind default to $POD_NAME and $POD_IP")
	ml := flag.NewFlagSet("memberlist", flag.ContinueOnError)
	o.cfg.RegisterFlags(ml, "memberlist.")
	ml.VisitAll(func(f *flag.Flag) {
		if !memberlistShorthands[f.Name] {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	// Every flag can also come from the environment: SHOAL_LIMIT,
	// SHOAL_MEMBERLIST_SECRET_KEYS (from a Kubernetes Secret), …
	if err := swarm.SetFromEnv(fs, nil); err != nil {
		return o, err
	}
	if o.selector != "" {
		// In a pod the downward API says who this is (examples/kubernetes).
		if o.name == "" {
			o.name = os.Getenv("POD_NAME")
		}
		if !isSet(fs, "bind") && os.Getenv("POD_IP") != "" {
			o.bind = os.Getenv("POD_IP")
		}
		if !isSet(fs, "port") {
			o.port = swarm.DefaultPort
		}
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case o.name == "":
		return o, errors.New("-name is required")
	case net.ParseIP(o.bind) == nil:
		return o, fmt.Errorf("-bind %q: not an IP address", o.bind)
	case o.port < 0 || o.port > 65535:
		return o, fmt.Errorf("-port %d: want 0 to 65535", o.port)
	case o.limit < 1:
		return o, fmt.Errorf("-limit %d: want at least 1", o.limit)
	}
	for _, a := range strings.Split(*join, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.join = append(o.join, a)
		}
	}
	o.cfg.Name, o.cfg.BindAddr, o.cfg.BindPort = o.name, o.bind, o.port
	return o, nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// server is one node of the cluster with its limiter and HTTP handlers.
type server struct {
	name    string
	node    *swarm.Node
	limiter *ratelimit.Limiter      // one limit for everyone, or
	keyed   *ratelimit.KeyedLimiter // one limit per client
	decider httplimit.Decider
	header  string
	metrics *promshoal.RateLimitMetrics
	rec     promshoal.RateLimitRecorder
	reg     *prometheus.Registry
}

// newServer registers the limit on node n. With keyHeader set the limit is
// per client, keyed by that header.
func newServer(n *swarm.Node, limit int, window time.Duration, keyHeader string) (*server, error) {
	s := &server{name: n.Name(), node: n, header: keyHeader, reg: prometheus.NewRegistry()}
	s.metrics = promshoal.NewRateLimitMetrics(promshoal.Options{})
	s.rec = s.metrics.For("api")
	var err error
	if keyHeader == "" {
		s.limiter, err = ratelimit.New(n, "api", ratelimit.Config{Limit: limit, Window: window})
		if err == nil {
			s.metrics.Track("api", s.limiter)
			s.decider = httplimit.Cluster(s.limiter)
		}
	} else {
		s.keyed, err = ratelimit.NewKeyed(n, "api-per-client", ratelimit.KeyedConfig{Limit: limit, Window: window})
		if err == nil {
			s.decider = httplimit.PerKey(s.keyed, window)
		}
	}
	if err != nil {
		return nil, err
	}
	s.reg.MustRegister(promshoal.NewCollector(n, promshoal.Options{}), s.metrics)
	return s, nil
}

// observed counts every decision in the rate-limit metrics.
type observed struct {
	httplimit.Decider
	rec promshoal.RateLimitRecorder
}

func (o observed) Decide(now time.Time, key string, n int) ratelimit.Decision {
	return o.rec.ObserveDecision(o.Decider.Decide(now, key, n))
}

// Handler serves the public port: / behind the limit (httplimit's
// middleware), /healthz (the process serves) and /readyz (the node runs).
func (s *server) Handler() http.Handler {
	opts := httplimit.Options{
		Policy: "api",
		Deny: func(w http.ResponseWriter, _ *http.Request, d ratelimit.Decision) {
			w.Header().Set("X-Served-By", s.name)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprintf(w, "rate limited by the cluster: retry after %d s\n", d.RetryAfterSeconds())
		},
	}
	if s.header != "" {
		key := httplimit.Header(s.header)
		opts.Key = func(r *http.Request) (string, error) {
			if k, err := key(r); err == nil {
				return k, nil
			}
			return "anonymous", nil // clients without the header share one limit
		}
	}
	limit, err := httplimit.New(observed{s.decider, s.rec}, opts)
	if err != nil {
		panic(err) // the options above are valid
	}
	mux := http.NewServeMux()
	mux.Handle("/", limit(http.HandlerFunc(s.serveAdmitted)))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		h := s.node.Health()
		if !h.Ready {
			http.Error(w, "not ready: the node has left", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ready: %d members, health score %d\n", h.Members, h.Score)
	})
	return mux
}

// AdminHandler serves the admin port: /metrics and /debug/shoal, which
// show members, addresses and values, so not on the public port.
func (s *server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/debug/shoal", debugpage.Handler(s.node))
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

func (s *server) serveAdmitted(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("X-Served-By", s.name)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "hello from %s (%s left in this window)\n", s.name, h.Get("X-RateLimit-Remaining"))
}

// Close closes the limiter (not the node).
func (s *server) Close() error {
	if s.keyed != nil {
		s.keyed.Close()
		return nil
	}
	return s.limiter.Close()
}

func serveMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseServe(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := o.cfg
	cfg.Logger = log
	switch {
	case o.selector != "":
		k, err := discovery.NewKubernetes(discovery.KubernetesConfig{
			InCluster: true, LabelSelector: o.selector, Port: uint16(o.port),
		})
		if err != nil {
			fmt.Fprintln(stderr, "ratelimit serve:", err)
			return 1
		}
		cfg.Discovery = k // re-queried: pods that start later are joined
	case len(o.join) > 0:
		var peers []discovery.Peer
		for _, a := range o.join {
			p, err := discovery.ParsePeer(a)
			if err != nil {
				fmt.Fprintln(stderr, "ratelimit serve: -join:", err)
				return 2
			}
			peers = append(peers, p)
		}
		st, err := discovery.NewStatic(peers...)
		if err != nil {
			fmt.Fprintln(stderr, "ratelimit serve: -join:", err)
			return 2
		}
		cfg.Discovery = st // re-tried while the peers are down
	}
	n, err := swarm.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		return 1
	}
	defer func() { _ = n.Leave() }()
	if cfg.Discovery != nil {
		// No peer up yet (the first pod, or peers restarting) is not an
		// error: serve alone meanwhile; re-discovery joins them later.
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := n.JoinDiscovered(jctx); err != nil {
			log.Warn("no peer reachable yet; serving alone and retrying",
				"every", cfg.RediscoverInterval, "err", err)
		}
		cancel()
	}
	s, err := newServer(n, o.limit, o.window, o.keyHeader)
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		return 1
	}
	defer s.Close()

	servers := []*http.Server{{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	lns := make([]net.Listener, 0, 2)
	ln, err := net.Listen("tcp", o.http)
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		return 1
	}
	lns = append(lns, ln)
	adminAt := "off"
	if o.admin != "" {
		aln, err := net.Listen("tcp", o.admin)
		if err != nil {
			_ = ln.Close()
			fmt.Fprintln(stderr, "ratelimit serve: admin:", err)
			return 1
		}
		lns = append(lns, aln)
		servers = append(servers, &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second})
		adminAt = "http://" + aln.Addr().String()
	}
	scope := "for everyone"
	if o.keyHeader != "" {
		scope = "per " + o.keyHeader
	}
	fmt.Fprintf(stdout, "%s: gossip on %s, http on http://%s (limit %d per %s %s), admin on %s (/metrics, /debug/shoal)\n",
		o.name, n.Addr(), ln.Addr(), o.limit, o.window, scope, adminAt)
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		go func() { errc <- hs.Serve(lns[i]) }()
	}
	code := 0
	select {
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		code = 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil {
			fmt.Fprintln(stderr, "ratelimit serve: shutdown:", err)
		}
	}
	fmt.Fprintf(stdout, "%s: stopped\n", o.name)
	return code
}
