package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// A cluster of four split 2|2 by a real (simulated) partition: with
// PartitionKeepLimit each side keeps limiting on its own and admits at most
// L per window (k·L in total, the documented bound); with
// PartitionScaleLimit each side scales L by the members it still sees, and
// the two sides together admit about L.
func TestPartitionBound(t *testing.T) {
	if testing.Short() {
		t.Skip("partition timing: skipped in -short")
	}
	for _, tc := range []struct {
		name    string
		mode    ratelimit.Partition
		perSide float64 // upper bound per side per window, in L
		minSide float64 // lower bound per side per window, in L, with expect offered
		expect  float64 // what a side should admit per window, in L
	}{
		{"keep", ratelimit.PartitionKeepLimit, 1.15, 0.7, 1},
		{"scale", ratelimit.PartitionScaleLimit, 0.65, 0.3, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const limit, window = 200, time.Second
			simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Seed: 3})
			require.NoError(t, err)
			t.Cleanup(func() { _ = simnet.Close() })
			c := swarmtest.Start(t, 4, swarmtest.Options{
				Config: func(i int, cfg *swarm.Config) {
					cfg.ProbeInterval, cfg.ProbeTimeout, cfg.SuspicionMult = 200*time.Millisecond, 100*time.Millisecond, 2
				},
				Transport: func(name string) (memberlist.NodeAwareTransport, error) { return simnet.NewTransport(name) },
			})
			var lims []*ratelimit.Limiter
			for _, n := range c.Nodes() {
				l, err := ratelimit.New(n, "api", ratelimit.Config{Limit: limit, Window: window, Partition: tc.mode})
				require.NoError(t, err)
				t.Cleanup(func() { _ = l.Close() })
				lims = append(lims, l)
			}
			require.NoError(t, simnet.Partition([]string{"node-0", "node-1"}, []string{"node-2", "node-3"}))
			swarmtest.WaitFor(t, 20*time.Second, func() error {
				for _, n := range c.Nodes() {
					if m := n.Stats().Members; m != 2 {
						return fmt.Errorf("%s sees %d members", n.Name(), m)
					}
				}
				return nil
			})

			// Offer each node 1.5·L per window; count offers and admissions
			// per side. On a busy machine a ticker drops ticks, so the
			// lower bound scales with what was offered.
			var admitted, offered [2]atomic.Int64
			var stallMu sync.Mutex
			var stall time.Duration // longest gap between two ticks of any load loop
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i, l := range lims {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tick := time.NewTicker(window / (limit * 3 / 2))
					defer tick.Stop()
					last := time.Now()
					for {
						select {
						case <-stop:
							return
						case now := <-tick.C:
							stallMu.Lock()
							stall = max(stall, time.Since(last))
							stallMu.Unlock()
							last = time.Now()
							offered[i/2].Add(1)
							if l.AllowN(now, 1) {
								admitted[i/2].Add(1)
							}
						}
					}
				}()
			}
			// Let the other side's counts age out of the window, then
			// measure three windows.
			time.Sleep(window + window/2) // load keeps running: this is the warm-up, not a wait for a condition
			base := [2]int64{admitted[0].Load(), admitted[1].Load()}
			baseOffered := [2]int64{offered[0].Load(), offered[1].Load()}
			start := time.Now()
			time.Sleep(3 * window)
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			windows := elapsed.Seconds() / window.Seconds()
			// The failure detector runs at 200 ms probes: a stall of the
			// process long enough to declare a partner dead leaves each
			// node of a side alone with the whole limit. That is the
			// documented bound of a finer partition, not this one's.
			split := false
			for _, n := range c.Nodes() {
				split = split || n.Stats().Members != 2
			}
			t.Logf("%s: longest stall %v, a side split since: %v", tc.name, stall, split)
			if stall > 300*time.Millisecond || split {
				t.Skipf("the process stalled for %v (a side split: %v): the bound is not judged", stall, split)
			}
			for side := 0; side < 2; side++ {
				per := float64(admitted[side].Load()-base[side]) / windows / limit
				off := float64(offered[side].Load()-baseOffered[side]) / windows / limit
				t.Logf("%s: side %d admitted %.2f·L per window of %.2f·L offered", tc.name, side, per, off)
				require.LessOrEqual(t, per, tc.perSide, "side %d over its bound", side)
				require.GreaterOrEqual(t, per, tc.minSide*min(1, off/tc.expect), "side %d stopped admitting", side)
			}
		})
	}
}
