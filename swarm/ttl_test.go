package swarm_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
	"github.com/stretchr/testify/require"
)

// manualClock is a Config.Now the test moves by hand, shared by every
// node: the nodes then read an entry's expiry at the same instants, so the
// test can assert the deadline exactly instead of racing the wall clock.
type manualClock struct{ ns atomic.Int64 }

func (c *manualClock) Now() time.Time         { return time.Unix(0, c.ns.Load()) }
func (c *manualClock) Set(t time.Time)        { c.ns.Store(t.UnixNano()) }
func newManualClock(t time.Time) *manualClock { c := &manualClock{}; c.Set(t); return c }

// On 3 real loopback nodes an entry set with a 1 s TTL reads as present on
// every node until its deadline (the write's timestamp + 1 s) and absent on
// every node by deadline + 100 ms; then each node's expiry loop turns it
// into a tombstone. Nodes 1 and 2 know the TTL only from the wire: if it
// were lost in the delta, they would keep reading the key.
func TestTTLEntryGoneFromEveryNode(t *testing.T) {
	clk := newManualClock(time.Now())
	c := swarmtest.Start(t, 3, swarmtest.Options{Config: func(_ int, cfg *swarm.Config) { cfg.Now = clk.Now }})
	maps := make([]*swarm.Map[string, int], 3)
	for i, nd := range c.Nodes() {
		var err error
		maps[i], err = swarm.NewMap[string, int](nd, "sessions", crdt.LWWOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, maps[0].SetTTL("s-1", 42, time.Second))
	var ts crdt.Timestamp
	require.NoError(t, maps[0].Shared().Read(func(mp *crdt.LWWMap[string, int]) {
		mp.Range(func(_ string, _ int, t crdt.Timestamp) bool { ts = t; return false })
	}))
	deadline := ts.Time().Add(time.Second)

	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, m := range maps {
			if v, ok, err := m.Get("s-1"); err != nil || !ok || v != 42 {
				return fmt.Errorf("node %d: %d %v %v", i, v, ok, err)
			}
		}
		return nil
	})
	clk.Set(deadline.Add(-time.Millisecond))
	for i, m := range maps {
		_, ok, err := m.Get("s-1")
		require.NoError(t, err)
		require.True(t, ok, "node %d lost the entry before its deadline", i)
	}
	clk.Set(deadline.Add(100 * time.Millisecond))
	for i, m := range maps {
		_, ok, err := m.Get("s-1")
		require.NoError(t, err)
		require.False(t, ok, "node %d still reads the entry 100 ms after its deadline", i)
		n, err := m.Len()
		require.NoError(t, err)
		require.Zero(t, n, "node %d", i)
		all, err := m.All()
		require.NoError(t, err)
		require.Empty(t, all, "node %d", i)
	}
	// The expiry loop (once a second, real time) turns it into a tombstone.
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, m := range maps {
			var live, tombs int
			require.NoError(t, m.Shared().Read(func(mp *crdt.LWWMap[string, int]) { live, tombs = mp.Len(), mp.Tombstones() }))
			if live != 0 || tombs != 1 {
				return fmt.Errorf("node %d: %d live, %d tombstones", i, live, tombs)
			}
		}
		return nil
	})
}
