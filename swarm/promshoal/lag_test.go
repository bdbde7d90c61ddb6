package promshoal_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/promshoal"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// promshoalMap opens node 0's view of the probes' map.
func promshoalMap(c *swarmtest.Cluster) (*swarm.Map[string, int64], error) {
	return swarm.NewMap[string, int64](c.Node(0), promshoal.DefaultLagValue, crdt.LWWOptions{})
}

func histogram(reg *prometheus.Registry, name string) (count uint64, sum float64, err error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			h := mf.GetMetric()[0].GetHistogram()
			return h.GetSampleCount(), h.GetSampleSum(), nil
		}
	}
	return 0, 0, fmt.Errorf("no histogram %s", name)
}

// On three loopback nodes each probe observes the others' writes, and the
// lag is what the fast path promises: well under a second.
func TestLagProbeMeasuresPeers(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	var regs []*prometheus.Registry
	for _, nd := range c.Nodes() {
		p, err := promshoal.NewLagProbe(nd, promshoal.LagOptions{Interval: 50 * time.Millisecond})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, p.Close()) })
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(p)
		regs = append(regs, reg)
	}
	swarmtest.WaitFor(t, 15*time.Second, func() error {
		for i, reg := range regs {
			n, _, err := histogram(reg, "shoal_convergence_lag_seconds")
			if err != nil {
				return err
			}
			if n < 10 {
				return fmt.Errorf("node %d observed %d writes, want 10", i, n)
			}
		}
		return nil
	})
	for i, reg := range regs {
		n, sum, err := histogram(reg, "shoal_convergence_lag_seconds")
		require.NoError(t, err)
		mean := sum / float64(n)
		require.Greater(t, mean, 0.0, "node %d: an update takes some time", i)
		require.Less(t, mean, 1.0, "node %d: mean lag %.3fs on loopback", i, mean)
		problems, err := testutil.GatherAndLint(reg)
		require.NoError(t, err)
		require.Empty(t, problems)
	}
}

// A probe alone observes nothing (its own writes do not count), and
// Close is idempotent.
func TestLagProbeAloneAndClose(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	p, err := promshoal.NewLagProbe(c.Node(0), promshoal.LagOptions{Interval: 10 * time.Millisecond})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(p)
	// Wait until the probe has written a few times.
	m, err := promshoalMap(c)
	require.NoError(t, err)
	swarmtest.WaitFor(t, 5*time.Second, func() error {
		v, ok, err := m.Get("node-0")
		if err != nil || !ok || v < 3 {
			return fmt.Errorf("probe wrote %d (%v, %v)", v, ok, err)
		}
		return nil
	})
	n, _, err := histogram(reg, "shoal_convergence_lag_seconds")
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
}

func TestLagProbeOptions(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	_, err := promshoal.NewLagProbe(c.Node(0), promshoal.LagOptions{Interval: -time.Second})
	require.True(t, errors.Is(err, promshoal.ErrInvalidOptions), err)
	_, err = promshoal.NewLagProbe(c.Node(0), promshoal.LagOptions{Buckets: []float64{1, 1}})
	require.True(t, errors.Is(err, promshoal.ErrInvalidOptions), err)
	require.NoError(t, c.Node(0).Close())
	_, err = promshoal.NewLagProbe(c.Node(0), promshoal.LagOptions{})
	require.Error(t, err, "closed node")
}
