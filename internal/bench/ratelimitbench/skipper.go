package ratelimitbench

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/swarm"
)

// BackendSkipperClassic runs skipper's gossip cluster limiter algorithm,
// written here from its description, over shoal's classic API (the
// predecessor's Swarmer: ShareValue and Values). Per node and key:
//
//   - a local log of the node's own admissions, capped at L/N entries
//     (resized on every call to the limit divided by the nodes that share
//     a value for the key), that records a request only when its oldest
//     entry has left the window: it counts only what it admitted locally,
//     never more than L/N per window;
//   - every call shares the oldest entry's time (0 while the log is not
//     full) and reads every node's;
//   - the cluster rate is the sum over nodes of (L/N)·W/(now − oldest):
//     each node's log extrapolated to a window; the request is admitted
//     while that sum is below L (the local log's own verdict is ignored).
//
// A hot node admits beyond L/N while the cluster estimate is below L, but
// its log never shows more than L/N per window, so the estimate stays low
// under skew: the algorithm over-admits there whatever the transport.
const BackendSkipperClassic = "skipper-classic"

// skipperLimiter is that algorithm for one key.
type skipperLimiter struct {
	sw      *swarm.Swarm
	key     string
	maxHits int
	window  time.Duration

	mu   sync.Mutex
	log  []int64 // ring of admission times (ns); 0 is an empty slot
	next int     // index of the oldest entry
}

// oldest returns the oldest admission in a full log, or 0.
func (l *skipperLimiter) oldest() int64 { return l.log[l.next] }

// admitLocal records now if the log's oldest entry has left the window.
func (l *skipperLimiter) admitLocal(now int64) {
	if o := l.log[l.next]; o != 0 && now-o < int64(l.window) {
		return
	}
	l.log[l.next] = now
	l.next = (l.next + 1) % len(l.log)
}

// resize keeps the newest min(n, len) entries, oldest first.
func (l *skipperLimiter) resize(n int) {
	n = max(n, 1)
	if n == len(l.log) {
		return
	}
	ordered := append(append([]int64(nil), l.log[l.next:]...), l.log[:l.next]...)
	if len(ordered) > n {
		ordered = ordered[len(ordered)-n:]
	}
	out := make([]int64, n)
	copy(out[n-len(ordered):], ordered)
	l.log, l.next = out, 0
}

func (l *skipperLimiter) allow(now time.Time) bool {
	ns := now.UnixNano()
	l.mu.Lock()
	t0 := l.oldest()
	l.admitLocal(ns)
	l.mu.Unlock()
	if err := l.sw.ShareValue(l.key, t0); err != nil {
		return true // skipper fails open when it cannot share
	}
	vals := l.sw.Values(l.key)
	if len(vals) == 0 {
		return true
	}
	l.mu.Lock()
	l.resize(l.maxHits / len(vals))
	l.mu.Unlock()
	perNode := math.Max(1, float64(l.maxHits)/float64(len(vals)))
	var rate float64
	for _, v := range vals {
		t, ok := v.(int64)
		if !ok || t == 0 {
			continue
		}
		d := ns - t
		if d <= 0 {
			rate += perNode
			continue
		}
		rate += perNode / (float64(d) / float64(l.window))
	}
	return rate < float64(l.maxHits)
}

// newSkipperClassicInstance starts a fake classic Swarm on loopback that
// meets the others through reg, with skipper's limiter on it.
func newSkipperClassicInstance(name string, reg *discovery.FakeRegistry, p Params) (*instance, error) {
	if p.Keyed != nil {
		return nil, fmt.Errorf("ratelimitbench: backend %s has no keyed scenario", BackendSkipperClassic)
	}
	sw, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: name, FakeRegistry: reg, Tune: localTimings})
	if err != nil {
		return nil, fmt.Errorf("ratelimitbench: start %s: %w", name, err)
	}
	l := &skipperLimiter{sw: sw, key: "ratelimit.bench.s", maxHits: p.Limit, window: p.Window, log: make([]int64, p.Limit)}
	return &instance{
		name:  name,
		node:  sw.Node(),
		allow: func(now time.Time, _ int) bool { return l.allow(now) },
		close: sw.Leave,
	}, nil
}

// localTimings gives a classic node DefaultLocalConfig's timings.
func localTimings(c *swarm.Config) {
	l := swarm.DefaultLocalConfig(c.Name)
	c.GossipInterval, c.PushPullInterval = l.GossipInterval, l.PushPullInterval
	c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult = l.ProbeInterval, l.ProbeTimeout, l.SuspicionMult
	c.TCPTimeout, c.LeaveTimeout = l.TCPTimeout, l.LeaveTimeout
}
