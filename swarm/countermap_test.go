package swarm_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// Three real nodes count per tenant: every node reads every tenant's exact
// total; a delete resets a tenant everywhere; Range sees every key.
func TestCounterMapConvergesOnThreeNodes(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	var ms []*swarm.CounterMap[string]
	for _, nd := range c.Nodes() {
		m, err := swarm.NewCounterMap[string](nd, "quota")
		require.NoError(t, err)
		ms = append(ms, m)
	}
	const tenants = 2000
	for i, m := range ms {
		for k := range tenants {
			require.NoError(t, m.Add(fmt.Sprintf("tenant-%04d", k), int64(i+1)))
		}
	}
	want := func(k int) int64 { return 1 + 2 + 3 }
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, m := range ms {
			seen := 0
			var bad error
			require.NoError(t, m.Range(func(k string, v int64) bool {
				seen++
				if v != want(0) {
					bad = fmt.Errorf("node %d: %s reads %d, want %d", i, k, v, want(0))
					return false
				}
				return true
			}))
			if bad != nil {
				return bad
			}
			if seen != tenants {
				return fmt.Errorf("node %d sees %d tenants, want %d", i, seen, tenants)
			}
		}
		return nil
	})

	require.NoError(t, ms[0].Delete("tenant-0007"))
	require.NoError(t, ms[1].Add("tenant-0008", -10))
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, m := range ms {
			if v, _ := m.Value("tenant-0007"); v != 0 {
				return fmt.Errorf("node %d: deleted tenant reads %d", i, v)
			}
			if v, _ := m.Value("tenant-0008"); v != 6-10 {
				return fmt.Errorf("node %d: tenant-0008 reads %d, want -4", i, v)
			}
		}
		return nil
	})
	l, err := ms[2].Len()
	require.NoError(t, err)
	require.Equal(t, tenants, l, "a delete resets a key; it does not remove it")
}

// Idle keys expire on every node: they read as 0, and the node's
// housekeeping drops them from memory.
func TestCounterMapIdleKeysExpire(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	// b must see s1 before it has been idle for IdleTTL: 3 s leaves
	// room for a slow delivery on a busy machine.
	opts := crdt.CounterMapOptions{IdleTTL: 3 * time.Second}
	a, err := swarm.NewCounterMapWithOptions[string](c.Node(0), "sessions", opts)
	require.NoError(t, err)
	b, err := swarm.NewCounterMapWithOptions[string](c.Node(1), "sessions", opts)
	require.NoError(t, err)
	require.NoError(t, a.Add("s1", 3))
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		if v, _ := b.Value("s1"); v != 3 {
			return fmt.Errorf("b reads %d", v)
		}
		return nil
	})
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		for i, m := range []*swarm.CounterMap[string]{a, b} {
			if l, _ := m.Len(); l != 0 {
				return fmt.Errorf("node %d still holds %d keys", i, l)
			}
		}
		return nil
	})
	v, err := b.Value("s1")
	require.NoError(t, err)
	require.Zero(t, v)
}

func TestCounterMapErrors(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	nd := c.Node(0)
	m, err := swarm.NewCounterMapWithOptions[string](nd, "small", crdt.CounterMapOptions{MaxKeys: 1})
	require.NoError(t, err)
	require.NoError(t, m.Add("a", 1))
	require.ErrorIs(t, m.Add("b", 1), swarm.ErrTooManyKeys)
	require.NoError(t, m.Add("a", 1), "a held key takes adds at MaxKeys")
	_, err = swarm.NewCounterMapWithOptions[string](nd, "bad", crdt.CounterMapOptions{MaxKeys: -1})
	require.ErrorIs(t, err, swarm.ErrInvalidConfig)
	_, err = swarm.NewCounter(nd, "small")
	require.ErrorIs(t, err, swarm.ErrTypeMismatch)
	require.NoError(t, nd.Close())
	require.ErrorIs(t, m.Add("a", 1), swarm.ErrClosed)
	_, err = m.Value("a")
	require.ErrorIs(t, err, swarm.ErrClosed)
	require.ErrorIs(t, m.Range(func(string, int64) bool { return true }), swarm.ErrClosed)
}

func TestCounterMapAddAllocatesNothing(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	m, err := swarm.NewCounterMap[string](c.Node(0), "hot")
	require.NoError(t, err)
	require.NoError(t, m.Add("k", 1))
	if n := testing.AllocsPerRun(1000, func() { _ = m.Add("k", 1) }); n != 0 {
		t.Fatalf("Add on a held key allocates %v times", n)
	}
}

// BenchmarkCounterMapAdd: Add on a held key (hot), and spread over
// 100,000 keys.
//
//	go test -run '^$' -bench CounterMapAdd -benchmem -count 5 ./swarm/
func BenchmarkCounterMapAdd(b *testing.B) {
	c := swarmtest.Start(b, 1, swarmtest.Options{})
	m, err := swarm.NewCounterMap[string](c.Node(0), "bench")
	require.NoError(b, err)
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("tenant-%06d", i)
		require.NoError(b, m.Add(keys[i], 1))
	}
	b.Run("hot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = m.Add("tenant-000042", 1)
		}
	})
	b.Run("100k", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = m.Add(keys[i%len(keys)], 1)
			i += 7919
		}
	})
}
