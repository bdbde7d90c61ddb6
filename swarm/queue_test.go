package swarm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// addAllAndWaitFlushed adds 1 to every counter and waits until the flusher
// has taken the last one's delta (its subscription is signalled then), so
// that every counter has been through one flush.
func addAllAndWaitFlushed(t *testing.T, cs []*swarm.Counter) {
	t.Helper()
	flushed, cancel := cs[len(cs)-1].Shared().Subscribe()
	defer cancel()
	for _, c := range cs {
		require.NoError(t, c.Add(1))
	}
	select {
	case <-flushed:
	case <-time.After(20 * time.Second):
		t.Fatal("the flusher never took the last delta")
	}
}

// A node alone queues no gossip: there is no one to send it to, and
// whoever joins later gets the full state by the join's push/pull. (The
// queue of a lone node used to grow without bound.)
func TestLoneNodeQueuesNothing(t *testing.T) {
	n, err := swarm.New(swarm.DefaultLocalConfig("alone"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	cs := burstCounters(t, []*swarm.Node{n}, 3000)[0]
	addAllAndWaitFlushed(t, cs)
	require.Zero(t, n.Stats().BroadcastQueue, "a lone node queues nothing")

	peer, err := swarm.New(swarm.DefaultLocalConfig("joiner"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = peer.Close() })
	pcs := burstCounters(t, []*swarm.Node{peer}, 3000)
	_, err = peer.Join(t.Context(), n.Addr())
	require.NoError(t, err)
	waitAllAt(t, pcs, 1, 20*time.Second)
}

// The gossip queue stays within MaxBroadcastQueueBytes when gossip cannot
// keep up; every message pruned is counted, and anti-entropy still brings
// every value to the peer.
func TestBroadcastQueueIsByteBounded(t *testing.T) {
	const max = 16 << 10
	const values = 2000
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		cfg.MaxBroadcastQueueBytes = max
		cfg.DirectSendMaxMembers = 0          // gossip alone: the queue fills
		cfg.GossipInterval = 10 * time.Second // and drains only on probes
	}})
	cs := burstCounters(t, c.Nodes(), values)
	addAllAndWaitFlushed(t, cs[0])
	st := c.Node(0).Stats()
	require.LessOrEqual(t, st.BroadcastQueueBytes, int64(max), "queue bytes within the bound")
	require.Greater(t, st.Drops["broadcast_queue_full"], uint64(values/2), "pruned messages are counted")
	require.Equal(t, st.Dropped, sumDrops(st.Drops))
	waitAllAt(t, cs, 1, 30*time.Second)
}

func sumDrops(m map[string]uint64) uint64 {
	var s uint64
	for _, v := range m {
		s += v
	}
	return s
}

func TestMaxBroadcastQueueBytesIsValidated(t *testing.T) {
	cfg := swarm.DefaultLocalConfig("n")
	cfg.MaxBroadcastQueueBytes = cfg.UDPBufferSize - 1
	_, err := swarm.New(cfg)
	require.ErrorIs(t, err, swarm.ErrInvalidConfig)
	require.ErrorContains(t, err, "MaxBroadcastQueueBytes")
}
