package swarm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// Each test here runs the engine in a configuration where one mechanism is
// the only way a value can arrive, so that breaking that mechanism fails
// the test: gossip with its relays and accumulation, anti-entropy, the
// fast path under loss. Real memberlist nodes talk over swarmtest's
// simulated network, whose pairwise cuts force values through relays.

// simCluster starts n nodes on a fault-free simulated network; tune
// adjusts every node's configuration.
func simCluster(t *testing.T, n int, seed int64, tune func(cfg *swarm.Config)) (*swarmtest.Cluster, *swarmtest.Network) {
	t.Helper()
	simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Seed: seed})
	require.NoError(t, err)
	t.Cleanup(func() { _ = simnet.Close() })
	c := swarmtest.Start(t, n, swarmtest.Options{
		Config: func(i int, cfg *swarm.Config) { tune(cfg) },
		Transport: func(name string) (memberlist.NodeAwareTransport, error) {
			return simnet.NewTransport(name)
		},
	})
	return c, simnet
}

func maps(t *testing.T, c *swarmtest.Cluster, name string) []*swarm.Map[string, string] {
	t.Helper()
	var out []*swarm.Map[string, string]
	for _, nd := range c.Nodes() {
		m, err := swarm.NewMap[string, string](nd, name, crdt.LWWOptions{})
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

// setFlushed sets k on m and waits until the flusher has taken the change,
// so that each call leaves in a flush of its own.
func setFlushed(t *testing.T, m *swarm.Map[string, string], flushed <-chan struct{}, k, v string) {
	t.Helper()
	require.NoError(t, m.Set(k, v))
	select {
	case <-flushed:
	case <-time.After(20 * time.Second):
		t.Fatalf("the change of %q was never flushed", k)
	}
}

func waitKeys(t *testing.T, ms []*swarm.Map[string, string], want int) {
	t.Helper()
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, m := range ms {
			if n, err := m.Len(); err != nil || n != want {
				return fmt.Errorf("node %d holds %d keys (%v), want %d", i, n, err, want)
			}
		}
		return nil
	})
}

// relayTune gives relays a retransmit budget that makes a miss negligible:
// with anti-entropy off a miss would be permanent, and these tests must
// not depend on luck. memberlist counts a transmission per gossip target,
// and when a relayer's queue holds more than one packet of messages (100
// values a round here), each target gets different ones: a message's
// transmissions go to that many random peers, not to GossipNodes peers
// each. With 12 (the budget here until a CI run failed on it), a relayer
// of five nodes misses a given peer under 10 % loss with about 0.775¹² ≈
// 5 %, and TestFastPathWithLossIsRepairedByRelays failed in 1 of 100 runs
// under -race; with 24 that is 0.775²⁴ ≈ 0.2 % per relayer.
func relayTune(cfg *swarm.Config) {
	cfg.PushPullInterval = 0
	cfg.RetransmitMult = 24
}

// Gossip alone (no fast path, no anti-entropy) on five nodes, where the
// origin reaches only node-1 and node-2: nodes 3 and 4 learn the origin's
// updates only through relays, each update leaves in a flush of its own
// (so the outbox accumulates and replaces), and a relay forwards what
// changed, not the whole value: it sends about the bytes the origin sends.
func TestGossipAloneRelaysToNodesTheOriginCannotReach(t *testing.T) {
	c, simnet := simCluster(t, 5, 11, func(cfg *swarm.Config) {
		relayTune(cfg)
		cfg.DirectSendMaxMembers = 0
		cfg.TreeFanout = 0 // no broadcast tree: gossip alone
	})
	ms := maps(t, c, "owners")
	cs := counters(t, c, "hits")
	for _, far := range []string{"node-3", "node-4"} {
		simnet.Cut("node-0", far)
	}
	flushed, cancel := ms[0].Shared().Subscribe()
	defer cancel()

	const preload, measured = 15, 10
	for k := range preload {
		setFlushed(t, ms[0], flushed, fmt.Sprintf("key-%02d", k), "0123456789")
	}
	require.NoError(t, cs[0].Add(3))
	waitKeys(t, ms, preload)
	waitCounters(t, cs, 3, 30*time.Second)

	// Each measured update starts from empty queues, so that the origin's
	// message holds that one key, and so must a relay's.
	quiet := func() {
		swarmtest.WaitFor(t, 30*time.Second, func() error {
			for _, nd := range c.Nodes() {
				if q := nd.Stats().BroadcastQueue; q != 0 {
					return fmt.Errorf("%s has %d messages queued", nd.Name(), q)
				}
			}
			return nil
		})
	}
	quiet()
	origin0, relay0 := c.Node(0).Stats().Sent["delta"].Bytes, c.Node(1).Stats().Sent["delta"].Bytes
	for k := preload; k < preload+measured; k++ {
		setFlushed(t, ms[0], flushed, fmt.Sprintf("key-%02d", k), "0123456789")
		waitKeys(t, ms, k+1)
		quiet()
	}
	origin := c.Node(0).Stats().Sent["delta"].Bytes - origin0
	relay := c.Node(1).Stats().Sent["delta"].Bytes - relay0
	t.Logf("gossip bytes for %d single-key updates: origin %d, a neighbour's relay %d", measured, origin, relay)
	require.Positive(t, origin)
	require.LessOrEqual(t, relay, 3*origin, "a relay forwards the effect, not the whole value")
	for _, nd := range c.Nodes()[1:] {
		require.Zero(t, nd.Stats().Received["direct"].Messages, "no fast path in this test")
	}
}

// Anti-entropy alone: once the cluster has formed, the network drops
// every packet (gossip and the fast path are UDP; memberlist keeps the
// members alive by its TCP fallback ping), so updates arrive only by
// push/pull over streams.
func TestAntiEntropyAloneConverges(t *testing.T) {
	c, simnet := simCluster(t, 3, 12, func(cfg *swarm.Config) {
		cfg.PushPullInterval = 200 * time.Millisecond
	})
	ms := maps(t, c, "owners")
	cs := counters(t, c, "hits")
	require.NoError(t, simnet.SetFaults(swarmtest.FaultConfig{Drop: 1, Seed: 12}))
	var before []swarm.Stats
	for _, nd := range c.Nodes() {
		before = append(before, nd.Stats())
	}
	// 20 keys: a delta that fits a packet (a larger one would go over a
	// stream, which this test leaves open).
	for k := range 20 {
		require.NoError(t, ms[0].Set(fmt.Sprint("key-", k), "v"))
	}
	require.NoError(t, cs[0].Add(7))
	waitKeys(t, ms, 20)
	waitCounters(t, cs, 7, 30*time.Second)
	for i, nd := range c.Nodes()[1:] {
		after := nd.Stats()
		for _, kind := range []string{"direct", "delta"} {
			require.Equal(t, before[i+1].Received[kind].Messages, after.Received[kind].Messages,
				"node %d received %s messages: the test no longer isolates anti-entropy", i+1, kind)
		}
	}
}

// The fast path under 10 % packet loss, without anti-entropy, where the
// origin cannot reach node-2 at all: node-2 learns every update only from
// the members that relay the direct deltas they received (and the others
// recover lost packets the same way). Were direct deltas not relayed,
// node-2 would get only the few updates some member first heard by gossip.
func TestFastPathWithLossIsRepairedByRelays(t *testing.T) {
	c, simnet := simCluster(t, 5, 13, func(cfg *swarm.Config) {
		relayTune(cfg)
		// The cut and the loss must not get node-2 declared failed: its
		// peers would stop relaying to it, and with no anti-entropy an
		// update whose relays ran out meanwhile never arrives. With
		// probes every 2 s and a 10× suspicion the test still failed
		// once in five runs of the suite beside two busy loops, most
		// likely so: that run's log shows the sim clusters' probes
		// timing out throughout. Failure detection is not what this
		// test is about: a probe an hour (memberlist staggers the first
		// by up to one interval) takes it out.
		cfg.ProbeInterval = time.Hour
		cfg.ProbeTimeout = 2 * time.Second
		cfg.SuspicionMult = 10
	})
	const values = 100
	cs := make([][]*swarm.Counter, 0, 5)
	for _, nd := range c.Nodes() {
		var row []*swarm.Counter
		for k := range values {
			ctr, err := swarm.NewCounter(nd, fmt.Sprint("v", k))
			require.NoError(t, err)
			row = append(row, ctr)
		}
		cs = append(cs, row)
	}
	simnet.Cut("node-0", "node-2")
	require.NoError(t, simnet.SetFaults(swarmtest.FaultConfig{Drop: 0.1, Seed: 13}))
	for round := 1; round <= 3; round++ {
		addAllAndWaitFlushed(t, cs[0])
		waitAllAt(t, cs, int64(round), 30*time.Second)
	}
	require.Positive(t, c.Node(2).Stats().Received["delta"].Messages, "node-2 heard the relays")
}

// Many updates to one value replace its queued broadcast (the queue holds
// about one message per value and origin), and the replacement carries
// everything accumulated since the message was first queued: with gossip
// the only path, and gossip rounds far slower than flushes, every key
// arrives.
func TestReplacedBroadcastsLoseNothing(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		cfg.DirectSendMaxMembers = 0
		cfg.TreeFanout = 0 // no broadcast tree: gossip alone
		cfg.PushPullInterval = 0
		cfg.GossipInterval = 300 * time.Millisecond
	}})
	ms := maps(t, c, "owners")
	flushed, cancel := ms[0].Shared().Subscribe()
	defer cancel()
	const keys = 100
	maxQueued := 0
	for k := range keys {
		setFlushed(t, ms[0], flushed, fmt.Sprint("k", k), "v")
		maxQueued = max(maxQueued, c.Node(0).Stats().BroadcastQueue)
	}
	waitKeys(t, ms, keys)
	t.Logf("%d updates in %d flushes; at most %d messages queued", keys, keys, maxQueued)
	require.LessOrEqual(t, maxQueued, 4, "updates replace the queued broadcast")
}

// burstFlushInterval holds a burst test's updates for one flush. The
// flusher waits FlushInterval from the first update, so every update
// made within it leaves in that flush; at the default 10 ms, a busy
// machine split the updates, and a small last flush went by the fast
// path's packets instead (CI: 229 of 5,000 counters).
const burstFlushInterval = 3 * time.Second

// A burst goes as packs, one per type and part (codec's pack format), and
// a value too large for a part goes alone: with anti-entropy off, the
// stream is the only way these values can arrive.
func TestBurstPacksByTypeAndSendsLargeValuesAlone(t *testing.T) {
	const counters, keys = 3000, 200
	c, _ := simCluster(t, 3, 15, func(cfg *swarm.Config) {
		cfg.PushPullInterval = 0
		cfg.FlushInterval = burstFlushInterval
	})
	cs := burstCounters(t, c.Nodes(), counters)
	ms := maps(t, c, "m")
	big := strings.Repeat("x", 1536<<10) // beyond a part (burstPartBytes, 1 MiB)
	for _, ctr := range cs[0] {
		require.NoError(t, ctr.Add(1))
	}
	for k := range keys {
		require.NoError(t, ms[0].Set(fmt.Sprint("k", k), "v"))
	}
	require.NoError(t, ms[0].Set("big", big))
	waitAllAt(t, cs, 1, 60*time.Second)
	swarmtest.WaitFor(t, 60*time.Second, func() error {
		for i, m := range ms {
			for k := range keys {
				if v, ok, err := m.Get(fmt.Sprint("k", k)); err != nil || !ok || v != "v" {
					return fmt.Errorf("node %d: k%d reads %q %v %v", i, k, v, ok, err)
				}
			}
			if v, ok, err := m.Get("big"); err != nil || !ok || v != big {
				return fmt.Errorf("node %d: the large value reads %d bytes, %v %v", i, len(v), ok, err)
			}
		}
		return nil
	})
	for _, nd := range c.Nodes()[1:] {
		st := nd.Stats()
		// One flush: the counters in one pack, and the map (its keys and
		// the large value are one delta) alone.
		require.EqualValues(t, counters+1, st.Received["burst"].Messages, "%s: values received in bursts", nd.Name())
		packs := st.Received["burst_pack"]
		require.EqualValues(t, 1, packs.Messages, "%s: packs received", nd.Name())
		require.GreaterOrEqual(t, st.Received["burst"].Bytes, uint64(len(big)), "%s: the large value came in a burst", nd.Name())
		require.Less(t, packs.Bytes, uint64(len(big)), "%s: the large value came in no pack", nd.Name())
	}
}

// 5,000 values changed in one flush are a burst: they reach both peers
// over the reliable stream, in a pack, each exactly once, with anti-entropy off, and
// nothing is queued for gossip or relayed (the stream delivers to every
// member or fails at the sender), where packets made every receiver relay
// every delta. The cubic flush took minutes over this.
func TestBurstArrivesByTheStreamExactlyOnce(t *testing.T) {
	const values = 5000
	c, _ := simCluster(t, 3, 14, func(cfg *swarm.Config) {
		cfg.PushPullInterval = 0
		cfg.FlushInterval = burstFlushInterval
	})
	cs := burstCounters(t, c.Nodes(), values)
	for _, ctr := range cs[0] {
		require.NoError(t, ctr.Add(1))
	}
	waitAllAt(t, cs, 1, 60*time.Second)
	for _, nd := range c.Nodes()[1:] {
		st := nd.Stats()
		require.EqualValues(t, values, st.Received["burst"].Messages, "%s: burst values received", nd.Name())
		// In one pack: 5,000 counter deltas of one type fit in one. A pack
		// entry takes about 34 bytes here, an envelope of its own about 77.
		packs := st.Received["burst_pack"]
		require.EqualValues(t, 1, packs.Messages, "%s: burst packs received", nd.Name())
		require.Less(t, packs.Bytes, uint64(values*40), "%s: bytes of the packs", nd.Name())
		require.Zero(t, st.Received["direct"].Messages, "%s: direct packets received", nd.Name())
	}
	for _, nd := range c.Nodes() {
		require.Zero(t, nd.Stats().Sent["delta"].Messages, "%s: gossip copies and relays sent", nd.Name())
	}
}
