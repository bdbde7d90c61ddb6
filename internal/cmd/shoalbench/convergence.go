package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-go/shoal/swarm"
)

// convergenceParams configure one convergence measurement.
type convergenceParams struct {
	Nodes   int
	Updates int
	Preset  string
	// Detection overrides the preset's failure detection, for both
	// clusters.
	Detection detection
	Net       network
	// Timeout bounds the wait for one update to reach every node; an
	// update that takes longer counts as never arrived.
	Timeout time.Duration
	// RefTimeout is the reference's Timeout. memberlist's relay has no
	// repair: once every queue has spent its retransmissions (a few
	// gossip intervals) a message that has not arrived never will, so a
	// short wait loses nothing and keeps lossy runs short.
	RefTimeout time.Duration
	// Reference also measures memberlist's relayed broadcast with the same
	// timings, on a cluster of its own started after shoal's.
	Reference bool
	// Idle, if positive, measures what the formed cluster writes with no
	// update for this long before the updates start.
	Idle time.Duration
	// Settle waits, before the idle measurement and the updates, until the
	// process is quiet and memberlist's own traffic has stopped falling
	// (see settle), for each cluster in turn: at hundreds of nodes the
	// join's gossip otherwise takes the cores the updates are timed on.
	Settle bool
}

// convergenceResult is one row: shoal, or the memberlist reference.
type convergenceResult struct {
	Scenario  string  `json:"scenario"`
	System    string  `json:"system"` // "shoal" or "memberlist-relay"
	Preset    string  `json:"preset"`
	Nodes     int     `json:"nodes"`
	Transport string  `json:"transport"`
	Drop      float64 `json:"drop"`
	JitterMS  float64 `json:"jitter_ms"`
	Updates   int     `json:"updates"`
	// Missed counts updates that had not reached every node within the
	// timeout; they enter the percentiles as never arrived.
	Missed int    `json:"missed"`
	P50MS  millis `json:"p50_ms"`
	P99MS  millis `json:"p99_ms"`
	MaxMS  millis `json:"max_ms"`
	// NodeP50MS and NodeP99MS are over every (update, receiving node)
	// pair: how long one node waits for an update, where the columns
	// above are how long the last node waits.
	NodeP50MS        millis  `json:"node_p50_ms"`
	NodeP99MS        millis  `json:"node_p99_ms"`
	BytesPerNodePerS float64 `json:"bytes_per_node_per_s"`
	// BytesPerUpdatePerNode is every byte the nodes wrote while the
	// updates were made (memberlist's probes included), divided by
	// updates × nodes: the message complexity of one update.
	BytesPerUpdatePerNode float64 `json:"bytes_per_update_per_node"`
	// IdleBytesPerNodePerS (with -idle) is what each node wrote per second
	// with no update: probes, gossip and, for shoal, the tree's hellos and
	// anti-entropy. MarginalBytesPerUpdatePerNode is BytesPerUpdatePerNode
	// less that idle rate over the update phase: what the updates
	// themselves cost.
	IdleBytesPerNodePerS          float64 `json:"idle_bytes_per_node_per_s,omitempty"`
	MarginalBytesPerUpdatePerNode float64 `json:"marginal_bytes_per_update_per_node,omitempty"`
	// SettleS (with -settle) is how long the cluster took to be quiet.
	SettleS float64 `json:"settle_s,omitempty"`
	// TreeGrafts and TreeDuplicates sum the broadcast tree's grafts and
	// duplicate receipts over the nodes (shoal past the fast path).
	TreeGrafts     uint64 `json:"tree_grafts"`
	TreeDuplicates uint64 `json:"tree_duplicates"`
	// Converged is true only if every update reached every node.
	Converged bool `json:"converged"`
	// PerUpdate are the updates in order: each one's latency and what the
	// Go runtime saw of this process meanwhile (see scale's per_update).
	PerUpdate []timedUpdate `json:"per_update,omitempty"`
	// LatenciesMS holds every update's latency (+Inf for missed ones), for
	// the CDF plot.
	LatenciesMS []float64 `json:"-"`
	// NodeLatenciesMS holds every (update, receiving node) latency.
	NodeLatenciesMS []float64 `json:"-"`
	// Command reproduces the run (shoal and its reference).
	Command string `json:"command"`
}

func (r convergenceResult) columns() []string {
	return []string{"system", "preset", "nodes", "transport", "drop", "updates", "missed", "p50 ms", "p99 ms", "max ms", "per node p50", "per node p99", "bytes/node/s", "bytes/update/node", "idle bytes/node/s", "marginal bytes/update/node", "converged"}
}

func (r convergenceResult) cells() []string {
	return []string{r.System, r.Preset, fmt.Sprint(r.Nodes), r.Transport, fmt.Sprintf("%.0f%%", 100*r.Drop),
		fmt.Sprint(r.Updates), fmt.Sprint(r.Missed), r.P50MS.String(), r.P99MS.String(), r.MaxMS.String(),
		r.NodeP50MS.String(), r.NodeP99MS.String(), humanBytes(r.BytesPerNodePerS), humanBytes(r.BytesPerUpdatePerNode), dashIfZero(r.IdleBytesPerNodePerS), dashIfZero(r.MarginalBytesPerUpdatePerNode), fmt.Sprint(r.Converged)}
}

func runConvergenceCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("convergence", flag.ContinueOnError)
	fs.SetOutput(errOut)
	p := convergenceParams{}
	fs.IntVar(&p.Nodes, "nodes", 10, "number of nodes")
	fs.IntVar(&p.Updates, "updates", 50, "number of updates, made by the nodes in turn")
	fs.StringVar(&p.Preset, "preset", "fast", "timings: lan (gossip only), local or fast (LAN with the fast path)")
	p.Net.register(fs, "loopback")
	fs.DurationVar(&p.Timeout, "timeout", 10*time.Second, "wait per update before it counts as missed")
	fs.DurationVar(&p.RefTimeout, "reftimeout", 5*time.Second, "the same for the memberlist reference (which has no repair)")
	fs.DurationVar(&p.Idle, "idle", 0, "first measure the bytes an idle cluster writes for this long (0: not measured)")
	p.Detection.register(fs)
	fs.BoolVar(&p.Settle, "settle", false, "first wait until the process is quiet and memberlist's join gossip is done (for hundreds of nodes)")
	noRef := fs.Bool("noref", false, "skip the memberlist relay reference")
	svg := fs.String("svg", "", "also write the latency CDF as an SVG plot to this file")
	sizes := fs.String("sizes", "", "comma-separated cluster sizes to run in turn instead of -nodes (for -nsvg)")
	nsvg := fs.String("nsvg", "", "also write p99 against the number of nodes as an SVG plot to this file")
	asJSON := fs.Bool("json", false, "print one JSON object per result on stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	p.Reference = !*noRef
	prog := newProgress(errOut)
	pr := &printer{w: out, json: *asJSON}
	ns, err := parseSizes(*sizes, p.Nodes)
	if err != nil {
		return err
	}
	var results []convergenceResult
	var runErr error
	for _, n := range ns {
		p.Nodes = n
		rs, err := runConvergence(ctx, p, prog)
		for _, r := range rs {
			if err := pr.add(r); err != nil {
				return err
			}
		}
		results = append(results, rs...)
		if err != nil {
			runErr = err
			break
		}
	}
	// The sizes that ran are plotted even when a larger one failed.
	if *nsvg != "" && len(results) > 0 {
		if err := writeFile(*nsvg, p99ByNodesPlot(results)); err != nil {
			return err
		}
	}
	if runErr != nil {
		return runErr
	}
	if *svg != "" {
		if err := writeFile(*svg, convergencePlot(results)); err != nil {
			return err
		}
	}
	return pr.flush()
}

func (p convergenceParams) validate() error {
	if p.Nodes < 2 {
		return fmt.Errorf("%w: -nodes %d (want at least 2)", errBadFlag, p.Nodes)
	}
	if p.Updates < 1 {
		return fmt.Errorf("%w: -updates %d (want at least 1)", errBadFlag, p.Updates)
	}
	if p.Timeout <= 0 {
		return fmt.Errorf("%w: -timeout %v", errBadFlag, p.Timeout)
	}
	if p.Idle < 0 {
		return fmt.Errorf("%w: -idle %v", errBadFlag, p.Idle)
	}
	if p.Reference && p.RefTimeout <= 0 {
		return fmt.Errorf("%w: -reftimeout %v", errBadFlag, p.RefTimeout)
	}
	if _, err := presetConfig(p.Preset, "x"); err != nil {
		return err
	}
	if err := p.Detection.validate(); err != nil {
		return err
	}
	return p.Net.validate()
}

// runConvergence measures shoal and, if asked, the reference.
func runConvergence(ctx context.Context, p convergenceParams, prog *progress) ([]convergenceResult, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	r, err := convergeShoal(ctx, p, prog)
	if err != nil {
		return nil, err
	}
	results := []convergenceResult{r}
	if p.Reference {
		ref, err := convergeReference(ctx, p, prog)
		if err != nil {
			return results, err
		}
		results = append(results, ref)
	}
	return results, nil
}

func (p convergenceParams) result(system string) convergenceResult {
	return convergenceResult{
		Scenario: "convergence", System: system, Preset: p.Preset, Nodes: p.Nodes,
		Transport: p.Net.Transport, Drop: p.Net.Drop, JitterMS: toMillis(p.Net.Jitter), Updates: p.Updates,
		Command: "go run ./internal/cmd/shoalbench " + p.command(),
	}
}

// convergeShoal: node k mod N adds 1 to a shared counter; the update has
// arrived at a node when the node reads the origin's slot at its new
// count. Every node watches the counter through Subscribe, so an arrival
// is seen within a scheduler tick of the merge.
func convergeShoal(ctx context.Context, p convergenceParams, prog *progress) (convergenceResult, error) {
	what := fmt.Sprintf("convergence %s %d nodes%s", p.Preset, p.Nodes, p.Net.flags())
	res := p.result("shoal")
	c, err := startCluster(ctx, p.Nodes, p.Preset, p.Detection, p.Net, prog, what)
	if err != nil {
		return res, err
	}
	defer c.close()
	arr := newArrivals(p.Nodes, p.Nodes)
	counters := make([]*swarm.Counter, p.Nodes)
	for i, nd := range c.nodes {
		if counters[i], err = swarm.NewCounter(nd, "bench"); err != nil {
			return res, err
		}
	}
	defer watchCounters(counters, c.replicas(), arr)()
	slots := make(originTracker, p.Nodes)
	cfg, _ := presetConfig(p.Preset, "x")
	if res.SettleS, err = settleIf(ctx, p, c.membershipBytes, prog, what); err != nil {
		return res, err
	}
	if res.IdleBytesPerNodePerS, err = idleRate(ctx, p, c.wireBytes); err != nil {
		return res, err
	}
	bytes0, t0 := c.wireBytes(), time.Now()
	stalls := newStallProbe()
	defer stalls.close()
	for k := range p.Updates {
		if err := sleepCtx(ctx, randomGap(cfg.GossipInterval)); err != nil {
			return res, err
		}
		origin := k % p.Nodes
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
			return fmt.Sprintf("%s: %d/%d updates, %d/%d nodes have the current one, elapsed %s",
				what, k+1, p.Updates, n, p.Nodes, prog.elapsed())
		})
		if err != nil {
			return res, err
		}
		l := latencyOf(sent, last, ok)
		res.LatenciesMS = append(res.LatenciesMS, l)
		res.PerUpdate = append(res.PerUpdate, timedUpdate{LatencyMS: millis(l), stallSince: stalls.read().since(before)})
		res.NodeLatenciesMS = arr.nodeLatencies(res.NodeLatenciesMS, origin, sent)
		stalls.slow(l)
	}
	res.bytesPerUpdate(p, c.wireBytes()-bytes0, time.Since(t0))
	for _, nd := range c.nodes {
		st := nd.Stats().Tree
		res.TreeGrafts += st.Grafts
		res.TreeDuplicates += st.Duplicates
	}
	res.summarize()
	prog.done("%s: p50 %s, p99 %s, missed %d, converged %v", what, res.P50MS.withUnit(), res.P99MS.withUnit(), res.Missed, res.Converged)
	return res, nil
}

// convergeReference: node k mod N broadcasts message k+1 through
// memberlist's queue; every node relays it once.
func convergeReference(ctx context.Context, p convergenceParams, prog *progress) (convergenceResult, error) {
	what := fmt.Sprintf("memberlist relay reference %s %d nodes%s", p.Preset, p.Nodes, p.Net.flags())
	res := p.result("memberlist-relay")
	arr := newArrivals(p.Nodes, p.Nodes)
	rc, err := startRefCluster(ctx, p.Nodes, p.Preset, p.Detection, p.Net, arr, prog, what)
	if err != nil {
		return res, err
	}
	defer rc.close()
	cfg, _ := presetConfig(p.Preset, "x")
	if res.SettleS, err = settleIf(ctx, p, rc.wireBytes, prog, what); err != nil { // all of it is memberlist's
		return res, err
	}
	if res.IdleBytesPerNodePerS, err = idleRate(ctx, p, rc.wireBytes); err != nil {
		return res, err
	}
	bytes0, t0 := rc.wireBytes(), time.Now()
	stalls := newStallProbe()
	for k := range p.Updates {
		if err := sleepCtx(ctx, randomGap(cfg.GossipInterval)); err != nil {
			return res, err
		}
		origin, id := k%p.Nodes, uint64(k+1)
		arr.arm(0, id)
		before := stalls.read()
		sent := time.Now()
		rc.broadcast(origin, id)
		arr.markID(origin, id, sent)
		last, _, ok, err := waitProgress(ctx, arr, p.RefTimeout, prog, func(n int) string {
			return fmt.Sprintf("%s: %d/%d updates, %d/%d nodes have the current one, elapsed %s",
				what, k+1, p.Updates, n, p.Nodes, prog.elapsed())
		})
		if err != nil {
			return res, err
		}
		l := latencyOf(sent, last, ok)
		res.LatenciesMS = append(res.LatenciesMS, l)
		res.PerUpdate = append(res.PerUpdate, timedUpdate{LatencyMS: millis(l), stallSince: stalls.read().since(before)})
		res.NodeLatenciesMS = arr.nodeLatencies(res.NodeLatenciesMS, origin, sent)
	}
	res.bytesPerUpdate(p, rc.wireBytes()-bytes0, time.Since(t0))
	res.summarize()
	prog.done("%s: p50 %s, p99 %s, missed %d, converged %v", what, res.P50MS.withUnit(), res.P99MS.withUnit(), res.Missed, res.Converged)
	return res, nil
}

// waitProgress waits for the armed update, refreshing the progress line.
func waitProgress(ctx context.Context, arr *arrivals, timeout time.Duration, prog *progress, line func(reached int) string) (time.Time, int, bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		step := min(time.Until(deadline), time.Second)
		last, reached, ok, err := arr.wait(ctx, max(step, 0))
		prog.update("%s", line(reached))
		if ok || err != nil || !time.Now().Before(deadline) {
			return last, reached, ok, err
		}
	}
}

// summarize fills the percentiles, Missed and Converged from LatenciesMS.
func (r *convergenceResult) summarize() {
	sorted := append([]float64(nil), r.LatenciesMS...)
	r.P50MS, r.P99MS, r.MaxMS = latencySummary(sorted)
	nodes := append([]float64(nil), r.NodeLatenciesMS...)
	r.NodeP50MS, r.NodeP99MS, _ = latencySummary(nodes)
	r.Missed = 0
	for _, l := range r.LatenciesMS {
		if math.IsInf(l, 1) {
			r.Missed++
		}
	}
	r.Converged = r.Missed == 0 && len(r.LatenciesMS) == r.Updates
}

func latencyOf(sent, last time.Time, ok bool) float64 {
	if !ok {
		return math.Inf(1)
	}
	return max(toMillis(last.Sub(sent)), 0)
}

// randomGap returns a pause in [0, d) before an update, so updates do not
// start in step with the gossip ticker.
func randomGap(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

// parseSizes parses -sizes ("64,100,200"); empty means just -nodes.
func parseSizes(s string, nodes int) ([]int, error) {
	if s == "" {
		return []int{nodes}, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return nil, fmt.Errorf("%w: -sizes %q: %q is not a size of at least 2", errBadFlag, s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// settleIf runs settle (at most two minutes) if p.Settle, and returns how
// long it took in seconds.
func settleIf(ctx context.Context, p convergenceParams, membershipBytes func() uint64, prog *progress, what string) (float64, error) {
	if !p.Settle {
		return 0, nil
	}
	t0 := time.Now()
	prog.update("%s: waiting for a quiet process", what)
	if err := settle(ctx, 2*time.Minute, membershipBytes); err != nil {
		return 0, err
	}
	s := time.Since(t0).Seconds()
	prog.done("%s: quiet after %.1f s", what, s)
	return s, nil
}

// idleRate measures, when p.Idle is set, the bytes per node per second a
// cluster writes with no update (wireBytes sums what its nodes wrote).
func idleRate(ctx context.Context, p convergenceParams, wireBytes func() uint64) (float64, error) {
	if p.Idle <= 0 {
		return 0, nil
	}
	b0, t0 := wireBytes(), time.Now()
	if err := sleepCtx(ctx, p.Idle); err != nil {
		return 0, err
	}
	return float64(wireBytes()-b0) / float64(p.Nodes) / time.Since(t0).Seconds(), nil
}

// bytesPerUpdate sets the traffic fields from what the nodes wrote during
// the update phase (sent bytes over took).
func (r *convergenceResult) bytesPerUpdate(p convergenceParams, sent uint64, took time.Duration) {
	r.BytesPerNodePerS = float64(sent) / float64(p.Nodes) / took.Seconds()
	r.BytesPerUpdatePerNode = float64(sent) / float64(p.Updates*p.Nodes)
	if r.IdleBytesPerNodePerS > 0 {
		r.MarginalBytesPerUpdatePerNode = max(0, (r.BytesPerNodePerS-r.IdleBytesPerNodePerS)*took.Seconds()/float64(p.Updates))
	}
}

// dashIfZero formats bytes, or a dash for a quantity not measured.
func dashIfZero(v float64) string {
	if v == 0 {
		return "—"
	}
	return humanBytes(v)
}
