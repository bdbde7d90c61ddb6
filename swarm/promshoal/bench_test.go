package promshoal_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-go/shoal/swarm/promshoal"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// BenchmarkCollectorGather is one scrape of a node's metrics through a
// registry (what /metrics costs, before the text encoding).
func BenchmarkCollectorGather(b *testing.B) {
	c := swarmtest.Start(b, 1, swarmtest.Options{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(promshoal.NewCollector(c.Node(0), promshoal.Options{}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
