package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/shoal-go/shoal/swarm"
)

// burstParams configure a burst measurement: one node changes Values
// values at once (one flush), Rounds times.
type burstParams struct {
	Nodes   int
	Values  int
	Rounds  int
	Preset  string
	Net     network
	Timeout time.Duration
}

// burstResult is one burst row.
type burstResult struct {
	Scenario  string `json:"scenario"`
	Preset    string `json:"preset"`
	Nodes     int    `json:"nodes"`
	Transport string `json:"transport"`
	Values    int    `json:"values"`
	Rounds    int    `json:"rounds"`
	// The latency of a round is from the first Add until every peer reads
	// every value's new count; it includes the FlushInterval wait.
	P50MS millis `json:"p50_ms"`
	MaxMS millis `json:"max_ms"`
	// CPUMSPerRound is the CPU time the whole process (every node, and the
	// polling reader) used per round, averaged: with every node in one
	// process on a few shared cores, the latency is mostly the wait for
	// that CPU, which nodes on machines of their own would not share.
	CPUMSPerRound millis `json:"cpu_ms_per_round"`
	// PerRound are the rounds in order: each one's latency, CPU and what
	// the Go runtime saw of this process meanwhile (see scale's
	// per_update).
	PerRound  []burstRound `json:"per_round"`
	Converged bool         `json:"converged"`
	Command   string       `json:"command"`
}

// burstRound is one round of a burst run.
type burstRound struct {
	LatencyMS millis `json:"latency_ms"`
	CPUMS     millis `json:"cpu_ms"`
	stallSince
}

func (r burstResult) columns() []string {
	return []string{"preset", "nodes", "transport", "values", "rounds", "p50 ms", "max ms", "CPU ms/round", "converged"}
}

func (r burstResult) cells() []string {
	return []string{r.Preset, fmt.Sprint(r.Nodes), r.Transport, fmt.Sprint(r.Values), fmt.Sprint(r.Rounds),
		r.P50MS.String(), r.MaxMS.String(), r.CPUMSPerRound.String(), fmt.Sprint(r.Converged)}
}

func (p burstParams) command() string {
	return fmt.Sprintf("burst -nodes %d -values %d -rounds %d -preset %s%s", p.Nodes, p.Values, p.Rounds, p.Preset, p.Net.flags())
}

func (p burstParams) validate() error {
	switch {
	case p.Nodes < 2:
		return fmt.Errorf("%w: -nodes %d (want at least 2)", errBadFlag, p.Nodes)
	case p.Values < 1:
		return fmt.Errorf("%w: -values %d", errBadFlag, p.Values)
	case p.Rounds < 1:
		return fmt.Errorf("%w: -rounds %d", errBadFlag, p.Rounds)
	case p.Timeout <= 0:
		return fmt.Errorf("%w: -timeout %v", errBadFlag, p.Timeout)
	}
	if _, err := presetConfig(p.Preset, "x"); err != nil {
		return err
	}
	return p.Net.validate()
}

func runBurstCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("burst", flag.ContinueOnError)
	fs.SetOutput(errOut)
	p := burstParams{}
	fs.IntVar(&p.Nodes, "nodes", 10, "number of nodes")
	fs.IntVar(&p.Values, "values", 5000, "values changed at once by node-0")
	fs.IntVar(&p.Rounds, "rounds", 5, "bursts to measure, one after another")
	fs.StringVar(&p.Preset, "preset", "local", "timings: local, fast or lan")
	p.Net.register(fs, "loopback")
	fs.DurationVar(&p.Timeout, "timeout", time.Minute, "wait per round before it counts as not converged")
	asJSON := fs.Bool("json", false, "print one JSON object per result on stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	r, err := runBurst(ctx, p, newProgress(errOut))
	if err != nil {
		return err
	}
	return printOne(out, *asJSON, r)
}

// runBurst starts a cluster, registers Values counters on every node, and
// then Rounds times has node-0 add 1 to all of them at once and times
// until every other node reads the round's count on every counter.
func runBurst(ctx context.Context, p burstParams, prog *progress) (burstResult, error) {
	res := burstResult{Scenario: "burst", Preset: p.Preset, Nodes: p.Nodes, Transport: p.Net.Transport,
		Values: p.Values, Rounds: p.Rounds, Command: "go run ./internal/cmd/shoalbench " + p.command()}
	if err := p.validate(); err != nil {
		return res, err
	}
	what := fmt.Sprintf("burst %d values, %d nodes", p.Values, p.Nodes)
	c, err := startCluster(ctx, p.Nodes, p.Preset, detection{}, p.Net, prog, what)
	if err != nil {
		return res, err
	}
	defer c.close()
	ctrs := make([][]*swarm.Counter, p.Nodes)
	for i, nd := range c.nodes {
		ctrs[i] = make([]*swarm.Counter, p.Values)
		for k := range p.Values {
			if ctrs[i][k], err = swarm.NewCounter(nd, fmt.Sprint("burst-", k)); err != nil {
				return res, err
			}
		}
		prog.update("%s: registered the values on %d/%d nodes", what, i+1, p.Nodes)
	}
	var lat []float64
	var cpu time.Duration
	res.Converged = true
	stalls := newStallProbe()
	defer stalls.close()
	for round := 1; round <= p.Rounds; round++ {
		cpu0, _ := processCPU()
		before := stalls.read()
		stalls.sent()
		start := time.Now()
		for _, ctr := range ctrs[0] {
			if err := ctr.Add(1); err != nil {
				return res, err
			}
		}
		took, ok := waitBurst(ctx, ctrs[1:], int64(round), start, p.Timeout)
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if !ok {
			res.Converged = false
			lat = append(lat, toMillis(took))
			break
		}
		lat = append(lat, toMillis(took))
		cpu1, _ := processCPU()
		cpu += cpu1 - cpu0
		res.PerRound = append(res.PerRound, burstRound{LatencyMS: millis(toMillis(took)), CPUMS: millis(toMillis(cpu1 - cpu0)), stallSince: stalls.read().since(before)})
		stalls.slow(toMillis(took))
		prog.update("%s: round %d/%d in %v", what, round, p.Rounds, took.Round(time.Millisecond))
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil { // let relays settle
			return res, err
		}
	}
	p50, _, mx := latencySummary(lat)
	res.P50MS, res.MaxMS = p50, mx
	res.CPUMSPerRound = millis(math.NaN())
	if _, ok := processCPU(); ok && len(lat) > 0 && res.Converged {
		res.CPUMSPerRound = millis(toMillis(cpu) / float64(len(lat)))
	}
	prog.done("%s: done", what)
	return res, nil
}

// waitBurst polls, one goroutine per node, until every counter of every
// node reads want, and returns the time from start until the last node
// got there. While the first pending counter has not arrived a poll reads
// only that one, so that the measurement costs little CPU next to the
// nodes it measures.
func waitBurst(ctx context.Context, nodes [][]*swarm.Counter, want int64, start time.Time, timeout time.Duration) (time.Duration, bool) {
	deadline := start.Add(timeout)
	var wg sync.WaitGroup
	var mu sync.Mutex
	last, ok := time.Duration(0), true
	arrived := func(c *swarm.Counter) bool {
		v, err := c.Value()
		return err == nil && v >= want
	}
	for _, ctrs := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The counters are checked in order, each until it has
			// arrived (a count never goes back), so a round reads each
			// once or a few times. Rescanning every pending counter
			// whenever the first had arrived read them thousands of times
			// while a burst was being merged: a sixth of the process's
			// CPU, taken from the nodes it measured.
			pending := ctrs
			for len(pending) > 0 {
				if arrived(pending[0]) {
					pending = pending[1:]
					continue
				}
				if time.Now().After(deadline) || ctx.Err() != nil {
					mu.Lock()
					ok = false
					mu.Unlock()
					return
				}
				time.Sleep(500 * time.Microsecond)
			}
			took := time.Since(start)
			mu.Lock()
			last = max(last, took)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if !ok {
		return timeout, false
	}
	return last, true
}

// leaveParams configure a leave measurement.
type leaveParams struct {
	Nodes        int
	Values       int
	LeaveTimeout time.Duration
}

// leaveResult is one leave row.
type leaveResult struct {
	Scenario string `json:"scenario"`
	Nodes    int    `json:"nodes"`
	Values   int    `json:"values"`
	// LeaveMS is how long Leave took, with every value changed and not
	// yet flushed; Unflushed the values its last flush had no time for.
	LeaveTimeoutMS millis `json:"leave_timeout_ms"`
	LeaveMS        millis `json:"leave_ms"`
	Unflushed      uint64 `json:"unflushed"`
	Command        string `json:"command"`
}

func (r leaveResult) columns() []string {
	return []string{"nodes", "dirty values", "LeaveTimeout ms", "Leave ms", "left unflushed"}
}

func (r leaveResult) cells() []string {
	return []string{fmt.Sprint(r.Nodes), fmt.Sprint(r.Values), r.LeaveTimeoutMS.String(), r.LeaveMS.String(), fmt.Sprint(r.Unflushed)}
}

func runLeaveCmd(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("leave", flag.ContinueOnError)
	fs.SetOutput(errOut)
	p := leaveParams{}
	fs.IntVar(&p.Nodes, "nodes", 3, "number of nodes, the leaving one included")
	fs.IntVar(&p.Values, "values", 100_000, "values changed on the leaving node and not yet flushed")
	fs.DurationVar(&p.LeaveTimeout, "leavetimeout", 2*time.Second, "Config.LeaveTimeout of the leaving node")
	asJSON := fs.Bool("json", false, "print one JSON object per result on stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	r, err := runLeave(ctx, p, newProgress(errOut))
	if err != nil {
		return err
	}
	return printOne(out, *asJSON, r)
}

// runLeave times Leave on a node of a loopback cluster (local preset, no
// periodic anti-entropy) holding Values changed values that its flusher
// has not taken yet.
func runLeave(ctx context.Context, p leaveParams, prog *progress) (leaveResult, error) {
	res := leaveResult{Scenario: "leave", Nodes: p.Nodes, Values: p.Values, LeaveTimeoutMS: millis(toMillis(p.LeaveTimeout)),
		Command: fmt.Sprintf("go run ./internal/cmd/shoalbench leave -nodes %d -values %d -leavetimeout %v", p.Nodes, p.Values, p.LeaveTimeout)}
	if p.Nodes < 2 || p.Values < 1 || p.LeaveTimeout <= 0 {
		return res, fmt.Errorf("%w: -nodes %d -values %d -leavetimeout %v", errBadFlag, p.Nodes, p.Values, p.LeaveTimeout)
	}
	what := fmt.Sprintf("leave with %d dirty values", p.Values)
	c, err := startCluster(ctx, p.Nodes-1, "local", detection{}, network{Transport: "loopback"}, prog, what)
	if err != nil {
		return res, err
	}
	defer c.close()
	// The leaving node is a fresh one that never flushes on its own.
	cfg, _ := presetConfig("local", "leaver")
	cfg.LeaveTimeout = p.LeaveTimeout
	cfg.FlushInterval = time.Hour
	cfg.PushPullInterval = 0
	leaver, err := swarm.New(cfg)
	if err != nil {
		return res, err
	}
	defer leaver.Close()
	if _, err := leaver.Join(ctx, c.nodes[0].Addr()); err != nil {
		return res, err
	}
	for k := range p.Values {
		ctr, err := swarm.NewCounter(leaver, fmt.Sprint("leave-", k))
		if err != nil {
			return res, err
		}
		if err := ctr.Add(1); err != nil {
			return res, err
		}
	}
	prog.update("%s: leaving", what)
	start := time.Now()
	_ = leaver.Leave() // a leave broadcast cut by the timeout is reported, not fatal
	res.LeaveMS = millis(toMillis(time.Since(start)))
	res.Unflushed = leaver.Stats().Drops["leave_timeout"]
	prog.done("%s: done", what)
	return res, nil
}
