package swarm_test

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// treeOnly configures nodes so that the broadcast tree is the only way a
// delta can travel: no fast path, and memberlist sends nothing of its own
// (no gossip round, no probe to piggyback on, no periodic push/pull) for
// the length of the test.
func treeOnly(i int, c *swarm.Config) {
	c.DirectSendMaxMembers = 0
	c.GossipInterval = time.Hour
	c.ProbeInterval = time.Hour
	c.ProbeTimeout = time.Second
	c.PushPullInterval = 0
}

// Twelve real loopback nodes, each adding to a counter in five rounds: the
// tree alone brings every node the exact total after each round.
func TestBroadcastTreeAloneConverges(t *testing.T) {
	c := startTreeOnly(t, 12)
	cs := counters(t, c, "hits")
	var want int64
	for round := range 5 {
		for i, ctr := range cs {
			require.NoError(t, ctr.Add(int64(i+round+1)))
			want += int64(i + round + 1)
		}
		// Separate flushes make several broadcasts per origin.
		waitCounters(t, cs, want, 30*time.Second)
	}
	var tree, gossip uint64
	for _, nd := range c.Nodes() {
		st := nd.Stats()
		tree += st.Sent["tree"].Messages
		gossip += st.Sent["delta"].Messages
	}
	require.NotZero(t, tree, "the tree carried the deltas")
	require.Zero(t, gossip, "no gossip left any node")
}

// startTreeOnly starts n treeOnly nodes. With no gossip, membership
// spreads only by joins: each node joins every earlier one.
func startTreeOnly(t *testing.T, n int) *swarmtest.Cluster {
	t.Helper()
	c := swarmtest.Start(t, n, swarmtest.Options{Config: treeOnly, NoJoin: true})
	nodes := c.Nodes()
	for i, nd := range nodes[1:] {
		for _, prev := range nodes[:i+1] {
			_, err := nd.Join(t.Context(), prev.Addr())
			require.NoError(t, err)
		}
	}
	c.WaitMembers(t, n, 30*time.Second)
	return c
}

// 24 nodes past the fast path (the tree carries deltas) over a network
// that loses 5 % of packets, with three nodes killed mid-run: every live
// node ends with the exact total, including what the dead nodes had
// counted before they died.
func TestBroadcastTreeUnderLossAndKillsConvergesExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("24 nodes under faults: skipped in -short")
	}
	const nodes, killed = 24, 3
	simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Seed: 7})
	require.NoError(t, err)
	t.Cleanup(func() { _ = simnet.Close() })
	c := swarmtest.Start(t, nodes, swarmtest.Options{
		Config: func(i int, c *swarm.Config) {
			simConfig(nil)(i, c)
			c.DirectSendMaxMembers = 4
		},
		Transport: func(name string) (memberlist.NodeAwareTransport, error) { return simnet.NewTransport(name) },
	})
	require.NoError(t, simnet.SetFaults(swarmtest.FaultConfig{Drop: 0.05, Delay: time.Millisecond, Jitter: time.Millisecond, Seed: 7}))
	cs := counters(t, c, "total")
	var want int64
	add := func(live []*swarm.Counter) {
		for i, ctr := range live {
			for range 10 {
				require.NoError(t, ctr.Add(int64(i+1)))
				want += int64(i + 1)
			}
		}
	}
	add(cs)
	waitCounters(t, cs, want, 60*time.Second)
	for _, nd := range c.Nodes()[nodes-killed:] {
		require.NoError(t, nd.Close())
	}
	live := cs[:nodes-killed]
	add(live)
	waitCounters(t, live, want, 60*time.Second)
	var tree uint64
	for _, nd := range c.Nodes()[:nodes-killed] {
		tree += nd.Stats().Tree.Delivered
	}
	require.NotZero(t, tree, "the tree delivered broadcasts")
}
