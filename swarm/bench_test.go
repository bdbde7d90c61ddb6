package swarm_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

func soloCounter(b *testing.B) *swarm.Counter {
	b.Helper()
	n, err := swarm.New(swarm.DefaultLocalConfig("bench"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = n.Close() })
	c, err := swarm.NewCounter(n, "c")
	require.NoError(b, err)
	return c
}

// BenchmarkSharedCounterAdd is the hot path: a local Add on a live node
// whose flusher ships the deltas in the background.
func BenchmarkSharedCounterAdd(b *testing.B) {
	c := soloCounter(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Add(1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSharedCounterAddParallel(b *testing.B) {
	c := soloCounter(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Add(1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSharedCounterValue reads a counter holding ten replicas' slots.
func BenchmarkSharedCounterValue(b *testing.B) {
	c := swarmtest.Start(b, 10, swarmtest.Options{})
	var cs []*swarm.Counter
	for _, nd := range c.Nodes() {
		ctr, err := swarm.NewCounter(nd, "c")
		require.NoError(b, err)
		require.NoError(b, ctr.Add(1))
		cs = append(cs, ctr)
	}
	require.NoError(b, swarmtest.Await(20*time.Second, func() error {
		v, _ := cs[0].Value()
		if v != 10 {
			return fmt.Errorf("value %d", v)
		}
		return nil
	}))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if v, err := cs[0].Value(); err != nil || v != 10 {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkBurst5000Values: one op is node-0 of a 3-node loopback cluster
// changing 5,000 values at once (one flush) until both peers read every
// new count; it includes the FlushInterval wait (10 ms). The 10-node
// figure is shoalbench's: go run ./internal/cmd/shoalbench burst -nodes 10
// -values 5000.
func BenchmarkBurst5000Values(b *testing.B) {
	c := swarmtest.Start(b, 3, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		cfg.PushPullInterval = 0
	}})
	cs := burstCounters(b, c.Nodes(), 5000)
	round := int64(0)
	b.ResetTimer()
	for b.Loop() {
		round++
		for _, ctr := range cs[0] {
			if err := ctr.Add(1); err != nil {
				b.Fatal(err)
			}
		}
		for _, peer := range cs[1:] {
			for k := 0; k < len(peer); {
				if v, err := peer[k].Value(); err != nil {
					b.Fatal(err)
				} else if v < round {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				k++
			}
		}
	}
}

// BenchmarkCounterMemory reports the heap a registered counter keeps on a
// node (live-B/counter: HeapAlloc after a collection, before and after
// registering 20,000 counters), which is what a node holding many values
// pays per value whether or not they change.
func BenchmarkCounterMemory(b *testing.B) {
	const count = 20000
	var per float64
	for b.Loop() {
		n, err := swarm.New(swarm.DefaultLocalConfig("memory"))
		require.NoError(b, err)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		cs := make([]*swarm.Counter, count)
		for i := range cs {
			cs[i], err = swarm.NewCounter(n, fmt.Sprint("c-", i))
			require.NoError(b, err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / count
		runtime.KeepAlive(cs)
		require.NoError(b, n.Close())
	}
	b.ReportMetric(per, "live-B/counter")
}
