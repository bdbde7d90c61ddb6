package main

import (
	"slices"
	"sync"
	"time"
)

// beaconTracker times beacon increments: probe k is sent at a known
// instant from one node, and each node's watcher reports when its beacon
// counter reaches k. The probe has reached the swarm when the last node
// reports it.
type beaconTracker struct {
	mu      sync.Mutex
	probes  map[int64]*probe
	seen    []int64         // per node: the highest beacon value observed
	last    []time.Duration // per node: delay of the last probe that reached it
	reached []time.Duration // reach-all delays of the probes that completed
	missed  int
}

type probe struct {
	sent time.Time
	left int // nodes that have not seen it yet
	done chan struct{}
}

func newBeaconTracker(nodes int) *beaconTracker {
	return &beaconTracker{
		probes: make(map[int64]*probe),
		seen:   make([]int64, nodes),
		last:   make([]time.Duration, nodes),
	}
}

// expect registers probe k, about to be sent from node origin at sent. The
// origin sees its own update at once. The returned channel is closed when
// every node has seen it.
func (b *beaconTracker) expect(k int64, origin int, sent time.Time) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := &probe{sent: sent, left: len(b.seen) - 1, done: make(chan struct{})}
	b.seen[origin] = max(b.seen[origin], k)
	b.last[origin] = 0
	if p.left == 0 {
		b.reached = append(b.reached, 0)
		close(p.done)
		return p.done
	}
	b.probes[k] = p
	return p.done
}

// observe records that node i reads beacon value v at now: every probe up
// to v has reached it.
func (b *beaconTracker) observe(i int, v int64, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := b.seen[i] + 1; k <= v; k++ {
		p, ok := b.probes[k]
		if !ok {
			continue
		}
		delay := now.Sub(p.sent)
		b.last[i] = delay
		p.left--
		if p.left == 0 {
			b.reached = append(b.reached, delay)
			delete(b.probes, k)
			close(p.done)
		}
	}
	b.seen[i] = max(b.seen[i], v)
}

// giveUp counts probe k as missed if it has not reached every node.
func (b *beaconTracker) giveUp(k int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.probes[k]; ok {
		delete(b.probes, k)
		b.missed++
	}
}

// abandon forgets probe k without counting it as missed.
func (b *beaconTracker) abandon(k int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.probes, k)
}

// latencyStats summarises the reach-all delays.
type latencyStats struct {
	Count         int
	Missed        int
	P50, P99, Max time.Duration
	LastPerNode   []time.Duration
	HaveLatencies bool
}

func (b *beaconTracker) stats() latencyStats {
	b.mu.Lock()
	s := latencyStats{Count: len(b.reached), Missed: b.missed, LastPerNode: slices.Clone(b.last)}
	r := slices.Clone(b.reached)
	b.mu.Unlock()
	if len(r) == 0 {
		return s
	}
	slices.Sort(r)
	s.HaveLatencies = true
	s.P50 = r[len(r)/2]
	s.P99 = r[min(len(r)-1, len(r)*99/100)]
	s.Max = r[len(r)-1]
	return s
}
