package swarm_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// streamsOnly starts n nodes on a simulated network and then drops every
// packet: gossip, the fast path and the tree are dead, and values can
// only travel by push/pull and the reliable stream, that is by
// anti-entropy. memberlist's TCP fallback probes keep the members alive.
func streamsOnly(t *testing.T, n int, pushPull time.Duration, adjust func(*swarm.Config)) (*swarmtest.Cluster, *swarmtest.Network) {
	t.Helper()
	simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = simnet.Close() })
	c := swarmtest.Start(t, n, swarmtest.Options{
		Config: func(i int, c *swarm.Config) {
			c.PushPullInterval = pushPull
			c.ProbeInterval = 500 * time.Millisecond
			c.ProbeTimeout = 250 * time.Millisecond
			c.SuspicionMult = 8
			c.DirectSendMaxMembers = 0
			if adjust != nil {
				adjust(c)
			}
		},
		Transport: func(name string) (memberlist.NodeAwareTransport, error) { return simnet.NewTransport(name) },
	})
	require.NoError(t, simnet.SetFaults(swarmtest.FaultConfig{Drop: 1, Seed: 1}))
	return c, simnet
}

// With packets lost, thousands of values written on one node reach the
// other by the digest exchange alone; once both hold the same states, an
// exchange sends only digests: a small fraction of the state, and no
// state at all.
func TestDigestExchangeAloneConvergesAndThenSendsOnlyDigests(t *testing.T) {
	const values = 3000
	c, _ := streamsOnly(t, 2, 500*time.Millisecond, nil)
	var regs [2][]*swarm.Register[int]
	for i, nd := range c.Nodes() {
		for k := range values {
			r, err := swarm.NewRegister[int](nd, fmt.Sprint("v", k), crdt.LWWOptions{})
			require.NoError(t, err)
			regs[i] = append(regs[i], r)
		}
	}
	for k, r := range regs[0] {
		require.NoError(t, r.Set(k+1))
	}
	// Half the values are written on the other side: both directions.
	for k, r := range regs[1][:values/2] {
		require.NoError(t, r.Set(-k))
	}
	want := make([]int, values)
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for k := range values {
			a, _, _ := regs[0][k].Get()
			b, _, _ := regs[1][k].Get()
			if a != b {
				return fmt.Errorf("v%d: %d on node 0, %d on node 1", k, a, b)
			}
			want[k] = a
		}
		return nil
	})

	// Quiet exchanges (after those in flight at convergence): no state
	// moves, and what does is a digest.
	exchanges := func(k uint64) swarm.Stats {
		from := c.Node(0).Stats().PushPulls
		swarmtest.WaitFor(t, 30*time.Second, func() error {
			if got := c.Node(0).Stats().PushPulls - from; got < k {
				return fmt.Errorf("%d exchanges so far", got)
			}
			return nil
		})
		return c.Node(0).Stats()
	}
	// Hashes of values changed locally are refreshed at their flush, so a
	// few exchanges after the values agree may still send some states;
	// wait until two exchanges in a row send none.
	before := exchanges(1)
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		prev := before
		before = exchanges(2)
		if before.Sent["state"] != prev.Sent["state"] {
			return fmt.Errorf("still sending states")
		}
		return nil
	})
	after := exchanges(3)
	require.Equal(t, before.Sent["state"], after.Sent["state"], "a quiet exchange sends no state")
	require.Equal(t, before.Sent["digest_detail"], after.Sent["digest_detail"], "nor details")
	perExchange := (after.PushPullBytesSent - before.PushPullBytesSent) / (after.PushPulls - before.PushPulls)
	state := stateBytes(t, c.Node(0))
	t.Logf("quiet exchange: %d bytes for %d bytes of state (%.2f %%)", perExchange, state, 100*float64(perExchange)/float64(state))
	require.Less(t, float64(perExchange), 0.02*float64(state), "a quiet exchange is under 2 %% of the state")
}

// A joiner whose join state is cut at MaxStateBytes gets the rest from the
// digest exchange, with no packet delivered.
func TestJoinerGetsWhatTheCutJoinStateLeftOut(t *testing.T) {
	c, simnet := streamsOnly(t, 1, time.Hour, func(c *swarm.Config) { c.MaxStateBytes = 4 << 10 })
	const values = 500
	for k := range values {
		r, err := swarm.NewRegister[[]byte](c.Node(0), fmt.Sprint("v", k), crdt.LWWOptions{})
		require.NoError(t, err)
		require.NoError(t, r.Set(make([]byte, 100)))
	}
	cfg := c.Config("late", 1)
	var err error
	cfg.Transport, err = simnet.NewTransport("late")
	require.NoError(t, err)
	late, err := c.AddConfig(cfg)
	require.NoError(t, err)
	_, err = late.Join(t.Context(), c.Node(0).Addr())
	require.NoError(t, err)
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		if p := late.Stats().PendingValues; p < values {
			return fmt.Errorf("late holds %d of %d values", p, values)
		}
		return nil
	})
	require.NotZero(t, c.Node(0).Stats().StateOverflows+late.Stats().StateOverflows)
}

// stateBytes is the size of a node's full state as a join would send it.
func stateBytes(t *testing.T, nd *swarm.Node) uint64 {
	t.Helper()
	return swarm.StateBytesForTest(nd)
}
