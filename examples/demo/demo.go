package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// probeTimeout is how long a beacon update may take to reach every node
// before the demo counts it as missed and sends the next one.
const probeTimeout = 3 * time.Second

// settleTimeout bounds the wait for every node to agree after the load
// stops.
const settleTimeout = 10 * time.Second

// demoNode is one node of the swarm and the values the demo shares on it.
type demoNode struct {
	node     *swarm.Node
	requests *swarm.Counter // what the workload counts
	beacon   *swarm.Counter // one increment per probe, to time propagation
	limiter  *ratelimit.Limiter
	counted  atomic.Int64 // requests this node added itself
	admitted atomic.Int64 // requests its rate limiter admitted
}

// demo is a running swarm with its workload.
type demo struct {
	o       options
	nodes   []*demoNode
	total   atomic.Int64 // requests added on all nodes: the true value
	tracker *beaconTracker
	admits  *admissionLog

	// Kept by the view's goroutine (limitRow).
	worst, overloadSum float64
	overloadN          int
	started            time.Time
	wg                 sync.WaitGroup
}

// startDemo starts o.nodes nodes on loopback, joins them and waits until
// every node sees all of them alive.
func startDemo(ctx context.Context, o options) (*demo, error) {
	d := &demo{o: o, tracker: newBeaconTracker(o.nodes), admits: newAdmissionLog(o.window)}
	// A fresh gossip key per run: the demo shows the configuration a
	// real cluster runs with, encryption included.
	key := make([]byte, 32)
	if _, err := crand.Read(key); err != nil {
		return nil, fmt.Errorf("gossip key: %w", err)
	}
	for i := 0; i < o.nodes; i++ {
		dn, err := startNode(fmt.Sprintf("node-%d", i+1), key, o)
		if err != nil {
			_ = d.stop()
			return nil, err
		}
		d.nodes = append(d.nodes, dn)
	}
	seed := d.nodes[0].node.Addr()
	for _, dn := range d.nodes[1:] {
		if _, err := dn.node.Join(ctx, seed); err != nil {
			_ = d.stop()
			return nil, fmt.Errorf("%s joins %s: %w", dn.node.Name(), seed, err)
		}
	}
	if err := d.waitMembers(ctx, 15*time.Second); err != nil {
		_ = d.stop()
		return nil, err
	}
	return d, nil
}

func startNode(name string, key []byte, o options) (*demoNode, error) {
	cfg := swarm.DefaultLocalConfig(name)
	cfg.SecretKeys = [][]byte{key}
	n, err := swarm.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	dn := &demoNode{node: n}
	if dn.requests, err = swarm.NewCounter(n, "requests"); err == nil {
		dn.beacon, err = swarm.NewCounter(n, "beacon")
	}
	if err == nil {
		dn.limiter, err = ratelimit.New(n, "api", ratelimit.Config{Limit: o.limit, Window: o.window})
	}
	if err != nil {
		_ = n.Close()
		return nil, fmt.Errorf("share values on %s: %w", name, err)
	}
	return dn, nil
}

func (d *demo) waitMembers(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		short := ""
		for _, dn := range d.nodes {
			if m := dn.node.Stats().Members; m != len(d.nodes) {
				short = fmt.Sprintf("%s sees %d of %d members", dn.node.Name(), m, len(d.nodes))
				break
			}
		}
		if short == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the swarm did not form within %v: %s", timeout, short)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// run drives the workload and the beacon for o.duration (or until ctx
// ends), refreshing v, then waits for the nodes to agree and returns the
// summary.
func (d *demo) run(ctx context.Context, v view) summary {
	d.started = time.Now()
	loadCtx, stopLoad := context.WithTimeout(ctx, d.o.duration)
	defer stopLoad()
	for i, dn := range d.nodes {
		d.wg.Add(2)
		go d.workload(loadCtx, dn, uint64(i))
		go d.watchBeacon(loadCtx, i, dn)
	}
	d.wg.Add(1)
	go d.probe(loadCtx)

	tick := time.NewTicker(d.o.refresh)
	defer tick.Stop()
	v.frame(d.snapshot(false))
loop:
	for {
		select {
		case <-loadCtx.Done():
			break loop
		case <-tick.C:
			v.frame(d.snapshot(false))
		}
	}
	d.wg.Wait()
	ran := time.Since(d.started)
	settle, converged := d.settle(settleTimeout)
	final := d.snapshot(true)
	v.frame(final)
	v.close()
	return d.summarize(final, ran, settle, converged)
}

// workload counts requests on dn at about o.rate per second, in uneven
// bursts every 20 ms, as a busy service instance would.
func (d *demo) workload(ctx context.Context, dn *demoNode, seed uint64) {
	defer d.wg.Done()
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	const step = 20 * time.Millisecond
	tick := time.NewTicker(step)
	defer tick.Stop()
	carry := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		carry += d.o.rate * step.Seconds() * 2 * rng.Float64()
		k := int64(carry)
		carry -= float64(k)
		if k == 0 {
			continue
		}
		// The true total first: a node may read an add before the demo
		// counts it, never the other way round (snapshot reads the
		// total last).
		d.total.Add(k)
		dn.counted.Add(k)
		if err := dn.requests.Add(k); err != nil {
			return
		}
		var ok int64
		now := time.Now()
		for j := int64(0); j < k; j++ {
			if dn.limiter.AllowN(now, 1) {
				ok++
			}
		}
		dn.admitted.Add(ok)
		d.admits.record(now, k, ok)
	}
}

// watchBeacon records when node i sees each beacon increment.
func (d *demo) watchBeacon(ctx context.Context, i int, dn *demoNode) {
	defer d.wg.Done()
	ch, cancel := dn.beacon.Shared().Subscribe()
	defer cancel()
	for {
		if v, err := dn.beacon.Value(); err == nil {
			d.tracker.observe(i, v, time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// probe sends one beacon increment at a time, from each node in turn, and
// waits until every node has it (or probeTimeout) before the next.
func (d *demo) probe(ctx context.Context) {
	defer d.wg.Done()
	const pause = 100 * time.Millisecond
	for k := int64(1); ; k++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		origin := int(k-1) % len(d.nodes)
		done := d.tracker.expect(k, origin, time.Now())
		if err := d.nodes[origin].beacon.Add(1); err != nil {
			return
		}
		select {
		case <-done:
		case <-time.After(probeTimeout):
			d.tracker.giveUp(k)
		case <-ctx.Done():
			d.tracker.abandon(k) // the demo ended, not the probe's time
			return
		}
	}
}

// settle waits until every node reads the true total and returns how long
// that took after the load stopped.
func (d *demo) settle(timeout time.Duration) (time.Duration, bool) {
	start := time.Now()
	want := d.total.Load()
	for {
		agree := true
		for _, dn := range d.nodes {
			if v, err := dn.requests.Value(); err != nil || v != want {
				agree = false
				break
			}
		}
		if agree {
			return time.Since(start), true
		}
		if time.Since(start) > timeout {
			return time.Since(start), false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop makes every node leave, one after another: a node that leaves
// while its peers are shutting down too would wait in vain for someone to
// take its leave message.
func (d *demo) stop() error {
	var errs []error
	for _, dn := range d.nodes {
		if dn.limiter != nil {
			if err := dn.limiter.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: close limiter: %w", dn.node.Name(), err))
			}
		}
		if err := dn.node.Leave(); err != nil && !errors.Is(err, swarm.ErrClosed) {
			errs = append(errs, fmt.Errorf("%s: %w", dn.node.Name(), err))
		}
	}
	return errors.Join(errs...)
}
