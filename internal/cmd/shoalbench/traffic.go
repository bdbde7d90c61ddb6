package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/shoal-go/shoal/swarm"
)

// trafficParams configure a traffic measurement.
type trafficParams struct {
	Nodes    int
	Rate     float64 // updates per second, cluster-wide
	Keys     int
	Duration time.Duration
	Writers  string // "one" (node 0 makes every update) or "all"
	Preset   string
	Net      network
}

// trafficResult is one traffic row.
type trafficResult struct {
	Scenario  string  `json:"scenario"`
	Preset    string  `json:"preset"`
	Nodes     int     `json:"nodes"`
	Transport string  `json:"transport"`
	Rate      float64 `json:"rate"`
	Keys      int     `json:"keys"`
	Writers   string  `json:"writers"`
	Seconds   float64 `json:"seconds"`
	// Updates is how many updates were made (Rate·Seconds, give or take
	// the last tick).
	Updates          uint64  `json:"updates"`
	BytesPerNodePerS float64 `json:"bytes_per_node_per_s"`
	MsgsPerNodePerS  float64 `json:"msgs_per_node_per_s"`
	// Converged is true when every node read every key's final total
	// within 10 s after the last update.
	Converged bool `json:"converged"`
	// Command reproduces the run.
	Command string `json:"command"`
}

func (r trafficResult) columns() []string {
	return []string{"preset", "nodes", "writers", "keys", "rate/s", "updates", "bytes/node/s", "msgs/node/s", "converged"}
}

func (r trafficResult) cells() []string {
	return []string{r.Preset, fmt.Sprint(r.Nodes), r.Writers, fmt.Sprint(r.Keys), fmt.Sprint(r.Rate), fmt.Sprint(r.Updates),
		humanBytes(r.BytesPerNodePerS), fmt.Sprintf("%.1f", r.MsgsPerNodePerS), fmt.Sprint(r.Converged)}
}

func runTrafficCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("traffic", flag.ContinueOnError)
	fs.SetOutput(errOut)
	p := trafficParams{}
	fs.IntVar(&p.Nodes, "nodes", 10, "number of nodes")
	fs.Float64Var(&p.Rate, "rate", 100, "updates per second, cluster-wide (0 measures the idle cost)")
	fs.IntVar(&p.Keys, "keys", 1, "number of counters the updates spread over")
	fs.DurationVar(&p.Duration, "duration", 10*time.Second, "how long to update")
	fs.StringVar(&p.Writers, "writers", "one", "one (node 0 makes every update) or all (nodes take turns)")
	fs.StringVar(&p.Preset, "preset", "fast", "timings: lan, local or fast")
	fs.StringVar(&p.Net.Transport, "transport", "loopback", "loopback or sim")
	asJSON := fs.Bool("json", false, "print one JSON object per result on stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	r, err := runTraffic(ctx, p, newProgress(errOut))
	if err != nil {
		return err
	}
	return printOne(out, *asJSON, r)
}

func (p trafficParams) validate() error {
	switch {
	case p.Nodes < 1:
		return fmt.Errorf("%w: -nodes %d", errBadFlag, p.Nodes)
	case p.Rate < 0:
		return fmt.Errorf("%w: -rate %v", errBadFlag, p.Rate)
	case p.Keys < 1:
		return fmt.Errorf("%w: -keys %d", errBadFlag, p.Keys)
	case p.Duration <= 0:
		return fmt.Errorf("%w: -duration %v", errBadFlag, p.Duration)
	case p.Writers != "one" && p.Writers != "all":
		return fmt.Errorf("%w: -writers %q (want one or all)", errBadFlag, p.Writers)
	}
	if _, err := presetConfig(p.Preset, "x"); err != nil {
		return err
	}
	return p.Net.validate()
}

// runTraffic makes Rate updates per second for Duration, spread over Keys
// counters, and counts what every node wrote to the network meanwhile.
// Updates are made in a 1 ms loop, as many per tick as are due.
func runTraffic(ctx context.Context, p trafficParams, prog *progress) (trafficResult, error) {
	res := trafficResult{Scenario: "traffic", Preset: p.Preset, Nodes: p.Nodes, Transport: p.Net.Transport,
		Rate: p.Rate, Keys: p.Keys, Writers: p.Writers, Command: "go run ./internal/cmd/shoalbench " + p.command()}
	if err := p.validate(); err != nil {
		return res, err
	}
	what := fmt.Sprintf("traffic %d nodes %v/s %d keys", p.Nodes, p.Rate, p.Keys)
	c, err := startCluster(ctx, p.Nodes, p.Preset, detection{}, p.Net, prog, what)
	if err != nil {
		return res, err
	}
	defer c.close()
	counters := make([][]*swarm.Counter, p.Nodes) // [node][key]
	for i, nd := range c.nodes {
		for k := range p.Keys {
			ctr, err := swarm.NewCounter(nd, fmt.Sprintf("traffic-%d", k))
			if err != nil {
				return res, err
			}
			counters[i] = append(counters[i], ctr)
		}
	}
	// Let registration settle: the first flush of each value is not part
	// of the steady state being measured.
	if err := sleepCtx(ctx, time.Second); err != nil {
		return res, err
	}
	bytes0, msgs0 := c.wireBytes(), c.messagesSent()
	start := time.Now()
	totals := make([]int64, p.Keys)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var made uint64
	for {
		elapsed := time.Since(start)
		if elapsed >= p.Duration {
			break
		}
		due := uint64(p.Rate * elapsed.Seconds())
		for ; made < due; made++ {
			node := 0
			if p.Writers == "all" {
				node = int(made % uint64(p.Nodes))
			}
			key := int(made % uint64(p.Keys))
			if err := counters[node][key].Add(1); err != nil {
				return res, err
			}
			totals[key]++
		}
		prog.update("%s: %d updates, elapsed %s", what, made, elapsed.Round(time.Second))
		select {
		case <-tick.C:
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	secs := time.Since(start).Seconds()
	res.Seconds, res.Updates = secs, made
	res.BytesPerNodePerS = float64(c.wireBytes()-bytes0) / float64(p.Nodes) / secs
	res.MsgsPerNodePerS = float64(c.messagesSent()-msgs0) / float64(p.Nodes) / secs
	res.Converged = awaitTotals(ctx, counters, totals, 10*time.Second) == nil
	prog.done("%s: %s per node per second, converged %v", what, humanBytes(res.BytesPerNodePerS), res.Converged)
	return res, nil
}

// awaitTotals waits until every node reads want[k] on counter k.
func awaitTotals(ctx context.Context, counters [][]*swarm.Counter, want []int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var bad error
		for i := range counters {
			for k, ctr := range counters[i] {
				v, err := ctr.Value()
				if err != nil {
					return err
				}
				if v != want[k] && bad == nil {
					bad = fmt.Errorf("node %d reads %d on key %d, want %d", i, v, k, want[k])
				}
			}
		}
		if bad == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return bad
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}
