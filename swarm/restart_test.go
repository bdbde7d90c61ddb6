package swarm_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// A node is stopped, started again under the same name while cut off from
// the rest, counts more, then rejoins: the final sum counts every increment
// exactly once. Its new run has a new incarnation, so its new adds live in
// a new slot and the old slot's count, held by the others, survives.
func TestRestartedNodeCountsExactlyOnce(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	cs := counters(t, c, "visits")
	for i, ctr := range cs {
		require.NoError(t, ctr.Add(int64(100*(i+1))))
	}
	waitCounters(t, cs, 600, 10*time.Second)

	victim := c.Node(2)
	require.NoError(t, victim.Close()) // a crash: no leave announced
	// The others keep counting while it is away.
	require.NoError(t, cs[0].Add(10))

	// Same name, new run, not joined: a partition of one.
	again, err := c.Add("node-2", 2)
	require.NoError(t, err)
	require.NotEqual(t, victim.Replica(), again.Replica())
	ac, err := swarm.NewCounter(again, "visits")
	require.NoError(t, err)
	require.NoError(t, ac.Add(7))
	v, err := ac.Value()
	require.NoError(t, err)
	require.EqualValues(t, 7, v, "the isolated run knows only its own adds")

	_, err = again.Join(context.Background(), c.Node(0).Addr())
	require.NoError(t, err)
	waitCounters(t, []*swarm.Counter{cs[0], cs[1], ac}, 600+10+7, 15*time.Second)
}

// Ten nodes write maps and registers concurrently; all end with the same,
// exactly expected contents.
func TestMapsAndRegistersConvergeOnTenNodes(t *testing.T) {
	c := swarmtest.Start(t, 10, swarmtest.Options{})
	var maps []*swarm.Map[string, int64]
	var regs []*swarm.Register[string]
	for _, nd := range c.Nodes() {
		m, err := swarm.NewMap[string, int64](nd, "owners", crdt.LWWOptions{})
		require.NoError(t, err)
		r, err := swarm.NewRegister[string](nd, "leader", crdt.LWWOptions{})
		require.NoError(t, err)
		maps, regs = append(maps, m), append(regs, r)
	}
	var wg sync.WaitGroup
	for i, m := range maps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				// Each node owns its own keys, and all fight over "shared".
				require.NoError(t, m.Set(fmt.Sprintf("n%d-k%d", i, k), int64(i*100+k)))
				require.NoError(t, m.Set("shared", int64(i)))
			}
			require.NoError(t, m.Delete(fmt.Sprintf("n%d-k0", i)))
			require.NoError(t, regs[i].Set(fmt.Sprint("node-", i)))
		}()
	}
	wg.Wait()
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		ref, err := maps[0].All()
		if err != nil {
			return err
		}
		if len(ref) != 10*19+1 {
			return fmt.Errorf("node 0 has %d keys, want %d", len(ref), 10*19+1)
		}
		for i := 0; i < 10; i++ {
			for k := 1; k < 20; k++ {
				if ref[fmt.Sprintf("n%d-k%d", i, k)] != int64(i*100+k) {
					return fmt.Errorf("n%d-k%d = %d", i, k, ref[fmt.Sprintf("n%d-k%d", i, k)])
				}
			}
		}
		leader, ok, err := regs[0].Get()
		if err != nil || !ok {
			return fmt.Errorf("register unset on node 0 (%v)", err)
		}
		for i := range maps {
			all, err := maps[i].All()
			if err != nil {
				return err
			}
			if fmt.Sprint(all) != fmt.Sprint(ref) {
				return fmt.Errorf("node %d map differs from node 0", i)
			}
			got, _, _ := regs[i].Get()
			if got != leader {
				return fmt.Errorf("node %d register %q, node 0 %q", i, got, leader)
			}
		}
		return nil
	})
}
