package promshoal

import (
	"fmt"

	metrics "github.com/hashicorp/go-metrics"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// BridgeMemberlistMetrics exports memberlist's own metrics (probe and
// gossip timings, message counts, health score; memberlist_* as
// hashicorp/go-metrics names them, e.g. memberlist_gossip,
// memberlist_probenode, memberlist_health_score) to reg, as dskit does.
//
// memberlist reports through go-metrics' process-wide default, so this is
// process-wide too: it replaces go-metrics' global sink (a blackhole
// unless something else set one) with one that passes only the
// memberlist prefix. Call it once per process, before creating nodes;
// every node's memberlist reports into it. It starts no goroutine (the
// runtime metrics of go-metrics stay off). Metrics not updated for a
// minute are dropped from the sink, as go-metrics' Prometheus sink does.
// The sink creates series as memberlist reports them and so cannot
// describe them in advance: register it with prometheus.NewRegistry or
// the default registerer, not a pedantic registry. With several nodes in
// one process their memberlist metrics add up in the same series.
func BridgeMemberlistMetrics(reg prometheus.Registerer) error {
	sink, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
		Registerer: reg,
		Expiration: gmprom.DefaultPrometheusOpts.Expiration,
		Name:       "shoal_memberlist_bridge",
	})
	if err != nil {
		return fmt.Errorf("shoal/promshoal: register the memberlist sink: %w", err)
	}
	cfg := metrics.DefaultConfig("")
	cfg.EnableHostname = false
	cfg.EnableHostnameLabel = false
	cfg.EnableRuntimeMetrics = false
	cfg.EnableServiceLabel = false
	cfg.FilterDefault = false
	cfg.AllowedPrefixes = []string{"memberlist"}
	if _, err := metrics.NewGlobal(cfg, sink); err != nil {
		return fmt.Errorf("shoal/promshoal: install the memberlist sink: %w", err)
	}
	return nil
}
