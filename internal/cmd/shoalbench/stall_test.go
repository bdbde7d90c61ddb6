package main

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStallSinceFindsTheHighestNewBucket(t *testing.T) {
	buckets := []float64{0, 0.001, 0.01, 0.1, math.Inf(1)}
	prev := stallReading{gcCycles: 3, allocBytes: 1000, sched: []uint64{5, 2, 0, 0}, buckets: buckets}

	cur := stallReading{gcCycles: 5, allocBytes: 1500, gogc: 400, sched: []uint64{9, 2, 1, 0}, buckets: buckets}
	assert.Equal(t, stallSince{GCCycles: 2, SchedLatencyMaxMS: 100, AllocBytes: 500, GOGC: 400}, cur.since(prev),
		"a goroutine waited between 10 and 100 ms: bounded by the bucket's upper edge")

	cur = stallReading{gcCycles: 3, allocBytes: 1000, sched: []uint64{5, 2, 0, 4}, buckets: buckets}
	assert.Equal(t, stallSince{SchedLatencyMaxMS: 100}, cur.since(prev),
		"the open last bucket reports its lower edge")

	assert.Equal(t, stallSince{}, prev.since(prev), "nothing new, nothing reported")
}

func TestStallProbeReadsTheRuntime(t *testing.T) {
	p := newStallProbe()
	r := p.read()
	assert.NotEmpty(t, r.sched, "the runtime has a scheduling-latency histogram")
	assert.Len(t, r.buckets, len(r.sched)+1)
	sink = make([]byte, 1<<20)
	assert.GreaterOrEqual(t, p.read().since(r).AllocBytes, uint64(1<<20), "a 1 MiB allocation is counted")
}

var sink []byte
