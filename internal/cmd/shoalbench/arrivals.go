package main

import (
	"context"
	"sync"
	"time"
)

// arrivals tracks, for the update being measured, which nodes have
// observed it and when the last of them did. Observers report either a
// level (a counter value: the update numbered target has arrived when the
// value reaches target) or an exact message id (the reference).
type arrivals struct {
	mu      sync.Mutex
	target  uint64
	level   []uint64 // highest counter value each node has read
	reached []bool
	count   int
	last    time.Time
	done    chan struct{}
}

func newArrivals(nodes int) *arrivals {
	return &arrivals{level: make([]uint64, nodes), reached: make([]bool, nodes), done: make(chan struct{})}
}

// arm starts measuring target: no node has it yet, except those whose
// level already reaches it.
func (a *arrivals) arm(target uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.target, a.count, a.last = target, 0, time.Time{}
	a.done = make(chan struct{})
	for i := range a.reached {
		a.reached[i] = false
	}
	now := time.Now()
	for i, l := range a.level {
		if l >= target {
			a.reachLocked(i, now)
		}
	}
}

// markLevel records that node i read counter value v at t.
func (a *arrivals) markLevel(i int, v uint64, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v > a.level[i] {
		a.level[i] = v
	}
	if a.target != 0 && v >= a.target {
		a.reachLocked(i, t)
	}
}

// markID records that node i received message id at t.
func (a *arrivals) markID(i int, id uint64, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.target != 0 && id == a.target {
		a.reachLocked(i, t)
	}
}

func (a *arrivals) reachLocked(i int, t time.Time) {
	if a.reached[i] {
		return
	}
	a.reached[i] = true
	a.count++
	if t.After(a.last) {
		a.last = t
	}
	if a.count == len(a.reached) {
		close(a.done)
	}
}

// wait waits until every node has the armed update or timeout passes. It
// returns the time the last node observed it and ok, or the number of
// nodes that had it at the timeout.
func (a *arrivals) wait(ctx context.Context, timeout time.Duration) (last time.Time, reached int, ok bool, err error) {
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last, a.count, a.count == len(a.reached), err
}

// progressCount returns how many nodes have the armed update.
func (a *arrivals) progressCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count
}
