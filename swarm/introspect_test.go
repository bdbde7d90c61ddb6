package swarm_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

func findValue(vs []swarm.ValueInfo, name string) (swarm.ValueInfo, bool) {
	for _, v := range vs {
		if v.Name == name {
			return v, true
		}
	}
	return swarm.ValueInfo{}, false
}

// Values describes every built-in type with each replica's share, as node
// 0 sees it after both nodes wrote.
func TestValuesDescribesEveryBuiltInType(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	a, b := c.Node(0), c.Node(1)
	start := time.Now()
	for i, nd := range []*swarm.Node{a, b} {
		ctr, err := swarm.NewCounter(nd, "hits")
		require.NoError(t, err)
		require.NoError(t, ctr.Add(int64(10*(i+1))))
		if i == 1 {
			_, err = ctr.Value() // folds the pending +20 into the slot first
			require.NoError(t, err)
			require.NoError(t, ctr.Add(-3))
		}
		g, err := swarm.Share(nd, "grow", crdt.NewGCounter)
		require.NoError(t, err)
		require.NoError(t, g.Update(func(v *crdt.GCounter, _ time.Time) { v.Add(uint64(i + 1)) }))
		w, err := swarm.NewWindow(nd, "rate", time.Minute, 6)
		require.NoError(t, err)
		require.NoError(t, w.Add(uint64(5*(i+1))))
		m, err := swarm.NewMap[string, int](nd, "config", crdt.LWWOptions{})
		require.NoError(t, err)
		require.NoError(t, m.Set(fmt.Sprintf("key-%d", i), 100+i))
		set, err := swarm.Share(nd, "tags", crdt.NewORSet[string])
		require.NoError(t, err)
		require.NoError(t, set.Update(func(s *crdt.ORSet[string], _ time.Time) { s.Add(fmt.Sprintf("tag-%d", i)) }))
	}
	reg, err := swarm.NewRegister[string](b, "leader", crdt.LWWOptions{})
	require.NoError(t, err)
	require.NoError(t, reg.Set("node-1"))
	_, err = swarm.NewRegister[string](a, "leader", crdt.LWWOptions{})
	require.NoError(t, err)

	swarmtest.WaitFor(t, 10*time.Second, func() error {
		vs := a.Values()
		want := map[string]string{
			"hits": "27", "grow": "3", "rate": "15.0 in the 1m0s window",
			"config": "2 keys", "tags": "2 elements", "leader": "node-1",
		}
		for name, value := range want {
			v, ok := findValue(vs, name)
			if !ok {
				return fmt.Errorf("no value %q", name)
			}
			if v.Value != value {
				return fmt.Errorf("%s = %q, want %q", name, v.Value, value)
			}
		}
		return nil
	})
	vs := a.Values()
	require.Len(t, vs, 6)
	for i := 1; i < len(vs); i++ {
		require.Less(t, vs[i-1].Name, vs[i].Name, "sorted by name")
	}

	hits, _ := findValue(vs, "hits")
	require.Equal(t, "*crdt.PNCounter", hits.Type)
	require.Len(t, hits.Replicas, 2)
	require.Equal(t, a.Replica(), hits.Replicas[0].Replica)
	require.Equal(t, 10.0, hits.Replicas[0].Count)
	require.Equal(t, "10", hits.Replicas[0].Contribution)
	require.Equal(t, b.Replica(), hits.Replicas[1].Replica)
	require.Equal(t, 17.0, hits.Replicas[1].Count)
	require.Equal(t, "17 (+20 −3)", hits.Replicas[1].Contribution)

	grow, _ := findValue(vs, "grow")
	require.Equal(t, []float64{1, 2}, []float64{grow.Replicas[0].Count, grow.Replicas[1].Count})

	rate, _ := findValue(vs, "rate")
	require.Len(t, rate.Replicas, 2)
	require.Equal(t, 10.0, rate.Replicas[1].Count)
	for _, r := range rate.Replicas {
		require.False(t, r.Updated.IsZero())
		require.WithinDuration(t, start, r.Updated, 15*time.Second, "newest bucket start")
	}

	cfg, _ := findValue(vs, "config")
	require.Len(t, cfg.Entries, 2)
	require.Equal(t, "key-0", cfg.Entries[0].Key)
	require.Equal(t, "100", cfg.Entries[0].Value)
	require.Equal(t, a.Replica(), cfg.Entries[0].Replica)
	require.Equal(t, "key-1", cfg.Entries[1].Key)
	require.Equal(t, b.Replica(), cfg.Entries[1].Replica)
	require.WithinDuration(t, time.Now(), cfg.Entries[1].Updated, 15*time.Second)
	require.Len(t, cfg.Replicas, 2)
	require.Equal(t, "1 written last", cfg.Replicas[0].Contribution)

	tags, _ := findValue(vs, "tags")
	require.Len(t, tags.Entries, 2)
	require.Equal(t, "tag-1", tags.Entries[1].Key)
	require.Equal(t, b.Replica(), tags.Entries[1].Replica)

	leader, _ := findValue(vs, "leader")
	require.Len(t, leader.Replicas, 1)
	require.Equal(t, b.Replica(), leader.Replicas[0].Replica)

	// A deleted key shows as a tombstone.
	m, err := swarm.NewMap[string, int](a, "config", crdt.LWWOptions{})
	require.NoError(t, err)
	require.NoError(t, m.Delete("key-0"))
	cfg, _ = findValue(a.Values(), "config")
	require.Equal(t, "1 keys (+1 deleted)", cfg.Value)
	require.True(t, cfg.Entries[0].Deleted)
	require.Empty(t, cfg.Entries[0].Value)

	require.NoError(t, a.Close())
	require.Nil(t, a.Values())
}

// Classic keys list each node's last value.
func TestValuesDescribesClassicKeys(t *testing.T) {
	sws, _ := startFake(t, 2, time.Second)
	require.NoError(t, sws[0].ShareValue("limit", 42))
	require.NoError(t, sws[1].ShareValue("limit", 7))
	waitValues(t, sws, "limit", map[string]interface{}{"node-0": 42, "node-1": 7})
	v, ok := findValue(sws[0].Node().Values(), "classic/limit")
	require.True(t, ok)
	require.Equal(t, "2 nodes", v.Value)
	require.Len(t, v.Entries, 2)
	require.Equal(t, "node-0", v.Entries[0].Key)
	require.Equal(t, "42", v.Entries[0].Value)
	require.Equal(t, "7", v.Entries[1].Value)
	require.True(t, strings.HasPrefix(v.Replicas[1].Contribution, "update #1: 7"), v.Replicas[1].Contribution)
}

// A map with more entries than a page should list is cut, and long values
// are shortened.
func TestValuesBoundsEntries(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	m, err := swarm.NewMap[int, string](c.Node(0), "big", crdt.LWWOptions{})
	require.NoError(t, err)
	for i := 0; i < 250; i++ {
		require.NoError(t, m.Set(i, strings.Repeat("é", 300)))
	}
	v, _ := findValue(c.Node(0).Values(), "big")
	require.Len(t, v.Entries, 200)
	require.Equal(t, 50, v.MoreEntries)
	require.Equal(t, "250 keys", v.Value)
	require.LessOrEqual(t, len(v.Entries[0].Value), 200+len("…"))
	require.True(t, strings.HasSuffix(v.Entries[0].Value, "…"))
	// Replicas count the writes shown: describing never scans past them.
	require.Equal(t, 200.0, v.Replicas[0].Count)
}

// BenchmarkDescribeLargeMap: Values on a node holding one map of 200,000
// keys, which describes (under the map's lock) only the 200 entries it
// shows. Main formatted all 200,000 first (287 ms).
// go test -run '^$' -bench DescribeLargeMap ./swarm/
func BenchmarkDescribeLargeMap(b *testing.B) {
	// No flush during the measurement: the 200,000-key delta would be
	// encoded beside it.
	c := swarmtest.Start(b, 1, swarmtest.Options{Config: func(_ int, cfg *swarm.Config) { cfg.FlushInterval = time.Hour }})
	n := c.Node(0)
	m, err := swarm.NewMap[string, int](n, "big", crdt.LWWOptions{})
	require.NoError(b, err)
	require.NoError(b, m.Shared().Update(func(mp *crdt.LWWMap[string, int], now time.Time) {
		for i := range 200_000 {
			mp.SetAt(now, fmt.Sprintf("key-%08d", i), i)
		}
	}))
	b.ReportAllocs()
	for b.Loop() {
		vs := n.Values()
		if len(vs) != 1 || vs[0].MoreEntries != 200_000-200 {
			b.Fatalf("values: %+v", vs[0].Value)
		}
	}
}

// A type Values has no description for still shows its size when it has a
// Len method (here the keyed limiter's crdt.KeyedWindow).
func TestValuesFallsBackToLen(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	k, err := ratelimit.NewKeyed(c.Node(0), "per-client", ratelimit.KeyedConfig{Limit: 10, Window: time.Minute})
	require.NoError(t, err)
	defer k.Close()
	now := time.Now()
	require.True(t, k.AllowN(now, "alice", 1))
	require.True(t, k.AllowN(now, "bob", 1))
	for _, v := range c.Node(0).Values() {
		if strings.Contains(v.Type, "KeyedWindow") {
			require.Equal(t, "2 entries", v.Value)
			return
		}
	}
	t.Fatalf("no KeyedWindow among %+v", c.Node(0).Values())
}

// BenchmarkValues describes 10 counters and a map of 100 keys.
func BenchmarkValues(b *testing.B) {
	c := swarmtest.Start(b, 1, swarmtest.Options{})
	n := c.Node(0)
	for i := 0; i < 10; i++ {
		ctr, err := swarm.NewCounter(n, fmt.Sprintf("counter-%d", i))
		require.NoError(b, err)
		require.NoError(b, ctr.Add(int64(i)))
	}
	m, err := swarm.NewMap[string, int](n, "config", crdt.LWWOptions{})
	require.NoError(b, err)
	for i := 0; i < 100; i++ {
		require.NoError(b, m.Set(fmt.Sprintf("key-%03d", i), i))
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(n.Values()) != 11 {
			b.Fatal("values")
		}
	}
}
