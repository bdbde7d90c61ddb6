package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
)

// antiEntropyParams configure the anti-entropy scenario.
type antiEntropyParams struct {
	Nodes    int
	Values   int
	Replicas int
	PushPull time.Duration
	Timeout  time.Duration
}

// antiEntropyResult is the scenario's row.
type antiEntropyResult struct {
	Scenario string `json:"scenario"`
	Nodes    int    `json:"nodes"`
	Values   int    `json:"values"`
	Replicas int    `json:"replicas"`
	// StateBytes is the encoded size of one node's full state (every
	// value's state with its name and type).
	StateBytes uint64 `json:"state_bytes"`
	// QuietExchangeBytes is what one node sent per push/pull exchange
	// (shoal's part of it) while every node held the same states;
	// QuietStateBytes the states it sent meanwhile (0 when the digests
	// agree).
	QuietExchangeBytes uint64  `json:"quiet_exchange_bytes"`
	QuietShare         float64 `json:"quiet_share"`
	QuietStateBytes    uint64  `json:"quiet_state_bytes"`
	// CatchUpS is how long a joiner that registered every value, all
	// empty, took from Join until it held every value's state.
	CatchUpS float64 `json:"catch_up_s"`
	// JoinS is how long Join itself took (its push/pull carries the full
	// states that fit MaxStateBytes).
	JoinS   float64 `json:"join_s"`
	Command string  `json:"command"`
}

func (r antiEntropyResult) columns() []string {
	return []string{"nodes", "values", "replicas", "state", "quiet exchange", "share", "states sent when quiet", "join", "joiner catch-up"}
}

func (r antiEntropyResult) cells() []string {
	return []string{fmt.Sprint(r.Nodes), fmt.Sprint(r.Values), fmt.Sprint(r.Replicas), humanBytes(float64(r.StateBytes)),
		humanBytes(float64(r.QuietExchangeBytes)), fmt.Sprintf("%.2f%%", 100*r.QuietShare), humanBytes(float64(r.QuietStateBytes)),
		fmt.Sprintf("%.1f s", r.JoinS), fmt.Sprintf("%.1f s", r.CatchUpS)}
}

func runAntiEntropyCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("antientropy", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var p antiEntropyParams
	fs.IntVar(&p.Nodes, "nodes", 2, "nodes holding the values (loopback)")
	fs.IntVar(&p.Values, "values", 100_000, "number of values (grow-only counters)")
	fs.IntVar(&p.Replicas, "replicas", 10, "replica slots in every value's state")
	fs.DurationVar(&p.PushPull, "pushpull", 5*time.Second, "PushPullInterval (DefaultLocalConfig's)")
	fs.DurationVar(&p.Timeout, "timeout", 120*time.Second, "wait for the joiner")
	asJSON := fs.Bool("json", false, "print one JSON object per result on stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if p.Nodes < 2 || p.Values < 1 || p.Replicas < 1 || p.PushPull <= 0 {
		return fmt.Errorf("%w: -nodes >= 2, -values, -replicas and -pushpull > 0", errBadFlag)
	}
	prog := newProgress(errOut)
	r, err := runAntiEntropy(ctx, p, prog)
	if err != nil {
		return err
	}
	return printOne(out, *asJSON, r)
}

// runAntiEntropy: every node registers the same Values counters, each
// holding Replicas slots (as if as many replicas had counted), joins, and
// exchanges digests; then a joiner with every value empty catches up.
func runAntiEntropy(ctx context.Context, p antiEntropyParams, prog *progress) (antiEntropyResult, error) {
	res := antiEntropyResult{Scenario: "antientropy", Nodes: p.Nodes, Values: p.Values, Replicas: p.Replicas,
		Command: "go run ./internal/cmd/shoalbench " + p.command()}
	replicas := make([]crdt.Replica, p.Replicas)
	for j := range replicas {
		replicas[j] = crdt.Replica{Node: fmt.Sprintf("writer-%02d", j), Incarnation: 1}
	}
	state := func(k int) *crdt.GCounter {
		g := crdt.NewGCounter(crdt.Replica{Node: "none", Incarnation: 1})
		for j, r := range replicas {
			w := crdt.NewGCounter(r)
			w.Add(uint64(k + j + 1))
			g.Merge(time.Time{}, w)
		}
		return g
	}
	cd := codec.Default()
	for k := range p.Values {
		b, err := cd.Marshal(state(k))
		if err != nil {
			return res, err
		}
		res.StateBytes += uint64(len(b) + len(valueName(k)) + len("*crdt.GCounter"))
	}

	var nodes []*swarm.Node
	defer func() {
		for _, nd := range nodes {
			_ = nd.Close()
		}
	}()
	start := func(name string, full bool) (*swarm.Node, error) {
		cfg := swarm.DefaultLocalConfig(name)
		cfg.PushPullInterval = p.PushPull
		cfg.TCPTimeout = 30 * time.Second
		nd, err := swarm.New(cfg)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, nd)
		for k := range p.Values {
			mk := func(self crdt.Replica) *crdt.GCounter { return crdt.NewGCounter(self) }
			if full {
				mk = func(crdt.Replica) *crdt.GCounter { return state(k) }
			}
			if _, err := swarm.Share(nd, valueName(k), mk); err != nil {
				return nil, err
			}
			if k%10000 == 0 {
				prog.update("antientropy: %s registered %d/%d values", name, k, p.Values)
			}
		}
		return nd, nil
	}
	for i := range p.Nodes {
		nd, err := start(fmt.Sprintf("node-%d", i), true)
		if err != nil {
			return res, err
		}
		if i > 0 {
			if _, err := nd.Join(ctx, nodes[0].Addr()); err != nil {
				return res, err
			}
		}
	}
	// Quiet exchanges: let two pass, then measure three.
	waitExchanges := func(k uint64) (swarm.Stats, error) {
		from := nodes[0].Stats().PushPulls
		deadline := time.Now().Add(time.Duration(k+2) * 4 * p.PushPull * time.Duration(p.Nodes))
		for nodes[0].Stats().PushPulls-from < k {
			if time.Now().After(deadline) {
				return swarm.Stats{}, fmt.Errorf("antientropy: fewer than %d exchanges in time", k)
			}
			prog.update("antientropy: waiting for %d quiet exchanges", k)
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				return swarm.Stats{}, err
			}
		}
		return nodes[0].Stats(), nil
	}
	if _, err := waitExchanges(2); err != nil {
		return res, err
	}
	before := nodes[0].Stats()
	after, err := waitExchanges(3)
	if err != nil {
		return res, err
	}
	res.QuietExchangeBytes = (after.PushPullBytesSent - before.PushPullBytesSent) / (after.PushPulls - before.PushPulls)
	res.QuietShare = float64(res.QuietExchangeBytes) / float64(res.StateBytes)
	res.QuietStateBytes = after.Sent["state"].Bytes - before.Sent["state"].Bytes

	joiner, err := start("joiner", false)
	if err != nil {
		return res, err
	}
	counters := make([]*swarm.Shared[*crdt.GCounter], p.Values)
	for k := range p.Values {
		if counters[k], err = swarm.Share(joiner, valueName(k), func(self crdt.Replica) *crdt.GCounter { return crdt.NewGCounter(self) }); err != nil {
			return res, err
		}
	}
	t0 := time.Now()
	if _, err := joiner.Join(ctx, nodes[0].Addr()); err != nil {
		return res, err
	}
	res.JoinS = time.Since(t0).Seconds()
	deadline := t0.Add(p.Timeout)
	next := 0
	for next < p.Values {
		for ; next < p.Values; next++ {
			var got uint64
			if err := counters[next].Read(func(g *crdt.GCounter) { got = g.Value() }); err != nil {
				return res, err
			}
			if got != state(next).Value() {
				break
			}
		}
		if next == p.Values {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("antientropy: the joiner holds %d of %d values after %v", next, p.Values, p.Timeout)
		}
		prog.update("antientropy: the joiner holds %d/%d values, %s", next, p.Values, time.Since(t0).Round(time.Millisecond))
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.CatchUpS = time.Since(t0).Seconds()
	prog.done("antientropy: quiet exchange %s (%.2f%% of %s), joiner caught up in %.1f s",
		humanBytes(float64(res.QuietExchangeBytes)), 100*res.QuietShare, humanBytes(float64(res.StateBytes)), res.CatchUpS)
	return res, nil
}

func valueName(k int) string { return fmt.Sprintf("value-%06d", k) }
