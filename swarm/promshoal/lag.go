package promshoal

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
)

// ErrInvalidOptions is returned by NewLagProbe when an option is invalid;
// the message names it.
var ErrInvalidOptions = errors.New("shoal/promshoal: invalid options")

// Defaults of LagOptions.
const (
	DefaultLagValue    = "shoal/lag"
	DefaultLagInterval = 5 * time.Second
)

// DefaultLagBuckets are the histogram's buckets: 1 ms to about 16 s.
var DefaultLagBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

// LagOptions configure a LagProbe.
type LagOptions struct {
	Options
	// Value is the name of the shared map the probes write (default
	// DefaultLagValue). Every node's probe must use the same name.
	Value string
	// Interval is how often this node writes its clock (default
	// DefaultLagInterval): each write is one small delta to every member.
	Interval time.Duration
	// Buckets are the histogram's upper bounds in seconds (default
	// DefaultLagBuckets).
	Buckets []float64
}

// LagProbe measures how long updates take to reach this node and exports
// it as the histogram shoal_convergence_lag_seconds. Run one on every
// node: each writes its clock into a shared last-writer-wins map every
// Interval, and observes, for every peer's write it receives, the time
// between that write (its hybrid-logical-clock timestamp) and its arrival
// here. Writes that were already there when the probe started are not
// observed: their arrival time is unknown.
//
// Across hosts the measure includes the offset between the two clocks
// (negative results count as 0); on one host it is exact. It covers the
// whole path an update takes: the writer's flush interval, the network,
// decoding and merging.
type LagProbe struct {
	n    *swarm.Node
	m    *swarm.Map[string, int64]
	hist prometheus.Histogram
	seen map[crdt.Replica]crdt.Timestamp // newest write observed per writer

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

var _ prometheus.Collector = (*LagProbe)(nil)

// NewLagProbe registers the probe's map on n and starts its goroutine;
// Close stops it.
func NewLagProbe(n *swarm.Node, o LagOptions) (*LagProbe, error) {
	if o.Value == "" {
		o.Value = DefaultLagValue
	}
	switch {
	case o.Interval < 0:
		return nil, fmt.Errorf("%w: Interval %v is negative", ErrInvalidOptions, o.Interval)
	case o.Interval == 0:
		o.Interval = DefaultLagInterval
	}
	if o.Buckets == nil {
		o.Buckets = DefaultLagBuckets
	}
	for i := 1; i < len(o.Buckets); i++ {
		if o.Buckets[i] <= o.Buckets[i-1] {
			return nil, fmt.Errorf("%w: Buckets are not strictly increasing at %d", ErrInvalidOptions, i)
		}
	}
	m, err := swarm.NewMap[string, int64](n, o.Value, crdt.LWWOptions{})
	if err != nil {
		return nil, fmt.Errorf("shoal/promshoal: lag probe value %q: %w", o.Value, err)
	}
	p := &LagProbe{
		n: n,
		m: m,
		hist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: o.namespace(), Name: "convergence_lag_seconds",
			Help:        "Time from a peer's probe write to its arrival on this node.",
			ConstLabels: o.ConstLabels, Buckets: o.Buckets,
		}),
		seen: make(map[crdt.Replica]crdt.Timestamp),
		stop: make(chan struct{}),
	}
	ch, cancel := m.Shared().Subscribe()
	p.scan(time.Now(), false) // what is there already has no known arrival time
	p.wg.Add(1)
	go p.loop(ch, cancel, o.Interval)
	return p, nil
}

func (p *LagProbe) loop(changed <-chan struct{}, cancel func(), interval time.Duration) {
	defer p.wg.Done()
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var seq int64
	write := func() bool {
		seq++
		return p.m.Set(p.n.Name(), seq) == nil
	}
	if !write() {
		return
	}
	for {
		select {
		case <-p.stop:
			return
		case <-changed:
			p.scan(time.Now(), true)
		case <-tick.C:
			if !write() {
				return // the node is closed
			}
		}
	}
}

// scan observes the peers' writes newer than the ones seen before.
func (p *LagProbe) scan(now time.Time, observe bool) {
	self := p.n.Replica()
	_ = p.m.Shared().Read(func(mp *crdt.LWWMap[string, int64]) {
		mp.Range(func(_ string, _ int64, ts crdt.Timestamp) bool {
			w := ts.Replica
			if w == self || !ts.After(p.seen[w]) {
				return true
			}
			p.seen[w] = ts
			if observe {
				p.hist.Observe(max(0, now.Sub(ts.Time()).Seconds()))
			}
			return true
		})
	})
}

// Describe sends the histogram's description.
func (p *LagProbe) Describe(ch chan<- *prometheus.Desc) { p.hist.Describe(ch) }

// Collect sends the histogram.
func (p *LagProbe) Collect(ch chan<- prometheus.Metric) { p.hist.Collect(ch) }

// Close stops the probe's goroutine and waits for it. It does not close
// the node; the probe's map stays registered on it. Close is idempotent.
func (p *LagProbe) Close() error {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
	return nil
}
