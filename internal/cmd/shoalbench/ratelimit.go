package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/shoal-go/shoal/internal/bench/ratelimitbench"
)

// ratelimitResult is one rate-limit accuracy row, from ratelimitbench.
type ratelimitResult struct {
	Scenario string `json:"scenario"`
	ratelimitbench.Result
	// Label names the run in tables and plots ("10 nodes even W=10s").
	Label string `json:"label"`
	// Command reproduces the run.
	Command string `json:"command"`
}

func (r ratelimitResult) columns() []string {
	return []string{"backend", "run", "nodes", "limit/window", "offered", "admitted/L mean", "worst", "min", "allow ns p50", "bytes/node/s", "cpu/node", "note"}
}

func (r ratelimitResult) cells() []string {
	p := r.Params
	if r.Skipped != "" {
		return []string{r.Backend, r.Label, fmt.Sprint(p.Nodes), fmt.Sprintf("%d/%v", p.Limit, p.Window), fmt.Sprintf("%.1f×", p.Offered),
			"-", "-", "-", "-", "-", "-", "skipped: " + r.Skipped}
	}
	bytes := "-"
	if r.Backend == ratelimitbench.BackendShoal {
		bytes = humanBytes(r.WireBytesPerSecPerNode)
	}
	note := fmt.Sprintf("max stall %.0f ms", r.MaxStallMs)
	if r.KeysOverloaded > 0 {
		note = fmt.Sprintf("%d keys ≥ 1.2·L; ", r.KeysOverloaded) + note
	}
	return []string{r.Backend, r.Label, fmt.Sprint(p.Nodes), fmt.Sprintf("%d/%v", p.Limit, p.Window), fmt.Sprintf("%.1f×", p.Offered),
		fmt.Sprintf("%.3f", r.AdmittedRatioMean), fmt.Sprintf("%.3f", r.AdmittedRatioWorst), fmt.Sprintf("%.3f", r.AdmittedRatioMin),
		fmt.Sprintf("%.0f", r.AllowNsP50), bytes, fmt.Sprintf("%.1f%%", 100*r.CPUPerNode), note}
}

// ratelimitLabel describes a run's load.
func ratelimitLabel(p ratelimitbench.Params) string {
	load := "even"
	if p.Skew > 0 {
		load = fmt.Sprintf("%.0f%% on one node", 100*p.Skew)
	}
	if p.Churn {
		load += ", churn"
	}
	if k := p.Keyed; k != nil {
		load = fmt.Sprintf("keyed, %d keys %s, %d/%v each", k.Keys, k.Dist, k.Limit, k.Window)
		if k.Dist == ratelimitbench.DistZipf {
			load = fmt.Sprintf("keyed, %d keys zipf %g, %d/%v each, %g req/s/node", k.Keys, k.ZipfS, k.Limit, k.Window, k.Rate)
		}
	}
	return fmt.Sprintf("%s, W=%v, %v", load, p.Window, p.Duration)
}

func runRatelimitCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("ratelimit", flag.ContinueOnError)
	fs.SetOutput(errOut)
	p := ratelimitbench.Params{}
	backend := fs.String("backend", "shoal", "shoal, redis (a local redis-server started by the benchmark; two round trips per request), redis-lua (one Lua script per request), both (shoal and redis) or all")
	fs.IntVar(&p.Nodes, "nodes", 3, "limiter instances sharing the limit")
	fs.IntVar(&p.Limit, "limit", 1000, "events per window, cluster-wide")
	fs.DurationVar(&p.Window, "window", 10*time.Second, "sliding window")
	fs.DurationVar(&p.Duration, "duration", 60*time.Second, "length of the measured run")
	fs.Float64Var(&p.Offered, "offered", 2, "offered load as a multiple of the limit")
	fs.Float64Var(&p.Skew, "skew", 0, "share of the load offered to one node (0: even)")
	fs.BoolVar(&p.Churn, "churn", false, "kill one node at a third of the run and add one at half")
	keyed := fs.Bool("keyed", false, "run the keyed limiter scenario (default: 10,000 keys, Zipf 1.1, 100 per minute each, 1,000 req/s per node)")
	kp := ratelimitbench.KeyedParams{}
	fs.IntVar(&kp.Keys, "keys", 0, "keyed: number of keys (default 10,000)")
	fs.IntVar(&kp.Limit, "key-limit", 0, "keyed: limit per key per window (default 100)")
	fs.DurationVar(&kp.Window, "key-window", 0, "keyed: window (default 1m)")
	fs.Float64Var(&kp.Rate, "key-rate", 0, "keyed: requests per second per node (default 1,000 for zipf; for even, -offered times each key's limit)")
	fs.StringVar(&kp.Dist, "key-dist", "", "keyed: zipf (default) or even (every key in turn, the nodes taking turns)")
	fs.Float64Var(&kp.ZipfS, "zipf-s", 0, "keyed: Zipf exponent (default 1.1)")
	svg := fs.String("svg", "", "also write admitted-per-window over time against the limit as an SVG plot")
	asJSON := fs.Bool("json", false, "print one JSON object per result on stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *keyed || kp != (ratelimitbench.KeyedParams{}) {
		p.Keyed = &kp
	}
	var backends []string
	switch *backend {
	case ratelimitbench.BackendShoal, ratelimitbench.BackendRedis, ratelimitbench.BackendRedisLua:
		backends = []string{*backend}
	case "both":
		backends = []string{ratelimitbench.BackendShoal, ratelimitbench.BackendRedis}
	case "all":
		backends = []string{ratelimitbench.BackendShoal, ratelimitbench.BackendRedis, ratelimitbench.BackendRedisLua}
	default:
		return fmt.Errorf("%w: -backend %q (want shoal, redis, redis-lua, both or all)", errBadFlag, *backend)
	}
	pr := &printer{w: out, json: *asJSON}
	var results []ratelimitResult
	for _, b := range backends {
		q := p
		q.Backend = b
		r, err := runRatelimit(ctx, q, newProgress(errOut))
		if err != nil {
			return err
		}
		results = append(results, r)
		if err := pr.add(r); err != nil {
			return err
		}
	}
	if *svg != "" {
		if err := writeFile(*svg, ratelimitPlot(results)); err != nil {
			return err
		}
	}
	return pr.flush()
}

// runRatelimit runs one ratelimitbench scenario, its phase lines going to
// the progress writer.
func runRatelimit(ctx context.Context, p ratelimitbench.Params, prog *progress) (ratelimitResult, error) {
	var w io.Writer
	if prog != nil {
		w = progressLines{prog}
	}
	paceAsFleet(p.Nodes)
	r, err := ratelimitbench.Run(ctx, p, w)
	paceAsFleet(0)
	if err != nil {
		return ratelimitResult{}, fmt.Errorf("ratelimit %s: %w", p.Backend, err)
	}
	return ratelimitResult{Scenario: "ratelimit", Result: r, Label: ratelimitLabel(r.Params),
		Command: "go run ./internal/cmd/shoalbench " + ratelimitCommand(p)}, nil
}

// progressLines turns lines written by a library into progress updates.
type progressLines struct{ p *progress }

func (l progressLines) Write(b []byte) (int, error) {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	l.p.update("%s", b)
	return len(b), nil
}

// ratelimitPlot draws each run's admitted events per sliding window over
// time, against the limit.
func ratelimitPlot(results []ratelimitResult) []byte {
	p := plot{
		Title:  "Rate limit: events admitted in the sliding window ending at t",
		XLabel: "time since the run began (s)",
		YLabel: "admitted in (t−W, t]",
	}
	limits := map[int]bool{}
	for _, r := range results {
		if r.Skipped != "" || len(r.Series) == 0 {
			continue
		}
		s := series{Name: r.Backend + " " + shortLabel(r), Dashed: r.Backend != ratelimitbench.BackendShoal}
		for _, pt := range r.Series {
			s.X = append(s.X, pt.T)
			s.Y = append(s.Y, float64(pt.Admitted))
		}
		p.Series = append(p.Series, s)
		if !limits[r.Params.Limit] {
			limits[r.Params.Limit] = true
			p.Guides = append(p.Guides, guide{Name: fmt.Sprintf("limit %d", r.Params.Limit), Y: float64(r.Params.Limit)})
		}
	}
	return p.svg()
}

func shortLabel(r ratelimitResult) string {
	load := "even"
	if r.Params.Skew > 0 {
		load = "skewed"
	}
	if r.Params.Churn {
		load += "+churn"
	}
	return fmt.Sprintf("%d nodes %s W=%v", r.Params.Nodes, load, r.Params.Window)
}
