package promshoal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm/promshoal"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

func TestRateLimitDecisions(t *testing.T) {
	m := promshoal.NewRateLimitMetrics(promshoal.Options{})
	api := m.For("api")
	for i := 0; i < 7; i++ {
		api.Observe(i < 5)
	}
	d := api.ObserveDecision(ratelimit.Decision{Allowed: false, Limit: 5})
	require.Equal(t, 5, d.Limit, "the decision passes through")
	m.Observe("login", true)

	require.NoError(t, testutil.CollectAndCompare(m, strings.NewReader(`
# HELP shoal_ratelimit_decisions_total Rate-limit decisions by limit and result (allowed or denied).
# TYPE shoal_ratelimit_decisions_total counter
shoal_ratelimit_decisions_total{limit="api",result="allowed"} 5
shoal_ratelimit_decisions_total{limit="api",result="denied"} 3
shoal_ratelimit_decisions_total{limit="login",result="allowed"} 1
`), "shoal_ratelimit_decisions_total"))
}

// A tracked limiter's limit, window and estimate are exported at each
// scrape, and the estimate follows the admissions.
func TestRateLimitTrackedLimiter(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	l, err := ratelimit.New(c.Node(0), "api", ratelimit.Config{Limit: 100, Window: 10 * time.Second})
	require.NoError(t, err)
	defer l.Close()

	m := promshoal.NewRateLimitMetrics(promshoal.Options{ConstLabels: prometheus.Labels{"node": "node-0"}})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	m.Track("api", l)
	rec := m.For("api")
	for i := 0; i < 30; i++ {
		rec.ObserveDecision(l.Decide())
	}
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP shoal_ratelimit_limit Events the cluster admits per window.
# TYPE shoal_ratelimit_limit gauge
shoal_ratelimit_limit{limit="api",node="node-0"} 100
# HELP shoal_ratelimit_window_seconds Length of the limit's sliding window.
# TYPE shoal_ratelimit_window_seconds gauge
shoal_ratelimit_window_seconds{limit="api",node="node-0"} 10
# HELP shoal_ratelimit_decisions_total Rate-limit decisions by limit and result (allowed or denied).
# TYPE shoal_ratelimit_decisions_total counter
shoal_ratelimit_decisions_total{limit="api",node="node-0",result="allowed"} 30
shoal_ratelimit_decisions_total{limit="api",node="node-0",result="denied"} 0
`), "shoal_ratelimit_limit", "shoal_ratelimit_window_seconds", "shoal_ratelimit_decisions_total"))
	est, err := gather(reg, "shoal_ratelimit_estimate", map[string]string{"limit": "api"})
	require.NoError(t, err)
	require.InDelta(t, 30, est, 1, "30 admissions in a 10 s window, alone")
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)

	m.Untrack("api")
	_, err = gather(reg, "shoal_ratelimit_estimate", nil)
	require.Error(t, err, "untracked: no estimate")
}

func BenchmarkRateLimitRecorderObserve(b *testing.B) {
	rec := promshoal.NewRateLimitMetrics(promshoal.Options{}).For("api")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec.Observe(i&1 == 0)
	}
}

func BenchmarkRateLimitMetricsObserve(b *testing.B) {
	m := promshoal.NewRateLimitMetrics(promshoal.Options{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.Observe("api", i&1 == 0)
	}
}
