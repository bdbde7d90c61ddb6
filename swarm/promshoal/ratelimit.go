package promshoal

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// RateLimitMetrics exports cluster rate limits:
//
//	shoal_ratelimit_decisions_total{limit,result}  counter: decisions, result "allowed" or "denied"
//	shoal_ratelimit_limit{limit}                   gauge: events the cluster admits per window (tracked limiters)
//	shoal_ratelimit_window_seconds{limit}          gauge: the window length (tracked limiters)
//	shoal_ratelimit_estimate{limit}                gauge: events this node believes the cluster admitted in the window now (tracked limiters)
//
// Decisions are counted by the caller (Observe, or a RateLimitRecorder on
// the hot path): the limiter itself stays free of metrics. Register one
// RateLimitMetrics per registry; it is safe for concurrent use.
type RateLimitMetrics struct {
	decisions *prometheus.CounterVec
	limit     *prometheus.Desc
	window    *prometheus.Desc
	estimate  *prometheus.Desc
	now       func() time.Time

	mu      sync.Mutex
	tracked map[string]*ratelimit.Limiter
}

var _ prometheus.Collector = (*RateLimitMetrics)(nil)

// NewRateLimitMetrics returns the rate-limit metrics, not yet registered.
func NewRateLimitMetrics(o Options) *RateLimitMetrics {
	ns := o.namespace()
	return &RateLimitMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "ratelimit", Name: "decisions_total",
			Help:        "Rate-limit decisions by limit and result (allowed or denied).",
			ConstLabels: o.ConstLabels,
		}, []string{"limit", "result"}),
		limit: prometheus.NewDesc(prometheus.BuildFQName(ns, "ratelimit", "limit"),
			"Events the cluster admits per window.", []string{"limit"}, o.ConstLabels),
		window: prometheus.NewDesc(prometheus.BuildFQName(ns, "ratelimit", "window_seconds"),
			"Length of the limit's sliding window.", []string{"limit"}, o.ConstLabels),
		estimate: prometheus.NewDesc(prometheus.BuildFQName(ns, "ratelimit", "estimate"),
			"Events this node believes the cluster admitted in the window ending now, extrapolation included.", []string{"limit"}, o.ConstLabels),
		now:     time.Now,
		tracked: make(map[string]*ratelimit.Limiter),
	}
}

// RateLimitRecorder counts one limit's decisions with its two counters
// resolved in advance: Observe costs an atomic add and allocates nothing.
type RateLimitRecorder struct {
	allowed, denied prometheus.Counter
}

// For returns the recorder of the limit named limit.
func (m *RateLimitMetrics) For(limit string) RateLimitRecorder {
	return RateLimitRecorder{
		allowed: m.decisions.WithLabelValues(limit, "allowed"),
		denied:  m.decisions.WithLabelValues(limit, "denied"),
	}
}

// Observe counts one decision.
func (r RateLimitRecorder) Observe(allowed bool) {
	if allowed {
		r.allowed.Inc()
	} else {
		r.denied.Inc()
	}
}

// ObserveDecision counts d and returns it, to wrap a call:
// d := rec.ObserveDecision(limiter.Decide()).
func (r RateLimitRecorder) ObserveDecision(d ratelimit.Decision) ratelimit.Decision {
	r.Observe(d.Allowed)
	return d
}

// Observe counts one decision of the limit named limit. On a hot path
// prefer a RateLimitRecorder from For, which skips the label lookup.
func (m *RateLimitMetrics) Observe(limit string, allowed bool) {
	result := "denied"
	if allowed {
		result = "allowed"
	}
	m.decisions.WithLabelValues(limit, result).Inc()
}

// Track exports l's limit, window and estimate under the label limit at
// every scrape, until Untrack. Tracking another limiter under the same
// name replaces it.
func (m *RateLimitMetrics) Track(limit string, l *ratelimit.Limiter) {
	m.mu.Lock()
	m.tracked[limit] = l
	m.mu.Unlock()
}

// Untrack stops exporting the limiter tracked under limit (its decision
// counters stay).
func (m *RateLimitMetrics) Untrack(limit string) {
	m.mu.Lock()
	delete(m.tracked, limit)
	m.mu.Unlock()
}

// Describe sends the metrics' descriptions.
func (m *RateLimitMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.decisions.Describe(ch)
	ch <- m.limit
	ch <- m.window
	ch <- m.estimate
}

// Collect sends the decision counters and the tracked limiters' gauges.
func (m *RateLimitMetrics) Collect(ch chan<- prometheus.Metric) {
	m.decisions.Collect(ch)
	m.mu.Lock()
	names := make([]string, 0, len(m.tracked))
	for name := range m.tracked {
		names = append(names, name)
	}
	sort.Strings(names)
	limiters := make([]*ratelimit.Limiter, len(names))
	for i, name := range names {
		limiters[i] = m.tracked[name]
	}
	m.mu.Unlock()
	now := m.now()
	for i, l := range limiters {
		ch <- prometheus.MustNewConstMetric(m.limit, prometheus.GaugeValue, float64(l.Limit()), names[i])
		ch <- prometheus.MustNewConstMetric(m.window, prometheus.GaugeValue, l.Window().Seconds(), names[i])
		ch <- prometheus.MustNewConstMetric(m.estimate, prometheus.GaugeValue, l.Estimate(now), names[i])
	}
}
