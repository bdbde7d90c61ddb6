// Package promshoal exports a shoal node's metrics to Prometheus. It is a
// separate package so that the core (crdt, codec, swarm) does not depend
// on the Prometheus client.
//
// # Usage
//
// Register a Collector per node, and serve the registry as usual:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(promshoal.NewCollector(node, promshoal.Options{}))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// The Collector reads swarm.Node.Stats and Members at each scrape: the
// membership by state, shoal's messages and bytes by kind, the bytes the
// transport wrote, the gossip queue, drops and rejections by reason,
// decode and transport errors, anti-entropy exchanges and their bytes, the
// node's health (swarm.Node.Health: shoal_health_score, shoal_ready,
// shoal_degraded) and shoal_build_info. See Collector for the list. A
// scrape of one node costs about 35 µs (BenchmarkCollectorGather).
//
// # memberlist's own metrics
//
// memberlist reports probe and gossip timings and message counts through
// hashicorp/go-metrics. BridgeMemberlistMetrics(reg), called once per
// process, exports them as memberlist_* series, as dskit does.
//
// # Rate limits
//
// RateLimitMetrics counts the decisions of cluster rate limits by limit and
// result, and reports each tracked limiter's limit and current estimate.
// A RateLimitRecorder counts a decision in about 6 ns without allocating;
// Observe by limit name costs about 38 ns (label lookup):
//
//	rl := promshoal.NewRateLimitMetrics(promshoal.Options{})
//	reg.MustRegister(rl)
//	api := rl.For("api")          // resolve the counters once
//	...
//	d := limiter.Decide()
//	api.Observe(d.Allowed)        // ~6 ns, no allocation
//
// # Convergence lag
//
// Node statistics cannot tell how long an update takes to reach a node:
// no message carries its send time. A LagProbe measures it actively: each
// node that runs one writes its clock into a small shared map every
// Interval, and observes, for each peer's write it receives, the time
// between the write and its arrival (shoal_convergence_lag_seconds, a
// histogram). The probe costs one tiny delta per node per Interval. Across
// hosts the measure includes the clocks' offset; on one host it is exact.
package promshoal
