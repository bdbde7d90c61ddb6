package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFleetPercentSumsTheNodesHeapGoals(t *testing.T) {
	const mib = 1 << 20
	assert.Equal(t, 100, fleetPercent(0, 300*mib), "no node count: the runtime's default")
	assert.Equal(t, 100, fleetPercent(500, 0), "no collection yet: the runtime's default")
	// 500 nodes keeping 400 MiB: each keeps 0.8 MiB, so each would collect
	// at its 4 MiB floor, and the fleet's goals add up to 2,000 MiB.
	assert.Equal(t, 400, fleetPercent(500, 400*mib), "goal 2,000 MiB over 400 MiB live")
	// Nodes keeping over 2 MiB each collect at twice their live heap, as one
	// process does: the pacer changes nothing.
	assert.Equal(t, 100, fleetPercent(10, 300*mib))
	assert.Equal(t, maxFleetPercent, fleetPercent(100, 20*mib), "100 nodes keeping 0.2 MiB each: capped")
	assert.Equal(t, maxFleetPercent, fleetPercent(1000, 1), "a nearly empty heap is capped")
}

func TestFleetPacerSetsTheCollectorsPercent(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	g := &gcPacer{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	g.nodes.Store(1000) // a 4,000 MiB fleet goal: far over this test's heap
	runtime.GC()
	g.step()
	assert.Equal(t, maxFleetPercent, g.set, "the pacer raised GOGC for 1,000 nodes")
	assert.Equal(t, g.set, debug.SetGCPercent(g.set), "and the runtime has it")

	live := make([]byte, 16<<20) // one node keeping 16 MiB collects at 32
	g.nodes.Store(1)
	runtime.GC()
	g.step()
	runtime.KeepAlive(live)
	assert.Equal(t, 100, debug.SetGCPercent(100), "back to the default")
}
