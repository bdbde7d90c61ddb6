package swarm_test

import (
	"testing"
	"time"

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
