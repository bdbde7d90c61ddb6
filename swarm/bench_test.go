package swarm_test

import (
	"fmt"
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
