package promshoal_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/promshoal"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

func TestMain(m *testing.M) {
	// memberlist's Shutdown does not wait for an in-flight probe (see
	// swarm's TestMain); that one frame is ignored.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// gather returns the value of the metric name with the given labels from
// reg, or an error if there is no such series.
func gather(reg *prometheus.Registry, name string, labels map[string]string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := make(map[string]string)
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), nil
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), nil
			}
		}
	}
	return 0, fmt.Errorf("no series %s%v", name, labels)
}

func TestCollectorMembersAndTraffic(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	n := c.Node(0)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(promshoal.NewCollector(n, promshoal.Options{ConstLabels: prometheus.Labels{"node": n.Name()}})))

	// Membership, with every state present (zero where none).
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP shoal_members Members of the cluster as this node sees them, by state (this node included).
# TYPE shoal_members gauge
shoal_members{node="node-0",state="alive"} 3
shoal_members{node="node-0",state="failed"} 0
shoal_members{node="node-0",state="left"} 0
`), "shoal_members"))

	// A counter update goes out on the fast path ("direct") and comes
	// back from the peers.
	for _, nd := range c.Nodes() {
		ctr, err := swarm.NewCounter(nd, "hits")
		require.NoError(t, err)
		require.NoError(t, ctr.Add(1))
	}
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		for _, m := range []string{"shoal_messages_sent_total", "shoal_messages_received_total"} {
			v, err := gather(reg, m, map[string]string{"kind": "direct"})
			if err != nil {
				return err
			}
			if v < 1 {
				return fmt.Errorf("%s{kind=direct} = %v", m, v)
			}
		}
		return nil
	})
	st := n.Stats()
	sent, err := gather(reg, "shoal_message_bytes_sent_total", map[string]string{"kind": "direct"})
	require.NoError(t, err)
	require.GreaterOrEqual(t, sent, float64(st.Sent["direct"].Bytes), "scraped after the snapshot: never less")
	require.Greater(t, sent, 0.0)
	wire, err := gather(reg, "shoal_wire_bytes_sent_total", nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, wire, sent, "the wire carries every message and more")
	pp, err := gather(reg, "shoal_push_pulls_total", nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, pp, 1.0, "joining exchanges state")
	dec, err := gather(reg, "shoal_decode_errors_total", nil)
	require.NoError(t, err)
	require.Equal(t, 0.0, dec)

	// Every metric documented is exported, and lints clean.
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	count, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	// 3 member states + 2 series per kind sent and received + 11 single
	// counters and gauges + dropped and rejected "other" + health score,
	// ready, degraded + build_info + 3 retirement gauges.
	require.Equal(t, 3+2*len(st.Sent)+2*len(st.Received)+11+2+3+1+3, count)
}

// A member that leaves moves from alive to left.
func TestCollectorSeesLeave(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(promshoal.NewCollector(c.Node(0), promshoal.Options{Namespace: "app"}))
	require.NoError(t, c.Node(1).Leave())
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		left, err := gather(reg, "app_members", map[string]string{"state": "left"})
		if err != nil {
			return err
		}
		alive, err := gather(reg, "app_members", map[string]string{"state": "alive"})
		if err != nil {
			return err
		}
		if left != 1 || alive != 1 {
			return fmt.Errorf("alive=%v left=%v, want 1 and 1", alive, left)
		}
		return nil
	})
}
