package promshoal

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// modulePath is shoal's module, whose version build_info reports.
const modulePath = "github.com/shoal-go/shoal"

// Version returns the version of the shoal module built into the binary:
// its tag or pseudo-version when shoal is a dependency, "(devel)" when it
// is the main module (its own tests and examples), "unknown" without
// build information.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if bi.Main.Path == modulePath {
		return bi.Main.Version
	}
	for _, m := range bi.Deps {
		if m.Path == modulePath {
			if m.Replace != nil && m.Replace.Version != "" {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return "unknown"
}

func buildInfo(ns string, constLabels prometheus.Labels) prometheus.Metric {
	d := prometheus.NewDesc(prometheus.BuildFQName(ns, "", "build_info"),
		"A metric with a constant 1, labelled with the version of shoal and of Go the binary was built with.",
		[]string{"version", "go_version"}, constLabels)
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, Version(), runtime.Version())
}
