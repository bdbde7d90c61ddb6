package swarm_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// scaleTreeConfig tunes 200 nodes in one process so that the broadcast
// tree is what carries values:
//
//   - the tree is on and the fast path off (DirectSendMaxMembers 64 < 200);
//   - periodic anti-entropy is off (PushPullInterval 0): the test runs
//     the exchanges itself, after measuring what the tree delivered;
//   - memberlist's gossip keeps its LAN pace for membership; it also
//     carries each origin's own deltas to a few random peers (the safety
//     net), which do not relay them: about 15 of 200 nodes;
//   - failure detection is off (a probe an hour): under the race
//     detector on two loaded cores a 1 s probe timeout made hundreds of
//     false suspicions and kept 200 nodes from forming for minutes; and
//     so the killed nodes stay in every view: the tree must route around
//     them by its grafts alone, not by refreshed views.
func scaleTreeConfig(i int, c *swarm.Config) {
	c.GossipInterval = 200 * time.Millisecond
	c.PushPullInterval = 0
	c.ProbeInterval = time.Hour
	c.ProbeTimeout = time.Second
	c.TCPTimeout = 10 * time.Second
	c.Logger = slog.New(slog.DiscardHandler) // 200 nodes' probe noise
}

// 200 nodes on a simulated network that loses 5 % of packets (1 ms ± 1 ms
// of delay), past the fast path so deltas go down the broadcast tree. Every
// node adds in two bursts; then 20 nodes (10 %) stop, and once some live
// node holds each one's last add they are killed while the 180 others add
// in two more bursts. Every live node must end with the exact total: every
// add made on a live node plus each killed node's slot as it stood when it
// stopped.
//
// What it proves, in two steps. First the tree alone (anti-entropy off):
// Plumtree's eager pushes and its repair (lazy announcements, then a graft
// to an announcer) bring at least 95 % of the (live node, origin) pairs
// their origin's last slot, despite the loss and the dead tree nodes; the
// origin's gossip reaches only about 15 nodes, so a tree that does not
// relay fails here. Then anti-entropy exchanges (push/pull, as
// PushPullInterval would run them) make every live node exact. The tree
// alone is not required to be exact: its grafts give up once every
// announcer failed to answer, and at this size and loss some pairs are
// left for anti-entropy in every run so far (log line "tree alone":
// 98.1–99.4 % of 36,000 pairs; a few origins' last broadcast reached
// only the nodes its gossip did). With the tree's relay planted out
// (onGossip not pushing) the tree alone held 10.6 % and the test failed.
//
// Under -race on 2 cores shared with other work it took 61 s, 79 s and
// 112 s (load 2–4): forming 200 nodes is 18–38 s of it.
func TestBroadcastTreeAt200NodesUnderLossAndKillsConvergesExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("200 nodes under faults: skipped in -short")
	}
	const nodes, killed = 200, 20
	start := time.Now()
	simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Seed: 11})
	require.NoError(t, err)
	t.Cleanup(func() { _ = simnet.Close() })
	c := swarmtest.Start(t, nodes, swarmtest.Options{
		Config:    scaleTreeConfig,
		NoJoin:    true,
		Transport: func(name string) (memberlist.NodeAwareTransport, error) { return simnet.NewTransport(name) },
	})
	all := c.Nodes()
	joinSpread(t, all)
	t.Logf("joins returned after %v", time.Since(start).Round(time.Millisecond))
	c.WaitMembers(t, nodes, 5*time.Minute)
	t.Logf("%d nodes formed in %v", nodes, time.Since(start).Round(time.Millisecond))
	require.NoError(t, simnet.SetFaults(swarmtest.FaultConfig{Drop: 0.05, Delay: time.Millisecond, Jitter: time.Millisecond, Seed: 11}))

	cs := counters(t, c, "total")
	// Every tenth node is killed; the others live.
	var live, dead []int
	for i := range nodes {
		if i%(nodes/killed) == nodes/killed-1 {
			dead = append(dead, i)
		} else {
			live = append(live, i)
		}
	}

	// In a burst each origin adds once, a few milliseconds apart, so the
	// tree carries one broadcast per origin. A later burst's broadcast
	// carries the origin's whole slot, so only an origin's last broadcast
	// must arrive.
	var liveAdded int64
	burst := func(k int, who []int) {
		for _, i := range who {
			d := int64(i%7 + 1 + 10*k)
			require.NoError(t, cs[i].Add(d))
			if !slices.Contains(dead, i) {
				liveAdded += d
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	everyone := append(slices.Clone(live), dead...)
	burst(0, everyone)
	burst(1, everyone)
	// The doomed nodes stop; their slots are final. Wait until some live
	// node holds each (the add was flushed and acknowledged), then kill
	// them while the live ones add.
	final := make(map[int]uint64, len(dead))
	for _, d := range dead {
		final[d] = slot(t, cs[d], all[d])
	}
	swarmtest.WaitFor(t, 2*time.Minute, func() error {
		for _, d := range dead {
			if !slices.ContainsFunc(live, func(i int) bool { return slot(t, cs[i], all[d]) == final[d] }) {
				return fmt.Errorf("no live node holds node-%d's last slot %d yet", d, final[d])
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, d := range dead {
			if err := all[d].Close(); err != nil {
				t.Error(err)
			}
		}
	}()
	burst(2, live)
	wg.Wait()
	burst(3, live)
	t.Logf("adds ended at %v", time.Since(start).Round(time.Millisecond))

	// The origins' last slots: what each live node must hold.
	want := make(map[int]uint64, nodes)
	var total int64
	for _, i := range live {
		want[i] = slot(t, cs[i], all[i])
		total += int64(want[i])
	}
	require.Equal(t, liveAdded, total, "the live origins' own slots are their adds")
	for _, d := range dead {
		want[d] = final[d]
		total += int64(final[d])
	}
	// short counts the (live node, origin) pairs whose origin's last slot
	// the node lacks: one read of each node's counter.
	short := func() (pairs int, nodes []int) {
		for _, i := range live {
			n := 0
			require.NoError(t, cs[i].Shared().Read(func(p *crdt.PNCounter) {
				for o, w := range want {
					if p.P.Get(all[o].Replica()) != w {
						n++
					}
				}
			}))
			if n > 0 {
				pairs += n
				nodes = append(nodes, i)
			}
		}
		return pairs, nodes
	}

	// Step 1: the tree alone, until every pair is delivered or nothing
	// has moved for a while (its graft timers are 50 ms; the wait is
	// long so that a stalled, loaded machine is not taken for a
	// finished tree).
	const stall = 10 * time.Second
	pairs := len(live) * len(want)
	missed, lagging := short()
	for last, since := missed, time.Now(); missed > 0 && time.Since(since) < stall; {
		time.Sleep(250 * time.Millisecond)
		if missed, lagging = short(); missed != last {
			last, since = missed, time.Now()
		}
	}
	t.Logf("tree alone: %d of %d (live node, origin) pairs hold the origin's last slot (%.2f %%); %d nodes short, at %v; net %+v",
		pairs-missed, pairs, 100*float64(pairs-missed)/float64(pairs), len(lagging), time.Since(start).Round(time.Millisecond), simnet.Stats())
	require.LessOrEqual(t, missed, pairs/20, "the tree delivered under 95 %% of the last slots\n%s", describeShort(t, all, cs, live, want))

	// Step 2: anti-entropy. Each node still short exchanges state with a
	// random live node (a join is a push/pull), until all are exact.
	rng := rand.New(rand.NewPCG(11, 12))
	liveCs := make([]*swarm.Counter, len(live))
	for k, i := range live {
		liveCs[k] = cs[i]
	}
	err = swarmtest.Await(2*time.Minute, func() error {
		if err := counted(liveCs, total); err == nil {
			return nil
		}
		_, lagging := short()
		for _, i := range lagging {
			peer := all[live[rng.IntN(len(live))]]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, _ = all[i].Join(ctx, peer.Addr())
			cancel()
		}
		return counted(liveCs, total)
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, describeShort(t, all, cs, live, want))
	}
	t.Logf("%d live nodes read %d; %v in all", len(live), total, time.Since(start).Round(time.Millisecond))
}

// joinSpread joins node i to node (i-1)/4 and to two random earlier nodes,
// four joins at a time (as shoalbench's scale scenario does): no node
// answers every join, and a joiner that missed the gossip of a node that
// joined just before it learns of it from one of its other seeds.
func joinSpread(t *testing.T, all []*swarm.Node) {
	t.Helper()
	const parallel = 4
	rng := rand.New(rand.NewPCG(uint64(len(all)), 7))
	for batch := 1; batch < len(all); batch += parallel {
		var wg sync.WaitGroup
		for i := batch; i < min(batch+parallel, len(all)); i++ {
			seeds := []string{all[(i-1)/4].Addr()}
			for range 2 {
				if s := all[rng.IntN(batch)].Addr(); !slices.Contains(seeds, s) {
					seeds = append(seeds, s)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := all[i].Join(ctx, seeds...); err != nil {
					t.Errorf("join %s: %v", all[i].Name(), err)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
}

// slot returns the count of origin's replica in counter c.
func slot(t *testing.T, c *swarm.Counter, origin *swarm.Node) uint64 {
	t.Helper()
	var n uint64
	require.NoError(t, c.Shared().Read(func(p *crdt.PNCounter) { n = p.P.Get(origin.Replica()) }))
	return n
}

func counted(cs []*swarm.Counter, want int64) error {
	for i, c := range cs {
		v, err := c.Value()
		if err != nil {
			return err
		}
		if v != want {
			return fmt.Errorf("live counter %d reads %d, want %d", i, v, want)
		}
	}
	return nil
}

// describeShort says, for a failed convergence, which origins' last slots
// how many live nodes lack, and the tree state of the origins most missed.
func describeShort(t *testing.T, all []*swarm.Node, cs []*swarm.Counter, live []int, want map[int]uint64) string {
	t.Helper()
	byOrigin := map[int]int{}
	for _, i := range live {
		for o, w := range want {
			if slot(t, cs[i], all[o]) != w {
				byOrigin[o]++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "origins' last slots missed (origin: live nodes lacking it): %v\n", byOrigin)
	for o, k := range byOrigin {
		if k < len(live)/2 || all[o].Closed() {
			continue
		}
		st := all[o].Stats()
		fmt.Fprintf(&b, "node-%d, missed by %d: members %d, tree eager %.1f, lazy %.1f, broadcasts %d, grafts %d, give-ups %d\n",
			o, k, st.Members, st.Tree.Eager, st.Tree.Lazy, st.Tree.Broadcasts, st.Tree.Grafts, st.Tree.GraftGiveUps)
	}
	return b.String()
}
