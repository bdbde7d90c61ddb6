package main

import (
	"math"
	"runtime/metrics"
)

// stallProbe reads what the Go runtime says about this process's own
// stalls: every node of a scenario runs in this one process, so a garbage
// collection or a run queue longer than two cores can serve delays every
// node at once, and shows up in a latency as if the network were slow.
// A scenario reads the probe before and after each update and reports the
// difference next to the update's latency (scale's per_update).
type stallProbe struct {
	samples []metrics.Sample
}

const (
	metricGCCycles     = "/gc/cycles/total:gc-cycles"
	metricSchedLatency = "/sched/latencies:seconds"
)

func newStallProbe() *stallProbe {
	return &stallProbe{samples: []metrics.Sample{{Name: metricGCCycles}, {Name: metricSchedLatency}}}
}

// stallReading is one reading of the probe.
type stallReading struct {
	gcCycles uint64
	sched    []uint64 // the scheduling-latency histogram's counts
	buckets  []float64
}

func (p *stallProbe) read() stallReading {
	metrics.Read(p.samples)
	var r stallReading
	if s := p.samples[0]; s.Value.Kind() == metrics.KindUint64 {
		r.gcCycles = s.Value.Uint64()
	}
	if s := p.samples[1]; s.Value.Kind() == metrics.KindFloat64Histogram {
		h := s.Value.Float64Histogram()
		r.sched = append([]uint64(nil), h.Counts...)
		r.buckets = h.Buckets
	}
	return r
}

// stallSince is what the runtime saw between two readings.
type stallSince struct {
	// GCCycles is the number of garbage collections that ended.
	GCCycles uint64 `json:"gc_cycles"`
	// SchedLatencyMaxMS bounds from above the longest time a goroutine
	// waited, runnable, for a core: the upper edge of the highest
	// non-empty bucket of the runtime's histogram (/sched/latencies).
	SchedLatencyMaxMS millis `json:"sched_latency_max_ms"`
}

func (r stallReading) since(prev stallReading) stallSince {
	s := stallSince{GCCycles: r.gcCycles - prev.gcCycles}
	if len(r.sched) != len(prev.sched) {
		return s
	}
	for i := len(r.sched) - 1; i >= 0; i-- {
		if r.sched[i] > prev.sched[i] {
			edge := r.buckets[i+1] // buckets has one more edge than counts
			if math.IsInf(edge, 1) {
				edge = r.buckets[i]
			}
			s.SchedLatencyMaxMS = millis(edge * 1000)
			break
		}
	}
	return s
}
