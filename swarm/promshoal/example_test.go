package promshoal_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/promshoal"
)

// Export a node's metrics.
func ExampleNewCollector() {
	n, err := swarm.New(swarm.DefaultLocalConfig("example"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(promshoal.NewCollector(n, promshoal.Options{}))
	// Serve reg with promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "shoal_members" {
			for _, m := range mf.GetMetric() {
				fmt.Printf("%s{state=%q} %v\n", mf.GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue())
			}
		}
	}
	// Output:
	// shoal_members{state="alive"} 1
	// shoal_members{state="failed"} 0
	// shoal_members{state="left"} 0
}

// Count rate-limit decisions.
func ExampleRateLimitMetrics() {
	rl := promshoal.NewRateLimitMetrics(promshoal.Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(rl)

	api := rl.For("api") // resolve the counters once, outside the hot path
	for i := 0; i < 5; i++ {
		api.Observe(i < 3) // in a server: api.ObserveDecision(limiter.Decide())
	}

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			fmt.Printf("%s{result=%q} %v\n", mf.GetName(), m.GetLabel()[1].GetValue(), m.GetCounter().GetValue())
		}
	}
	// Output:
	// shoal_ratelimit_decisions_total{result="allowed"} 3
	// shoal_ratelimit_decisions_total{result="denied"} 2
}
