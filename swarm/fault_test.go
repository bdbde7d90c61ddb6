package swarm_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// simConfig tunes a node for a lossy simulated network: failure detection
// tolerant of 30 % loss, fast anti-entropy, and re-discovery of every peer
// so that halves declared dead during a partition merge again after it.
func simConfig(d discovery.Discoverer) func(i int, c *swarm.Config) {
	return func(i int, c *swarm.Config) {
		c.GossipInterval = 50 * time.Millisecond
		c.PushPullInterval = time.Second
		c.ProbeInterval = 500 * time.Millisecond
		c.ProbeTimeout = 250 * time.Millisecond
		c.SuspicionMult = 6
		c.TCPTimeout = 2 * time.Second
		c.Discovery = d
		c.RediscoverInterval = time.Second
		c.DiscoveryFleetRate = 1000 // every node every second: this test is about healing, not the API server's load
	}
}

// 20 nodes over a network that drops 30 % of packets and delays them by
// up to 50 ms converge exactly; then the cluster is split in two halves
// that both keep counting, and after the partition heals every node holds
// the exact total.
func TestConvergesUnderLossJitterAndPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("20 nodes under faults: skipped in -short")
	}
	const nodes = 20
	simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Drop: 0.3, Jitter: 50 * time.Millisecond, Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = simnet.Close() })
	peers := &lateStatic{}
	c := swarmtest.Start(t, nodes, swarmtest.Options{
		Config: simConfig(peers),
		Transport: func(name string) (memberlist.NodeAwareTransport, error) {
			return simnet.NewTransport(name)
		},
	})
	for _, nd := range c.Nodes() {
		peers.add(t, nd)
	}
	cs := counters(t, c, "total")

	var want int64
	var wg sync.WaitGroup
	for i, ctr := range cs {
		want += int64(50 * (i + 1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 50; k++ {
				_ = ctr.Add(int64(i + 1))
			}
		}()
	}
	wg.Wait()
	start := time.Now()
	waitCounters(t, cs, want, 60*time.Second)
	t.Logf("30%% loss, 50 ms jitter: %d nodes converged %v after the last add", nodes, time.Since(start))

	var left, right []string
	for i, nd := range c.Nodes() {
		if i < nodes/2 {
			left = append(left, nd.Name())
		} else {
			right = append(right, nd.Name())
		}
	}
	require.NoError(t, simnet.Partition(left, right))
	for i, ctr := range cs {
		require.NoError(t, ctr.Add(1000))
		want += 1000
		if i%2 == 0 {
			require.NoError(t, ctr.Add(1))
			want++
		}
	}
	// Each half agrees on its own side's adds while split, and neither
	// knows the other's.
	l, r := waitAgree(t, cs[:nodes/2]), waitAgree(t, cs[nodes/2:])
	require.Less(t, l, want)
	require.Less(t, r, want)

	simnet.Heal()
	start = time.Now()
	waitCounters(t, cs, want, 90*time.Second)
	t.Logf("partition healed: %d nodes converged on %d in %v", nodes, want, time.Since(start))
}

// waitAgree waits until every counter of one half reads the same value,
// and returns it.
func waitAgree(t *testing.T, half []*swarm.Counter) int64 {
	t.Helper()
	var agreed int64
	swarmtest.WaitFor(t, 60*time.Second, func() error {
		first, err := half[0].Value()
		if err != nil {
			return err
		}
		for i, c := range half[1:] {
			v, err := c.Value()
			if err != nil {
				return err
			}
			if v != first {
				return fmt.Errorf("node %d of the half reads %d, its first node %d", i+1, v, first)
			}
		}
		agreed = first
		return nil
	})
	return agreed
}

// lateStatic is a discovery source filled after the nodes start (their
// simulated addresses are known only then).
type lateStatic struct {
	mu    sync.Mutex
	peers []discovery.Peer
}

func (s *lateStatic) add(t *testing.T, n *swarm.Node) {
	ap, err := netip.ParseAddrPort(n.Addr())
	require.NoError(t, err)
	s.mu.Lock()
	s.peers = append(s.peers, discovery.Peer{Name: n.Name(), Addr: ap})
	s.mu.Unlock()
}

func (s *lateStatic) Peers(context.Context) ([]discovery.Peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]discovery.Peer(nil), s.peers...), nil
}

// Through a network that reorders, duplicates and drops packets, a
// reader's Values never goes back to an older value, and ends on the
// newest.
func TestClassicValuesNeverGoBack(t *testing.T) {
	simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Drop: 0.1, Jitter: 30 * time.Millisecond, Duplicate: 0.5, Seed: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = simnet.Close() })
	tune := func(c *swarm.Config) {
		fastTune(c)
		tr, err := simnet.NewTransport(c.Name)
		require.NoError(t, err)
		c.Transport = tr
	}
	var sws []*swarm.Swarm
	var nodes []*swarm.NodeInfo
	for i := 0; i < 3; i++ {
		s, err := swarm.Join(swarm.Options{Tune: tune}, &swarm.NodeInfo{Name: fmt.Sprint("node-", i)}, nodes, nil)
		require.NoError(t, err)
		t.Cleanup(s.Leave)
		sws = append(sws, s)
		nodes = append(nodes, s.Local())
	}
	const last = 300
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, reader := range sws[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seen int64
			for {
				select {
				case <-done:
					return
				default:
				}
				if v, ok := reader.Values("seq")["node-0"]; ok {
					cur := v.(int64)
					if cur < seen {
						t.Errorf("%s: Values went back from %d to %d", reader.Local().Name, seen, cur)
						return
					}
					seen = cur
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	for k := int64(1); k <= last; k++ {
		require.NoError(t, sws[0].ShareValue("seq", k))
		if k%10 == 0 {
			time.Sleep(5 * time.Millisecond) // spread the writes over many flushes
		}
	}
	waitValues(t, sws, "seq", map[string]interface{}{"node-0": int64(last)})
	close(done)
	wg.Wait()
}
