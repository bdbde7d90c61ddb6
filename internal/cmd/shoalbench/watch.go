package main

import (
	"sync"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
)

// watchCounters makes every node's counter report to arr: after each
// change signal, the node reads the slot of the armed update's origin and
// marks its level. Signals coalesce, and the value is read after the
// signal, so no change is missed; an update is armed before it is made,
// so the read that follows its arrival looks at its origin. Reading one
// slot, not every origin's, keeps the harness's own work per update
// O(nodes · log nodes): reading all of them cost 500 nodes 250,000 slot
// lookups per update, a fifth of the process's CPU while updates ran,
// taken from the two cores the nodes share (the reference marks a message
// id, O(1)). The returned function stops the watchers and waits for them.
func watchCounters(counters []*swarm.Counter, origins []crdt.Replica, arr *arrivals) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, ctr := range counters {
		ch, cancel := ctr.Shared().Subscribe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			var (
				origin int
				level  uint64
			)
			read := func(p *crdt.PNCounter) { level = p.P.Get(origins[origin]) }
			for {
				select {
				case <-ch:
				case <-done:
					return
				}
				origin = arr.armedKey()
				if origin < 0 || origin >= len(origins) {
					continue
				}
				if err := ctr.Shared().Read(read); err == nil {
					arr.markLevel(i, origin, level, time.Now())
				}
			}
		}()
	}
	return func() { close(done); wg.Wait() }
}

// originTracker numbers each origin's updates: the k-th Add of origin o
// takes o's slot to k.
type originTracker []uint64

// next returns the slot value origin o's next update brings.
func (t originTracker) next(o int) uint64 {
	t[o]++
	return t[o]
}

// replicas returns the nodes' replica identities, indexed like the nodes.
func (c *cluster) replicas() []crdt.Replica {
	rs := make([]crdt.Replica, len(c.nodes))
	for i, nd := range c.nodes {
		rs[i] = nd.Replica()
	}
	return rs
}
