package main

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// gcPacer paces this process's garbage collector the way a fleet's are
// paced in total. A fleet of N nodes is N processes, and the Go runtime
// never sets a process's heap goal below 4 MiB (at GOGC=100), however
// little it keeps live: a node keeping 0.6 MB collects once per 3.4 MB it
// allocates. The harness runs every node in one process, whose goal is
// twice the nodes' summed live heap, so without this it collects several
// times as often per byte allocated as the fleet it stands for, and every
// collection stops all of its nodes at once.
//
// The pacer sets GOGC so that the process's heap goal is what the fleet's
// goals add up to: max(2 × live, N × 4 MiB), up to GOGC 500 (see
// maxFleetPercent). The garbage collector then does the fleet's total
// work, in fewer and larger collections: the harness still marks every
// node's heap at once on its cores, where a fleet marks each node's small
// heap on its own, so it remains the harsher of the two.
//
// It runs only if GOGC is not set in the environment: GOGC=100 measures
// the one process as it is, as rows before the pacer existed did.
type gcPacer struct {
	nodes  atomic.Int64
	sample []metrics.Sample
	set    int // the GOGC last set, 0 before the first
}

// nodeHeapMinimum is the Go runtime's smallest heap goal at GOGC=100
// (runtime.defaultHeapMinimum).
const nodeHeapMinimum = 4 << 20

// maxFleetPercent caps the GOGC the pacer sets. Past it, the one process
// stops looking like the fleet in another way: a heap whose goal is many
// times what it keeps is mostly memory touched for the first time (page
// faults, cold caches), where each node of a fleet reuses its few
// megabytes. At 100 nodes the pacer asked for about 2,000, and updates got
// slower than with no pacing at all: p99 63–81 ms in 7 of 8 runs at GOGC
// 1,700–2,600, against 28–60 ms at GOGC 100 and 500 (docs/BENCHMARKS.md).
// At 500 nodes and more the pacer asks for about 500 or less.
const maxFleetPercent = 500

// gcPaceEvery is how often the pacer reads the live heap, which the
// runtime updates once per collection.
const gcPaceEvery = 250 * time.Millisecond

// fleetPacer is the process's pacer; scenarios tell it their node count.
var fleetPacer = &gcPacer{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}

// paceAsFleet tells the pacer how many nodes the scenario runs at once:
// a cluster's start (and a ratelimit run) sets it, and its close sets 0
// (the runtime's default pacing), so that a scenario starting nodes of
// its own, such as soak or antientropy, is not paced for the one before.
func paceAsFleet(nodes int) { fleetPacer.nodes.Store(int64(nodes)) }

// fleetPercent is the GOGC that makes the heap goal of a process keeping
// live bytes equal to the summed goals of nodes processes sharing them,
// capped at maxFleetPercent.
func fleetPercent(nodes int, live uint64) int {
	if nodes <= 0 || live == 0 {
		return 100 // nothing known yet: the runtime's own default
	}
	goal := max(2*live, uint64(nodes)*nodeHeapMinimum)
	return int(min(100*(goal-live)/live, maxFleetPercent))
}

// run paces the collector until ctx ends, unless GOGC is set.
func (g *gcPacer) run(ctx context.Context) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	t := time.NewTicker(gcPaceEvery)
	defer t.Stop()
	for {
		g.step()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// step sets GOGC from the live heap the last collection found, when it
// moved by more than 5 %: each change recomputes the runtime's pacing.
func (g *gcPacer) step() {
	metrics.Read(g.sample)
	var live uint64
	if s := g.sample[0]; s.Value.Kind() == metrics.KindUint64 {
		live = s.Value.Uint64()
	}
	p := fleetPercent(int(g.nodes.Load()), live)
	if g.set == 0 || p*20 < g.set*19 || p*20 > g.set*21 {
		debug.SetGCPercent(p)
		g.set = p
	}
}
