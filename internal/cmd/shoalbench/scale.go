package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/shoal-go/shoal/swarm"
	simnet "github.com/shoal-go/shoal/swarm/swarmtest"
)

// scaleParams configure a scale measurement.
type scaleParams struct {
	Nodes   int
	Updates int
	Preset  string
	Net     network
	Timeout time.Duration
	// Kill is the share of nodes closed at once after full membership;
	// updates are measured among the others once they all see the
	// failures.
	Kill float64
	// Idle, when positive, measures what the formed cluster writes while
	// idle for this long, and memberlist's share of it.
	Idle time.Duration
	// TreeFanout, when positive, overrides the preset's
	// Config.TreeFanout; DirectMax, when not negative, its
	// DirectSendMaxMembers (0 puts the tree to work at any size).
	TreeFanout int
	DirectMax  int
	// Detection overrides the preset's failure detection.
	Detection detection
	// Warmup updates are made (one after another, each waited for) before
	// the measured ones. A cluster's first broadcast past the fast path
	// floods every tree link once, and its duplicates prune the links into
	// a tree (about 2,000 duplicates at 500 nodes, none after): the
	// warm-up keeps that one-time cost out of the traffic per update.
	Warmup int
}

// scaleResult is one scale row.
type scaleResult struct {
	Scenario  string  `json:"scenario"`
	Preset    string  `json:"preset"`
	Nodes     int     `json:"nodes"`
	Transport string  `json:"transport"`
	Drop      float64 `json:"drop"`
	// StartS is the time to create every node; JoinS the time for every
	// join call to return; MembershipS the time from the first join until
	// every node sees every other as alive.
	StartS      float64 `json:"start_s"`
	JoinS       float64 `json:"join_s"`
	MembershipS float64 `json:"membership_s"`
	// SettleS is the wait after full membership (and kills) until the
	// process is quiet (see settle), at most two minutes: every node runs
	// in this process, and the join's alive messages, gossiped to 500
	// nodes, keep two cores busy for a while after the last node sees
	// them all. Updates measured then timed the harness's CPU, not
	// dissemination (p50 330 ms with no loss, while the tree alone,
	// simulated, takes about 30 ms).
	SettleS float64 `json:"settle_s"`
	// Killed nodes were closed at once after full membership; DetectS is
	// the time until every live node saw them gone.
	Killed  int     `json:"killed"`
	DetectS float64 `json:"detect_s"`
	// Updates were made one after another by nodes spread over the
	// cluster; the latencies are until the last node read each.
	Updates int `json:"updates"`
	// WarmupMS are the warm-up updates' latencies (not in the others).
	WarmupMS []millis `json:"warmup_ms,omitempty"`
	P50MS    millis   `json:"p50_ms"`
	MaxMS    millis   `json:"max_ms"`
	// PerUpdate are the measured updates in order: each one's latency and
	// what the Go runtime saw of this process meanwhile (garbage
	// collections, the longest wait of a runnable goroutine), to tell a
	// slow tree from a stalled harness.
	PerUpdate        []timedUpdate `json:"per_update"`
	BytesPerNodePerS float64       `json:"bytes_per_node_per_s"`
	// BytesPerUpdatePerNode is what every node wrote (packets, memberlist's
	// included) while the updates were made, over updates × nodes;
	// MarginalBytesPerUpdatePerNode the same less the idle rate (with
	// -idle). DeltaBytes is the mean payload an update broadcast (its
	// delta, encoded), the yardstick for both; TreeBytesPerUpdatePerNode
	// splits the tree's share into pushes, announcements and control.
	BytesPerUpdatePerNode         float64         `json:"bytes_per_update_per_node"`
	MarginalBytesPerUpdatePerNode float64         `json:"marginal_bytes_per_update_per_node,omitempty"`
	DeltaBytes                    float64         `json:"delta_bytes,omitempty"`
	TreeBytesPerUpdatePerNode     *treeBytesSplit `json:"tree_bytes_per_update_per_node,omitempty"`
	// IdleBytesPerNodePerS (with -idle) is what each node wrote per
	// second while the cluster was idle (packets); of it,
	// IdleMembershipBytesPerNodePerS carried memberlist's own messages
	// (probes, acks, membership gossip: Stats.MembershipBytesSent), and
	// IdleRatio is the first over the second: what shoal costs an idle
	// cluster over memberlist's probe traffic.
	IdleBytesPerNodePerS           float64         `json:"idle_bytes_per_node_per_s,omitempty"`
	IdleMembershipBytesPerNodePerS float64         `json:"idle_membership_bytes_per_node_per_s,omitempty"`
	IdleRatio                      float64         `json:"idle_ratio,omitempty"`
	IdleTreeBytesPerNodePerS       *treeBytesSplit `json:"idle_tree_bytes_per_node_per_s,omitempty"`
	Converged                      bool            `json:"converged"`
	// TreeGrafts, TreeGraftGiveUps and TreeDuplicates sum the broadcast
	// tree's counters over the live nodes at the end: a give-up is a
	// missing broadcast left to anti-entropy.
	TreeGrafts       uint64 `json:"tree_grafts"`
	TreeGraftGiveUps uint64 `json:"tree_graft_give_ups"`
	TreeDuplicates   uint64 `json:"tree_duplicates"`
	TreeReannounced  uint64 `json:"tree_reannounced"`
	// Command reproduces the run.
	Command string `json:"command"`
}

// timedUpdate is one measured update of a scale or convergence run.
type timedUpdate struct {
	LatencyMS millis `json:"latency_ms"`
	stallSince
}

func (r scaleResult) columns() []string {
	return []string{"preset", "nodes", "transport", "drop", "start s", "joins s", "full membership s", "killed", "detect s", "settle s", "updates", "p50 ms", "max ms", "bytes/node/s", "converged"}
}

func (r scaleResult) cells() []string {
	return []string{r.Preset, fmt.Sprint(r.Nodes), r.Transport, fmt.Sprintf("%.0f%%", 100*r.Drop),
		fmt.Sprintf("%.2f", r.StartS), fmt.Sprintf("%.2f", r.JoinS), fmt.Sprintf("%.1f", r.MembershipS),
		fmt.Sprint(r.Killed), fmt.Sprintf("%.1f", r.DetectS), fmt.Sprintf("%.1f", r.SettleS),
		fmt.Sprint(r.Updates), r.P50MS.String(), r.MaxMS.String(), humanBytes(r.BytesPerNodePerS), fmt.Sprint(r.Converged)}
}

func runScaleCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(errOut)
	p := scaleParams{}
	fs.IntVar(&p.Nodes, "nodes", 500, "number of nodes")
	fs.IntVar(&p.Updates, "updates", 3, "number of updates to measure after the cluster formed")
	fs.StringVar(&p.Preset, "preset", "scale", "timings: scale (LAN gossip, slower probes), lan, local or fast")
	p.Net.register(fs, "sim")
	fs.DurationVar(&p.Timeout, "timeout", 60*time.Second, "wait per update before it counts as missed")
	fs.Float64Var(&p.Kill, "kill", 0, "share of nodes killed at once after full membership (updates then reach the rest)")
	fs.DurationVar(&p.Idle, "idle", 0, "measure the idle cluster's traffic, and memberlist's share of it, for this long (0: not measured)")
	fs.IntVar(&p.TreeFanout, "tree-fanout", 0, "Config.TreeFanout (0: the preset's)")
	fs.IntVar(&p.DirectMax, "direct-max", -1, "Config.DirectSendMaxMembers (-1: the preset's; 0: the tree at any size)")
	p.Detection.register(fs)
	fs.IntVar(&p.Warmup, "warmup", 1, "updates made before the measured ones (a cluster's first broadcast floods the tree's links once)")
	asJSON := fs.Bool("json", false, "print one JSON object per result on stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	r, err := runScale(ctx, p, newProgress(errOut))
	if err != nil {
		return err
	}
	return printOne(out, *asJSON, r)
}

func (p scaleParams) validate() error {
	switch {
	case p.Nodes < 2:
		return fmt.Errorf("%w: -nodes %d (want at least 2)", errBadFlag, p.Nodes)
	case p.Updates < 1:
		return fmt.Errorf("%w: -updates %d", errBadFlag, p.Updates)
	case p.Kill < 0 || p.Kill >= 1:
		return fmt.Errorf("%w: -kill %v (want [0, 1))", errBadFlag, p.Kill)
	case p.Timeout <= 0:
		return fmt.Errorf("%w: -timeout %v", errBadFlag, p.Timeout)
	case p.Warmup < 0:
		return fmt.Errorf("%w: -warmup %d", errBadFlag, p.Warmup)
	case p.Idle < 0:
		return fmt.Errorf("%w: -idle %v", errBadFlag, p.Idle)
	case p.DirectMax < -1:
		return fmt.Errorf("%w: -direct-max %d", errBadFlag, p.DirectMax)
	case p.TreeFanout < 0 || p.TreeFanout > 64:
		return fmt.Errorf("%w: -tree-fanout %d (want 0-64)", errBadFlag, p.TreeFanout)
	}
	if _, err := presetConfig(p.Preset, "x"); err != nil {
		return err
	}
	if err := p.Detection.validate(); err != nil {
		return err
	}
	return p.Net.validate()
}

// runScale starts Nodes nodes, joins them in a tree, times full
// membership, then times Updates updates of one counter to every node.
// Unlike startCluster it times each phase, and faults (if any) are on
// from the start.
func runScale(ctx context.Context, p scaleParams, prog *progress) (scaleResult, error) {
	res := scaleResult{Scenario: "scale", Preset: p.Preset, Nodes: p.Nodes, Transport: p.Net.Transport,
		Drop: p.Net.Drop, Updates: p.Updates, Command: "go run ./internal/cmd/shoalbench " + p.command()}
	if err := p.validate(); err != nil {
		return res, err
	}
	what := fmt.Sprintf("scale %d nodes", p.Nodes)
	paceAsFleet(p.Nodes)
	c := &cluster{}
	defer c.close()
	if p.Net.Transport == "sim" {
		sim, err := simnet.NewNetwork(simnet.FaultConfig{Drop: p.Net.Drop, Delay: p.Net.Delay, Jitter: p.Net.Jitter, Seed: p.Net.Seed})
		if err != nil {
			return res, err
		}
		c.sim = sim
	}
	t0 := time.Now()
	for i := range p.Nodes {
		cfg, _ := presetConfig(p.Preset, fmt.Sprintf("node-%d", i))
		if p.TreeFanout > 0 {
			cfg.TreeFanout = p.TreeFanout
		}
		if p.DirectMax >= 0 {
			cfg.DirectSendMaxMembers = p.DirectMax
		}
		p.Detection.apply(&cfg)
		if c.sim != nil {
			tr, err := c.sim.NewTransport(cfg.Name)
			if err != nil {
				return res, err
			}
			cfg.Transport = tr
		}
		nd, err := swarm.New(cfg)
		if err != nil {
			return res, fmt.Errorf("start %s: %w", cfg.Name, err)
		}
		c.nodes = append(c.nodes, nd)
		prog.update("%s: started %d/%d nodes", what, i+1, p.Nodes)
	}
	res.StartS = time.Since(t0).Seconds()

	t1 := time.Now()
	addrs := make([]string, p.Nodes)
	for i, nd := range c.nodes {
		addrs[i] = nd.Addr()
	}
	if err := joinTree(ctx, p.Nodes, func(ctx context.Context, i int, seeds []int) error {
		_, err := c.nodes[i].Join(ctx, seedAddrs(addrs, seeds)...)
		return err
	}, prog, what); err != nil {
		return res, err
	}
	res.JoinS = time.Since(t1).Seconds()
	if err := waitFull(ctx, p.Nodes, 5*time.Minute, func(i int) int { return c.nodes[i].Stats().Members }, nil, prog, what); err != nil {
		return res, err
	}
	res.MembershipS = time.Since(t1).Seconds()
	prog.done("%s: full membership after %.1f s (joins %.1f s)", what, res.MembershipS, res.JoinS)

	live := p.Nodes
	if res.Killed = int(p.Kill * float64(p.Nodes)); res.Killed > 0 {
		live -= res.Killed
		t3 := time.Now()
		for _, nd := range c.nodes[live:] {
			_ = nd.Close()
		}
		c.nodes = c.nodes[:live]
		if err := waitFull(ctx, live, 5*time.Minute, func(i int) int { return c.nodes[i].Stats().Members }, nil, prog, what+" detecting kills"); err != nil {
			return res, err
		}
		res.DetectS = time.Since(t3).Seconds()
		prog.done("%s: %d killed, detected by every live node after %.1f s", what, res.Killed, res.DetectS)
	}
	t4 := time.Now()
	if err := settle(ctx, 2*time.Minute, c.membershipBytes); err != nil {
		return res, err
	}
	res.SettleS = time.Since(t4).Seconds()
	prog.done("%s: quiet after %.1f s", what, res.SettleS)
	if p.Idle > 0 {
		b0, m0, tr0, t0 := c.wireBytes(), c.membershipBytes(), c.treeBytes(), time.Now()
		if err := sleepCtx(ctx, p.Idle); err != nil {
			return res, err
		}
		secs := time.Since(t0).Seconds() * float64(live)
		res.IdleBytesPerNodePerS = float64(c.wireBytes()-b0) / secs
		res.IdleMembershipBytesPerNodePerS = float64(c.membershipBytes()-m0) / secs
		if res.IdleMembershipBytesPerNodePerS > 0 { // 0 when packets are compressed or encrypted
			res.IdleRatio = res.IdleBytesPerNodePerS / res.IdleMembershipBytesPerNodePerS
		}
		res.IdleTreeBytesPerNodePerS = c.treeBytes().since(tr0).per(secs)
		prog.done("%s: idle, %s per node per second, memberlist's share %s: %.2f×", what,
			humanBytes(res.IdleBytesPerNodePerS), humanBytes(res.IdleMembershipBytesPerNodePerS), res.IdleRatio)
	}
	arr := newArrivals(live, live)
	counters := make([]*swarm.Counter, live)
	for i, nd := range c.nodes {
		var err error
		if counters[i], err = swarm.NewCounter(nd, "scale"); err != nil {
			return res, err
		}
	}
	defer watchCounters(counters, c.replicas(), arr)()
	slots := make(originTracker, live)
	var (
		bytes0 uint64
		tree0  treeBytesSplit
		t2     time.Time
		lat    []float64
	)
	stalls := newStallProbe()
	defer stalls.close()
	for k := range p.Warmup + p.Updates {
		if k == p.Warmup {
			bytes0, tree0, t2 = c.wireBytes(), c.treeBytes(), time.Now()
		}
		origin := (k * 7919) % live // spread the origins over the cluster
		target := slots.next(origin)
		arr.arm(origin, target)
		before := stalls.read()
		stalls.sent()
		sent := time.Now()
		if err := counters[origin].Add(1); err != nil {
			return res, err
		}
		arr.markLevel(origin, origin, target, sent)
		last, _, ok, err := waitProgress(ctx, arr, p.Timeout, prog, func(n int) string {
			return fmt.Sprintf("%s: update %d/%d has reached %d/%d nodes, elapsed %s", what, k+1, p.Warmup+p.Updates, n, p.Nodes, prog.elapsed())
		})
		if err != nil {
			return res, err
		}
		if k < p.Warmup {
			res.WarmupMS = append(res.WarmupMS, millis(latencyOf(sent, last, ok)))
			continue
		}
		l := latencyOf(sent, last, ok)
		lat = append(lat, l)
		res.PerUpdate = append(res.PerUpdate, timedUpdate{LatencyMS: millis(l), stallSince: stalls.read().since(before)})
		stalls.slow(l)
	}
	took := time.Since(t2)
	sent := c.wireBytes() - bytes0
	res.BytesPerNodePerS = float64(sent) / float64(live) / took.Seconds()
	res.BytesPerUpdatePerNode = float64(sent) / float64(p.Updates*live)
	if res.IdleBytesPerNodePerS > 0 {
		res.MarginalBytesPerUpdatePerNode = max(0, (res.BytesPerNodePerS-res.IdleBytesPerNodePerS)*took.Seconds()/float64(p.Updates))
	}
	tree := c.treeBytes().since(tree0)
	if tree.broadcasts > 0 {
		res.DeltaBytes = float64(tree.broadcast) / float64(tree.broadcasts)
		res.TreeBytesPerUpdatePerNode = tree.per(float64(p.Updates * live))
	}
	r := convergenceResult{LatenciesMS: lat, Updates: p.Updates}
	r.summarize()
	res.P50MS, res.MaxMS, res.Converged = r.P50MS, r.MaxMS, r.Converged
	for _, nd := range c.nodes {
		st := nd.Stats().Tree
		res.TreeGrafts += st.Grafts
		res.TreeGraftGiveUps += st.GraftGiveUps
		res.TreeDuplicates += st.Duplicates
		res.TreeReannounced += st.Reannounced
	}
	prog.done("%s: updates reach every node in p50 %s, max %s, converged %v; tree: %d grafts, %d given up, %d duplicates, %d announcements repeated; %.0f bytes per update per node", what,
		res.P50MS.withUnit(), res.MaxMS.withUnit(), res.Converged, res.TreeGrafts, res.TreeGraftGiveUps, res.TreeDuplicates, res.TreeReannounced, res.BytesPerUpdatePerNode)
	return res, nil
}

// treeBytesSplit is the broadcast tree's traffic by class (TreeStats).
type treeBytesSplit struct {
	Push     float64 `json:"push"`
	Announce float64 `json:"announce"`
	Control  float64 `json:"control"`

	broadcasts, broadcast uint64
}

func (t treeBytesSplit) since(t0 treeBytesSplit) treeBytesSplit {
	return treeBytesSplit{Push: t.Push - t0.Push, Announce: t.Announce - t0.Announce, Control: t.Control - t0.Control,
		broadcasts: t.broadcasts - t0.broadcasts, broadcast: t.broadcast - t0.broadcast}
}

func (t treeBytesSplit) per(d float64) *treeBytesSplit {
	return &treeBytesSplit{Push: t.Push / d, Announce: t.Announce / d, Control: t.Control / d}
}

// treeBytes sums the nodes' tree traffic.
func (c *cluster) treeBytes() treeBytesSplit {
	var t treeBytesSplit
	for _, nd := range c.nodes {
		if nd.Closed() {
			continue
		}
		st := nd.Stats().Tree
		t.Push += float64(st.PushBytes)
		t.Announce += float64(st.AnnounceBytes)
		t.Control += float64(st.ControlBytes)
		t.broadcasts += st.Broadcasts
		t.broadcast += st.BroadcastBytes
	}
	return t
}

// settle waits until this process used less than half a core over two
// seconds and memberlist's own traffic (bytes, the nodes' summed
// Stats.MembershipBytesSent) fell by less than a tenth from one two-second
// window to the next, or for max. The join's alive messages, gossiped to 500 nodes,
// keep the process busy, and then keep memberlist's traffic falling for
// half a minute more: updates timed meanwhile measured that (max 208 ms
// against 66 ms once it was done, 500 nodes, no loss). Where CPU time
// cannot be read only the traffic is watched.
func settle(ctx context.Context, max time.Duration, bytes func() uint64) error {
	const settleWindow = 2 * time.Second
	deadline := time.Now().Add(max)
	prevCPU, cpuOK := processCPU()
	prevBytes, prevRate := bytes(), -1.0
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settleWindow):
		}
		cpu, _ := processCPU()
		cur := bytes()
		rate := float64(cur - prevBytes)
		quiet := !cpuOK || cpu-prevCPU < settleWindow/2
		// >=: a cluster that sends memberlist nothing (no probe due in
		// either window) has settled too; > waited for max.
		if quiet && prevRate >= 0 && rate >= 0.9*prevRate {
			return nil
		}
		prevCPU, prevBytes, prevRate = cpu, cur, rate
	}
	return nil
}
