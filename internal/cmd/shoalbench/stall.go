package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/metrics"
	"runtime/trace"
	"time"
)

// stallProbe reads what the Go runtime says about this process's own
// stalls: every node of a scenario runs in this one process, so a garbage
// collection or a run queue longer than two cores can serve delays every
// node at once, and shows up in a latency as if the network were slow.
// A scenario reads the probe before and after each update and reports the
// difference next to the update's latency (scale's per_update).
type stallProbe struct {
	samples []metrics.Sample
	// rec, if set (SHOALBENCH_SLOWTRACE), keeps the last seconds of the
	// runtime's execution trace; after each update slower than all before
	// it, the probe writes them to tracePath (see slow).
	rec       *trace.FlightRecorder
	tracePath string
	worstMS   float64
}

// slowTracePath is SHOALBENCH_SLOWTRACE: where a scenario's stall probe
// writes the execution trace of its slowest update, or "" for none.
var slowTracePath string

// slowTraceWindow is how much trace the recorder is asked to keep: a slow
// update, the gap before it and a margin. The runtime keeps whole
// generations, so a snapshot may start later than that, but it ends when
// it is written and so holds the update; at 500 nodes one took 0.3–3.3 MB.
// slowTraceMaxBytes only caps it.
const (
	slowTraceWindow   = 5 * time.Second
	slowTraceMaxBytes = 256 << 20
)

const (
	metricGCCycles     = "/gc/cycles/total:gc-cycles"
	metricSchedLatency = "/sched/latencies:seconds"
	metricAllocBytes   = "/gc/heap/allocs:bytes"
	metricGOGC         = "/gc/gogc:percent"
)

// newStallProbe returns a probe, recording the execution trace if
// SHOALBENCH_SLOWTRACE is set; close stops the recorder.
func newStallProbe() *stallProbe {
	p := &stallProbe{samples: []metrics.Sample{{Name: metricGCCycles}, {Name: metricSchedLatency}, {Name: metricAllocBytes}, {Name: metricGOGC}}}
	if slowTracePath != "" {
		rec := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: slowTraceWindow, MaxBytes: slowTraceMaxBytes})
		if err := rec.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "shoalbench: SHOALBENCH_SLOWTRACE:", err)
		} else {
			p.rec, p.tracePath = rec, slowTracePath
		}
	}
	return p
}

// sent marks in the trace, if recording, that an update is made now: the
// window to read runs from this mark for the latency that slow logs.
func (p *stallProbe) sent() {
	if p.rec != nil {
		trace.Log(context.Background(), "shoalbench", "sent")
	}
}

// slow is told each update's latency in milliseconds. When it is the
// slowest so far, the probe writes the recorder's window, which ends now
// and so holds the whole update, over the file: at the end of a scenario
// the file holds the slowest update's trace (go tool trace FILE). Writing
// takes a moment the next update's gap absorbs.
func (p *stallProbe) slow(latencyMS float64) {
	if p.rec == nil || latencyMS <= p.worstMS {
		return
	}
	trace.Logf(context.Background(), "shoalbench", "latency %.3f ms", latencyMS)
	p.worstMS = latencyMS
	if err := p.writeTrace(); err != nil {
		fmt.Fprintln(os.Stderr, "shoalbench: SHOALBENCH_SLOWTRACE:", err)
	}
}

func (p *stallProbe) writeTrace() error {
	tmp := p.tracePath + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := p.rec.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, p.tracePath)
}

func (p *stallProbe) close() {
	if p.rec != nil {
		p.rec.Stop()
	}
}

// stallReading is one reading of the probe.
type stallReading struct {
	gcCycles   uint64
	allocBytes uint64
	gogc       uint64
	sched      []uint64 // the scheduling-latency histogram's counts
	buckets    []float64
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
	if s := p.samples[2]; s.Value.Kind() == metrics.KindUint64 {
		r.allocBytes = s.Value.Uint64()
	}
	if s := p.samples[3]; s.Value.Kind() == metrics.KindUint64 {
		r.gogc = s.Value.Uint64()
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
	// AllocBytes is what the process (every node, and the harness)
	// allocated on the heap: what drives the collections that share its
	// two cores. The runtime counts small objects a span at a time, when
	// a core's cached span is refilled, so a reading is exact to a few
	// spans (8 KiB each, mostly) per core: a small update may read 0.
	AllocBytes uint64 `json:"alloc_bytes"`
	// GOGC is the collector's percent at the end: the pacer's (fleetgc.go)
	// unless GOGC was set in the environment.
	GOGC uint64 `json:"gogc"`
}

func (r stallReading) since(prev stallReading) stallSince {
	s := stallSince{GCCycles: r.gcCycles - prev.gcCycles, AllocBytes: r.allocBytes - prev.allocBytes, GOGC: r.gogc}
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
