package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
)

type serveOptions struct {
	name      string
	bind      string
	port      int
	join      []string
	http      string
	limit     int
	window    time.Duration
	keyHeader string
	selector  string // Kubernetes label selector: find peers in cluster
}

func parseServe(args []string, stderr io.Writer) (serveOptions, error) {
	var o serveOptions
	fs := flag.NewFlagSet("ratelimit serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", "", "this server's node name, unique in the cluster (required)")
	fs.StringVar(&o.bind, "bind", "127.0.0.1", "gossip address (UDP and TCP)")
	fs.IntVar(&o.port, "port", 0, "gossip port; 0 picks a free one")
	join := fs.String("join", "", "comma-separated gossip host:port of servers to join")
	fs.StringVar(&o.http, "http", "127.0.0.1:8080", "HTTP listen address")
	fs.IntVar(&o.limit, "limit", 100, "requests the whole cluster admits per window")
	fs.DurationVar(&o.window, "window", 10*time.Second, "sliding window of the limit")
	fs.StringVar(&o.keyHeader, "key-header", "", "limit per client: the request header that names the client (e.g. X-Api-Key); empty: one limit for everyone")
	fs.StringVar(&o.selector, "kubernetes", "", "find peers in Kubernetes, in cluster: the label selector of the servers' pods (e.g. app=shoal-ratelimit); -name and -bind default to $POD_NAME and $POD_IP")
	if err := fs.Parse(args); err != nil {
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
	return o, nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// server is one node of the cluster with its limiter and HTTP handler.
type server struct {
	name    string
	node    *swarm.Node
	limiter *ratelimit.Limiter      // one limit for everyone, or
	keyed   *ratelimit.KeyedLimiter // one limit per client
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
		}
	} else {
		s.keyed, err = ratelimit.NewKeyed(n, "api-per-client", ratelimit.KeyedConfig{Limit: limit, Window: window})
	}
	if err != nil {
		return nil, err
	}
	s.reg.MustRegister(promshoal.NewCollector(n, promshoal.Options{}), s.metrics)
	return s, nil
}

// Handler serves / behind the limit, the debug page and the metrics.
func (s *server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", http.HandlerFunc(s.serveLimited))
	mux.Handle("/debug/shoal", debugpage.Handler(s.node))
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

func (s *server) decide(r *http.Request) ratelimit.Decision {
	if s.keyed != nil {
		key := r.Header.Get(s.header)
		if key == "" {
			key = "anonymous"
		}
		return s.keyed.DecideN(time.Now(), key, 1)
	}
	return s.limiter.Decide()
}

func (s *server) serveLimited(w http.ResponseWriter, r *http.Request) {
	d := s.rec.ObserveDecision(s.decide(r))
	h := w.Header()
	d.SetHeaders(h)
	h.Set("X-Served-By", s.name)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if !d.Allowed {
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, "rate limited by the cluster: retry after %d s\n", d.RetryAfterSeconds())
		return
	}
	fmt.Fprintf(w, "hello from %s (%d left in this window)\n", s.name, d.Remaining)
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
	cfg := swarm.DefaultLANConfig(o.name)
	if net.ParseIP(o.bind).IsLoopback() {
		cfg = swarm.DefaultLocalConfig(o.name)
	}
	cfg.BindAddr, cfg.BindPort = o.bind, o.port
	if o.selector != "" {
		k, err := discovery.NewKubernetes(discovery.KubernetesConfig{
			InCluster: true, LabelSelector: o.selector, Port: uint16(o.port),
		})
		if err != nil {
			fmt.Fprintln(stderr, "ratelimit serve:", err)
			return 1
		}
		cfg.Discovery = k // re-queried every 30 s: pods that start later are joined
	}
	n, err := swarm.New(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		return 1
	}
	defer func() { _ = n.Leave() }()
	if len(o.join) > 0 {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := n.Join(jctx, o.join...)
		cancel()
		if err != nil {
			fmt.Fprintln(stderr, "ratelimit serve:", err)
			return 1
		}
	}
	if o.selector != "" {
		// The first pod finds no one; that is not an error.
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if _, err := n.JoinDiscovered(jctx); err != nil {
			fmt.Fprintln(stderr, "ratelimit serve: no peer yet:", err)
		}
		cancel()
	}
	s, err := newServer(n, o.limit, o.window, o.keyHeader)
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		return 1
	}
	defer s.Close()

	ln, err := net.Listen("tcp", o.http)
	if err != nil {
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		return 1
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	scope := "for everyone"
	if o.keyHeader != "" {
		scope = "per " + o.keyHeader
	}
	fmt.Fprintf(stdout, "%s: gossip on %s, http on http://%s (limit %d per %s %s; debug page /debug/shoal, metrics /metrics)\n",
		o.name, n.Addr(), ln.Addr(), o.limit, o.window, scope)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		fmt.Fprintln(stderr, "ratelimit serve:", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		fmt.Fprintln(stderr, "ratelimit serve: shutdown:", err)
	}
	fmt.Fprintf(stdout, "%s: stopped\n", o.name)
	return 0
}
