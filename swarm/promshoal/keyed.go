package promshoal

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// KeyedCollector exports one keyed rate limiter's KeyedStats at each
// scrape:
//
//	shoal_keyed_keys{limit}                     gauge: keys this node holds
//	shoal_keyed_decisions_total{limit,result}   counter: decisions, "allowed" or "denied"
//	shoal_keyed_keys_freed_total{limit,reason}  counter: keys freed, "expired" or "evicted"
//	shoal_keyed_rejected_total{limit}           counter: peer events refused at merge
//	shoal_keyed_hash_keyed{limit}               gauge: 1 if keys are hashed with a secret
//	shoal_keyed_throttled{limit,hash}           gauge: recent denials of the most denied key hashes (up to 10)
//
// Keys appear only as their hashes (ratelimit.KeyedLimiter.HashOf), and
// only the ten most denied, so the label set stays small. Safe for
// concurrent use; a scrape takes the limiter's value lock once.
type KeyedCollector struct {
	limit     string
	k         *ratelimit.KeyedLimiter
	keys      *prometheus.Desc
	decisions *prometheus.Desc
	freed     *prometheus.Desc
	rejected  *prometheus.Desc
	hashKeyed *prometheus.Desc
	throttled *prometheus.Desc
}

var _ prometheus.Collector = (*KeyedCollector)(nil)

// NewKeyedCollector returns a collector for k, labelled limit="name".
func NewKeyedCollector(name string, k *ratelimit.KeyedLimiter, o Options) *KeyedCollector {
	ns := o.namespace()
	desc := func(metric, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "keyed", metric), help, append([]string{"limit"}, labels...), o.ConstLabels)
	}
	return &KeyedCollector{
		limit:     name,
		k:         k,
		keys:      desc("keys", "Keys this node's keyed limiter holds."),
		decisions: desc("decisions_total", "Keyed rate-limit decisions by result (allowed or denied).", "result"),
		freed:     desc("keys_freed_total", "Keys freed, by reason: expired (no event left in the window) or evicted (MaxKeys).", "reason"),
		rejected:  desc("rejected_total", "Peer events the keyed window refused at merge."),
		hashKeyed: desc("hash_keyed", "1 if keys are hashed with a secret, 0 if the hash is unkeyed."),
		throttled: desc("throttled", "Recent denials of the most denied key hashes.", "hash"),
	}
}

// Describe implements prometheus.Collector.
func (c *KeyedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.keys, c.decisions, c.freed, c.rejected, c.hashKeyed, c.throttled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *KeyedCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.k.Stats()
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(s.Keys), c.limit)
	ch <- prometheus.MustNewConstMetric(c.decisions, prometheus.CounterValue, float64(s.Allowed), c.limit, "allowed")
	ch <- prometheus.MustNewConstMetric(c.decisions, prometheus.CounterValue, float64(s.Denied), c.limit, "denied")
	ch <- prometheus.MustNewConstMetric(c.freed, prometheus.CounterValue, float64(s.Expired), c.limit, "expired")
	ch <- prometheus.MustNewConstMetric(c.freed, prometheus.CounterValue, float64(s.Evicted), c.limit, "evicted")
	ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(s.Rejected), c.limit)
	keyed := 0.0
	if s.HashKeyed {
		keyed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.hashKeyed, prometheus.GaugeValue, keyed, c.limit)
	for _, t := range s.TopThrottled {
		ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.GaugeValue, float64(t.Denied), c.limit, t.Hash)
	}
}
