package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/shoal-go/shoal/swarm"
	simnet "github.com/shoal-go/shoal/swarm/swarmtest"
)

// errBadFlag is returned when a flag holds a value the scenario cannot use.
var errBadFlag = errors.New("shoalbench: bad flag value")

// network says where the nodes talk: real sockets on 127.0.0.1, or the
// in-process fault-injecting network.
type network struct {
	Transport string // "loopback" or "sim"
	Drop      float64
	Delay     time.Duration
	Jitter    time.Duration
	Seed      int64
}

// register binds the network flags to nw, with transport as -transport's
// default.
func (nw *network) register(fs *flag.FlagSet, transport string) {
	fs.StringVar(&nw.Transport, "transport", transport, "loopback (real UDP/TCP on 127.0.0.1) or sim (in-process, with faults)")
	fs.Float64Var(&nw.Drop, "drop", 0, "packet loss probability (sim only)")
	fs.DurationVar(&nw.Delay, "delay", 0, "one-way packet delay (sim only)")
	fs.DurationVar(&nw.Jitter, "jitter", 0, "extra random packet delay in [0, jitter) (sim only)")
	fs.Int64Var(&nw.Seed, "seed", 1, "seed of the simulated network's faults")
}

func (nw network) validate() error {
	switch nw.Transport {
	case "loopback":
		if nw.Drop != 0 || nw.Delay != 0 || nw.Jitter != 0 {
			return fmt.Errorf("%w: -drop, -delay and -jitter need -transport sim", errBadFlag)
		}
	case "sim":
	default:
		return fmt.Errorf("%w: -transport %q (want loopback or sim)", errBadFlag, nw.Transport)
	}
	return nil
}

// presetConfig returns node name's configuration for a preset. Every
// preset binds 127.0.0.1 on a free port.
//
//	lan    DefaultLANConfig timings, fast path off: relayed gossip every 200 ms
//	fast   DefaultLANConfig timings with the fast path (DirectSendMaxMembers 64)
//	local  DefaultLocalConfig: gossip every 50 ms, fast path on
//	scale  LAN timings for hundreds of simulated nodes on a small machine
//	lossy  local timings with failure detection and anti-entropy tolerant
//	       of heavy loss (probe every 1 s, 500 ms timeout, push/pull 1 s)
func presetConfig(preset, name string) (swarm.Config, error) {
	var c swarm.Config
	switch preset {
	case "lan", "fast", "scale":
		c = swarm.DefaultLANConfig(name)
		c.BindAddr, c.BindPort = "127.0.0.1", 0
		if preset == "lan" {
			c.DirectSendMaxMembers = 0 // gossip only: no fast path,
			c.TreeFanout = 0           // no broadcast tree
		}
		if preset == "scale" {
			// Probes and anti-entropy are what cost CPU at 500 nodes in
			// one process; slower failure detection keeps two cores
			// ahead of the work, gossip keeps its LAN pace.
			c.ProbeInterval = 2 * time.Second
			c.ProbeTimeout = time.Second
			c.SuspicionMult = 6
			c.PushPullInterval = 10 * time.Second
			c.TCPTimeout = 30 * time.Second
		}
	case "local":
		c = swarm.DefaultLocalConfig(name)
	case "lossy":
		c = swarm.DefaultLocalConfig(name)
		c.ProbeInterval = time.Second
		c.ProbeTimeout = 500 * time.Millisecond
		c.PushPullInterval = time.Second
	default:
		return c, fmt.Errorf("%w: -preset %q (want lan, local, fast, scale or lossy)", errBadFlag, preset)
	}
	return c, nil
}

// detection overrides a preset's failure detection where positive. At
// 1,000 nodes in one process on two cores the scale preset's probes time
// out, and the suspicions they start keep the process saturated.
type detection struct {
	ProbeInterval, ProbeTimeout time.Duration
	SuspicionMult               int
}

func (d *detection) register(fs *flag.FlagSet) {
	fs.DurationVar(&d.ProbeInterval, "probe-interval", 0, "Config.ProbeInterval (0: the preset's)")
	fs.DurationVar(&d.ProbeTimeout, "probe-timeout", 0, "Config.ProbeTimeout (0: the preset's)")
	fs.IntVar(&d.SuspicionMult, "suspicion-mult", 0, "Config.SuspicionMult (0: the preset's)")
}

func (d detection) validate() error {
	if d.ProbeInterval < 0 || d.ProbeTimeout < 0 || d.SuspicionMult < 0 {
		return fmt.Errorf("%w: -probe-interval %v, -probe-timeout %v, -suspicion-mult %d (want 0 or more)", errBadFlag, d.ProbeInterval, d.ProbeTimeout, d.SuspicionMult)
	}
	return nil
}

func (d detection) apply(c *swarm.Config) {
	if d.ProbeInterval > 0 {
		c.ProbeInterval = d.ProbeInterval
	}
	if d.ProbeTimeout > 0 {
		c.ProbeTimeout = d.ProbeTimeout
	}
	if d.SuspicionMult > 0 {
		c.SuspicionMult = d.SuspicionMult
	}
}

// flags is the command-line form of d, empty for the preset's own.
func (d detection) flags() string {
	var s string
	if d.ProbeInterval > 0 {
		s += fmt.Sprintf(" -probe-interval %v", d.ProbeInterval)
	}
	if d.ProbeTimeout > 0 {
		s += fmt.Sprintf(" -probe-timeout %v", d.ProbeTimeout)
	}
	if d.SuspicionMult > 0 {
		s += fmt.Sprintf(" -suspicion-mult %d", d.SuspicionMult)
	}
	return s
}

// cluster is a set of shoal nodes in this process, joined into one
// cluster.
type cluster struct {
	nodes []*swarm.Node
	sim   *simnet.Network // nil on loopback
}

// startCluster starts size nodes with the preset's configuration on nw,
// joins them and waits until every node sees all of them. On a simulated
// network the faults are switched on only after the cluster has formed:
// the scenarios measure updates under loss, not joins.
func startCluster(ctx context.Context, size int, preset string, det detection, nw network, prog *progress, what string) (*cluster, error) {
	paceAsFleet(size)
	c := &cluster{}
	if nw.Transport == "sim" {
		sim, err := simnet.NewNetwork(simnet.FaultConfig{Seed: nw.Seed})
		if err != nil {
			return nil, err
		}
		c.sim = sim
	}
	for i := range size {
		cfg, err := presetConfig(preset, fmt.Sprintf("node-%d", i))
		if err != nil {
			c.close()
			return nil, err
		}
		det.apply(&cfg)
		if c.sim != nil {
			tr, err := c.sim.NewTransport(cfg.Name)
			if err != nil {
				c.close()
				return nil, err
			}
			cfg.Transport = tr
		}
		nd, err := swarm.New(cfg)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
		}
		c.nodes = append(c.nodes, nd)
		prog.update("%s: started %d/%d nodes", what, i+1, size)
	}
	addrs := make([]string, size)
	for i, nd := range c.nodes {
		addrs[i] = nd.Addr()
	}
	if err := joinTree(ctx, size, func(ctx context.Context, i int, seeds []int) error {
		_, err := c.nodes[i].Join(ctx, seedAddrs(addrs, seeds)...)
		return err
	}, prog, what); err != nil {
		c.close()
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(size), 13))
	if err := waitFull(ctx, size, 30*time.Second+time.Duration(size)*100*time.Millisecond, func(i int) int {
		return c.nodes[i].Stats().Members
	}, func(i int) {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, _ = c.nodes[i].Join(jctx, randomSeeds(rng, addrs)...) // a failed re-join is retried
	}, prog, what); err != nil {
		c.close()
		return nil, err
	}
	if c.sim != nil {
		if err := c.sim.SetFaults(simnet.FaultConfig{Drop: nw.Drop, Delay: nw.Delay, Jitter: nw.Jitter, Seed: nw.Seed}); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// joinTree joins the nodes in batches of four: node i (i ≥ 1) joins node
// (i−1)/4 — a 4-ary tree, so no node serves every join — and two random
// nodes that joined before it. A join learns the cluster from the seeds'
// member lists; with one seed, a member whose arrival was still being
// gossiped when the seed answered stays unknown to the joiner until the
// next anti-entropy round, which at hundreds of nodes is minutes away.
func joinTree(ctx context.Context, size int, join func(ctx context.Context, i int, seeds []int) error, prog *progress, what string) error {
	const parallel = 4
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		done  int
	)
	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for batch := 1; batch < size; batch += parallel {
		for i := batch; i < min(batch+parallel, size); i++ {
			seeds := []int{(i - 1) / 4}
			for range 2 {
				if s := rng.IntN(batch); !slices.Contains(seeds, s) {
					seeds = append(seeds, s)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				err := join(jctx, i, seeds)
				cancel()
				mu.Lock()
				defer mu.Unlock()
				done++
				if err != nil && first == nil {
					first = fmt.Errorf("join node-%d to %v: %w", i, seeds, err)
				}
				prog.update("%s: joined %d/%d nodes", what, done+1, size)
			}()
		}
		wg.Wait()
		if first != nil {
			return first
		}
	}
	return nil
}

// randomSeeds returns three random addresses of addrs, for a node short of
// members to re-join. Not every address: a join push/pulls with each
// seed in turn, and a node re-joining all 500 of a cluster's members
// exchanged 500 member lists of 500 entries every 2 s; neither the
// memberlist reference cluster nor shoal's (convergence -nodes 500) then
// formed. Any three members of a formed cluster know it all.
func randomSeeds(rng *rand.Rand, addrs []string) []string {
	return []string{addrs[rng.IntN(len(addrs))], addrs[rng.IntN(len(addrs))], addrs[rng.IntN(len(addrs))]}
}

// seedAddrs returns the addresses of the seeds.
func seedAddrs(addrs []string, seeds []int) []string {
	out := make([]string, len(seeds))
	for k, s := range seeds {
		out[k] = addrs[s]
	}
	return out
}

// waitFull polls until members(i) == size for every node i. If repair is
// not nil, it is called every few seconds for each node still short of
// members, as a discovery source would re-join them.
//
// Why repair is needed: a join learns the cluster from its seeds' member
// lists, and a member whose arrival was still being gossiped when the seed
// answered reaches the joiner only by gossip or the next anti-entropy
// round. Nodes joined a few milliseconds apart (as here) often miss the
// gossip wave, and anti-entropy is 30 to 60 s away at LAN timings. The
// convergence and traffic scenarios measure updates, not joins, so they
// repair; the scale scenario does not, and reports the time.
func waitFull(ctx context.Context, size int, timeout time.Duration, members func(i int) int, repair func(i int), prog *progress, what string) error {
	const repairEvery = 2 * time.Second
	deadline := time.Now().Add(timeout)
	nextRepair := time.Now().Add(repairEvery)
	poll := 10 * time.Millisecond
	for {
		full := 0
		var short []int
		for i := range size {
			if members(i) == size {
				full++
			} else {
				short = append(short, i)
			}
		}
		if full == size {
			return nil
		}
		prog.update("%s: %d/%d nodes see all %d members", what, full, size, size)
		if time.Now().After(deadline) {
			return fmt.Errorf("membership: only %d of %d nodes see all members after %v", full, size, timeout)
		}
		if repair != nil && time.Now().After(nextRepair) {
			for _, i := range short {
				repair(i)
			}
			nextRepair = time.Now().Add(repairEvery)
		}
		if err := sleepCtx(ctx, poll); err != nil {
			return err
		}
		if poll < 200*time.Millisecond {
			poll *= 2
		}
	}
}

// wireBytes sums every node's bytes written to the network.
func (c *cluster) wireBytes() uint64 {
	return c.sum(func(st swarm.Stats) uint64 { return st.WireBytesSent })
}

// membershipBytes sums the part of them that carried memberlist's own
// messages (Stats.MembershipBytesSent).
func (c *cluster) membershipBytes() uint64 {
	return c.sum(func(st swarm.Stats) uint64 { return st.MembershipBytesSent })
}

// sum adds up one counter of every node's Stats.
func (c *cluster) sum(counter func(swarm.Stats) uint64) uint64 {
	var sum uint64
	for _, nd := range c.nodes {
		sum += counter(nd.Stats())
	}
	return sum
}

// messagesSent sums shoal's own messages sent by every node, all kinds.
func (c *cluster) messagesSent() uint64 {
	var sum uint64
	for _, nd := range c.nodes {
		for _, t := range nd.Stats().Sent {
			sum += t.Messages
		}
	}
	return sum
}

// close stops every node (in parallel: each Close waits for its
// goroutines) and the simulated network.
func (c *cluster) close() {
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); _ = nd.Close() }()
	}
	wg.Wait()
	if c.sim != nil {
		_ = c.sim.Close()
	}
	c.nodes, c.sim = nil, nil // a second close does nothing
	paceAsFleet(0)
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
