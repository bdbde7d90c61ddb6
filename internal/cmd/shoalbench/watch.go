package main

import (
	"sync"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
)

// watchCounters makes every node's counter report to arr: after each
// change signal, the node reads every origin's slot and marks the levels.
// Signals coalesce, and the value is read after the signal, so no change
// is missed. The returned function stops the watchers and waits for them.
func watchCounters(counters []*swarm.Counter, origins []crdt.Replica, arr *arrivals) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for i, ctr := range counters {
		ch, cancel := ctr.Shared().Subscribe()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cancel()
			levels := make([]uint64, len(origins))
			for {
				select {
				case <-ch:
				case <-done:
					return
				}
				err := ctr.Shared().Read(func(p *crdt.PNCounter) {
					for o, r := range origins {
						levels[o] = p.P.Get(r)
					}
				})
				if err == nil {
					arr.markLevels(i, levels, time.Now())
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
