package main

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// arrivals tracks, for the update being measured, which nodes have
// observed it and when the last of them did. Counter updates are tracked
// per origin: the k-th update of origin o has arrived at a node when the
// node reads o's slot at k or more, so one lost update does not hold up
// the measurement of the next updates of other origins. The reference
// reports exact message ids instead.
type arrivals struct {
	mu      sync.Mutex
	key     int          // origin of the armed update
	armed   atomic.Int64 // key, read by watchers without the lock; -1 before the first arm
	target  uint64       // its slot value, or message id
	level   [][]uint64
	reached []bool
	at      []time.Time // when each node observed the armed update
	count   int
	last    time.Time
	done    chan struct{}
}

// newArrivals tracks nodes nodes, each reading keys origins' slots.
func newArrivals(nodes, keys int) *arrivals {
	a := &arrivals{reached: make([]bool, nodes), at: make([]time.Time, nodes), done: make(chan struct{})}
	a.armed.Store(-1)
	a.level = make([][]uint64, nodes)
	for i := range a.level {
		a.level[i] = make([]uint64, keys)
	}
	return a
}

// arm starts measuring the update that takes origin key's slot to target
// (or message id target): no node has it yet, except those whose level
// already reaches it.
func (a *arrivals) arm(key int, target uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.key, a.target, a.count, a.last = key, target, 0, time.Time{}
	a.armed.Store(int64(key))
	a.done = make(chan struct{})
	for i := range a.reached {
		a.reached[i] = false
	}
	now := time.Now()
	for i, l := range a.level {
		if key < len(l) && l[key] >= target {
			a.reachLocked(i, now)
		}
	}
}

// armedKey returns the origin of the armed update, or -1 before the first.
func (a *arrivals) armedKey() int {
	return int(a.armed.Load())
}

// markLevel records that node i read origin key's slot at v at t.
func (a *arrivals) markLevel(i, key int, v uint64, t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if key < len(a.level[i]) && v > a.level[i][key] {
		a.level[i][key] = v
	}
	if a.target != 0 && key == a.key && v >= a.target {
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
	a.at[i] = t
	a.count++
	if t.After(a.last) {
		a.last = t
	}
	if a.count == len(a.reached) {
		close(a.done)
	}
}

// wait waits until every node has the armed update or timeout passes. It
// returns the time the last node observed it, how many nodes have it, and
// whether all do.
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

// nodeLatencies appends, for every node but the origin, how long after
// sent it observed the armed update (+Inf if it has not).
func (a *arrivals) nodeLatencies(dst []float64, origin int, sent time.Time) []float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, ok := range a.reached {
		switch {
		case i == origin:
		case ok:
			dst = append(dst, max(toMillis(a.at[i].Sub(sent)), 0))
		default:
			dst = append(dst, math.Inf(1))
		}
	}
	return dst
}

// progressCount returns how many nodes have the armed update.
func (a *arrivals) progressCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count
}
