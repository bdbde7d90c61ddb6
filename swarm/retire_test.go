package swarm_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// counterEntries returns how many slots and retirement records a counter
// holds, and the replicas of its slots.
func counterEntries(t *testing.T, c *swarm.Counter) (slots, records int, owners []crdt.Replica) {
	t.Helper()
	require.NoError(t, c.Shared().Read(func(p *crdt.PNCounter) {
		slots = len(p.P.S) + len(p.N.S)
		records = len(p.P.Gone) + len(p.N.Gone)
		for _, s := range append(append([]crdt.Slot(nil), p.P.S...), p.N.S...) {
			owners = append(owners, s.Replica)
		}
	}))
	return slots, records, owners
}

// countOf returns what c knows of replica r's increments.
func countOf(t *testing.T, c *swarm.Counter, r crdt.Replica) uint64 {
	var n uint64
	require.NoError(t, c.Shared().Read(func(p *crdt.PNCounter) { n = p.P.Get(r) }))
	return n
}

// One member of a 4-node cluster is restarted 40 times (alternately by
// Leave and by a crash), each run adding to a counter, while the three
// stable members add throughout. Every stable member ends with the exact
// total, and once the retirement horizon has passed each counter holds
// slots for the live replicas only: 4, not the 44 replicas that counted.
func TestRetireFortyRestarts(t *testing.T) {
	const restarts = 40
	cfg := func(_ int, c *swarm.Config) {
		c.PushPullInterval = 250 * time.Millisecond
		c.RetireAfter = 300 * time.Millisecond
		c.RetireHorizon = 1500 * time.Millisecond
	}
	cl := swarmtest.Start(t, 4, swarmtest.Options{Config: cfg})
	cs := counters(t, cl, "hits")
	stable := cs[:3]

	// The stable members add throughout.
	var total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range stable {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				if err := c.Add(1); err == nil {
					total.Add(1)
				}
			}
		}()
	}

	victim := cl.Node(3)
	_, port, err := net.SplitHostPort(victim.Addr())
	require.NoError(t, err)
	bindPort, err := strconv.Atoi(port)
	require.NoError(t, err)
	runCounter := cs[3]
	started := time.Now()
	for run := 0; run < restarts; run++ {
		// This run adds, and waits until a stable member has its adds, so
		// that stopping it (even by a crash) loses nothing.
		adds := int64(run%5 + 1)
		require.NoError(t, runCounter.Add(adds))
		total.Add(adds)
		self := victim.Replica()
		swarmtest.WaitFor(t, 20*time.Second, func() error {
			if got := countOf(t, stable[0], self); got != uint64(adds) {
				return fmt.Errorf("run %d: node-0 has %d of its %d adds", run, got, adds)
			}
			return nil
		})
		if run%2 == 0 {
			require.NoError(t, victim.Leave())
		} else {
			require.NoError(t, victim.Close())
		}
		// The same name and address, a new incarnation: a pod restarted
		// in place.
		c := cl.Config("node-3", 3)
		c.BindPort = bindPort
		c.Incarnation = self.Incarnation + 1
		victim, err = cl.AddConfig(c)
		require.NoError(t, err)
		_, err = victim.Join(context.Background(), cl.Node(0).Addr())
		require.NoError(t, err)
		runCounter, err = swarm.NewCounter(victim, "hits")
		require.NoError(t, err)
	}
	t.Logf("%d restarts in %v", restarts, time.Since(started).Round(time.Millisecond))
	close(stop)
	wg.Wait()

	live := append(append([]*swarm.Counter(nil), stable...), runCounter)
	want := total.Load()
	exact := func(timeout time.Duration) {
		t.Helper()
		err := swarmtest.Await(timeout, func() error {
			for i, c := range live {
				if v, _ := c.Value(); v != want {
					return fmt.Errorf("counter %d reads %d, want %d", i, v, want)
				}
			}
			return nil
		})
		if err != nil {
			for i, c := range live {
				require.NoError(t, c.Shared().Read(func(p *crdt.PNCounter) { t.Logf("counter %d: %d %+v", i, p.Value(), p.P) }))
			}
			t.Fatal(err)
		}
	}
	exact(30 * time.Second)

	// Once the horizon has passed twice (commit, then forget), each
	// counter holds the live replicas' slots and nothing else.
	liveReplicas := map[crdt.Replica]bool{victim.Replica(): true}
	for i := 0; i < 3; i++ {
		liveReplicas[cl.Node(i).Replica()] = true
	}
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, c := range live {
			slots, records, owners := counterEntries(t, c)
			if slots+records > 2*len(liveReplicas) {
				return fmt.Errorf("counter %d holds %d slots and %d records for %d live replicas", i, slots, records, len(liveReplicas))
			}
			for _, r := range owners {
				if !liveReplicas[r] {
					return fmt.Errorf("counter %d holds a slot of the gone replica %s", i, r)
				}
			}
		}
		return nil
	})
	// And the total is still exact after the commits and the forgetting.
	exact(30 * time.Second)
	slots, records, _ := counterEntries(t, stable[0])
	t.Logf("total %d; node-0 holds %d slots and %d records for %d live replicas (%d replicas counted)",
		want, slots, records, len(liveReplicas), 3+restarts+1)
}

// hasRecord reports whether c holds a retirement record of r, and whether
// it is committed.
func hasRecord(t *testing.T, c *swarm.Counter, r crdt.Replica) (held, committed bool) {
	require.NoError(t, c.Shared().Read(func(p *crdt.PNCounter) {
		for _, g := range p.P.Gone {
			if g.Replica == r {
				held, committed = true, g.A == g.N
			}
		}
	}))
	return held, committed
}

// A member cut off for longer than RetireAfter is retired by the others,
// and retires them in turn; both sides keep counting, and once the
// partition heals every member reads the exact total, also after the
// retirements (which turned out wrong: everyone was alive) are committed.
func TestRetirePartitionLongerThanRetireAfter(t *testing.T) {
	simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Seed: 3})
	require.NoError(t, err)
	t.Cleanup(func() { _ = simnet.Close() })
	peers := &lateStatic{}
	sim := simConfig(peers)
	cl := swarmtest.Start(t, 3, swarmtest.Options{
		Config: func(i int, c *swarm.Config) {
			sim(i, c)
			c.PushPullInterval = 250 * time.Millisecond
			c.RetireAfter = 300 * time.Millisecond
			c.RetireHorizon = 1500 * time.Millisecond
		},
		Transport: func(name string) (memberlist.NodeAwareTransport, error) { return simnet.NewTransport(name) },
	})
	for _, nd := range cl.Nodes() {
		peers.add(t, nd)
	}
	cs := counters(t, cl, "hits")
	var want int64
	for i, c := range cs {
		require.NoError(t, c.Add(int64(100*(i+1))))
		want += int64(100 * (i + 1))
	}
	waitCounters(t, cs, want, 20*time.Second)

	r0, r2 := cl.Node(0).Replica(), cl.Node(2).Replica()
	require.NoError(t, simnet.Partition([]string{"node-0", "node-1"}, []string{"node-2"}))
	// Each side folds the other away: the majority folds node-2, and
	// node-2, alone, folds both others.
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		if held, _ := hasRecord(t, cs[0], r2); !held {
			return fmt.Errorf("node-0 has not retired node-2 yet")
		}
		if held, _ := hasRecord(t, cs[2], r0); !held {
			return fmt.Errorf("node-2 has not retired node-0 yet")
		}
		return nil
	})
	// Both sides count while apart.
	require.NoError(t, cs[0].Add(10))
	require.NoError(t, cs[2].Add(7))
	want += 17

	simnet.Heal()
	waitCounters(t, cs, want, 30*time.Second)
	// The wrong retirements are committed a horizon later, and the
	// retired members, alive, take their records over: still exact.
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, c := range cs {
			if held, committed := hasRecord(t, c, r2); held && !committed {
				return fmt.Errorf("node-%d: the record of node-2 is not committed yet", i)
			}
			if held, committed := hasRecord(t, c, r0); held && !committed {
				return fmt.Errorf("node-%d: the record of node-0 is not committed yet", i)
			}
		}
		return nil
	})
	require.NoError(t, cs[1].Add(5))
	require.NoError(t, cs[2].Add(3))
	want += 8
	waitCounters(t, cs, want, 30*time.Second)
}

func TestNewRejectsInvalidRetireConfig(t *testing.T) {
	cases := map[string]func(*swarm.Config){
		"RetireAfter":   func(c *swarm.Config) { c.RetireAfter = 0 },
		"RetireHorizon": func(c *swarm.Config) { c.RetireHorizon = 3 * c.PushPullInterval },
	}
	for field, mutate := range cases {
		t.Run(field, func(t *testing.T) {
			cfg := swarm.DefaultLocalConfig("n")
			mutate(&cfg)
			n, err := swarm.New(cfg)
			require.Nil(t, n)
			require.ErrorIs(t, err, swarm.ErrInvalidConfig)
			require.Contains(t, err.Error(), field)
		})
	}
	cfg := swarm.DefaultLANConfig("n")
	require.Equal(t, swarm.DefaultRetireAfter, cfg.RetireAfter)
	require.Equal(t, swarm.DefaultRetireHorizon, cfg.RetireHorizon)
}

// With anti-entropy off, a fold reaches the other members by the flush
// alone: the folder's retirement pass marks the value for its next delta.
func TestRetireFoldTravelsByDelta(t *testing.T) {
	cl := swarmtest.Start(t, 3, swarmtest.Options{Config: func(_ int, c *swarm.Config) {
		c.PushPullInterval = 0
		c.RetireAfter = 200 * time.Millisecond
		c.RetireHorizon = time.Minute // no commit during the test
	}})
	cs := counters(t, cl, "hits")
	for i, c := range cs {
		require.NoError(t, c.Add(int64(i+1)))
	}
	waitCounters(t, cs, 6, 20*time.Second)
	gone := cl.Node(2).Replica()
	require.NoError(t, cl.Node(2).Leave())
	// node-0 is the oldest member, so it folds; node-1 learns the fold
	// only from node-0's delta.
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		held, _ := hasRecord(t, cs[1], gone)
		_, _, owners := counterEntries(t, cs[1])
		if !held {
			return fmt.Errorf("node-1 has no record of %s", gone)
		}
		for _, r := range owners {
			if r == gone {
				return fmt.Errorf("node-1 still holds the slot of %s", gone)
			}
		}
		return nil
	})
	waitCounters(t, cs[:2], 6, 10*time.Second)
	// node-0's passes tally the record it folded, settling.
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		st := cl.Node(0).Stats().Retirement
		if st.Records != 1 || st.Uncommitted != 1 || st.OldestUncommitted <= 0 || st.OldestUncommitted > time.Minute {
			return fmt.Errorf("node-0 tallies %+v, want the one record, settling", st)
		}
		return nil
	})
}

// recordOf returns the increment-side record of replica r that c holds.
func recordOf(t *testing.T, c *swarm.Counter, r crdt.Replica) (g crdt.Retirement, ok bool) {
	t.Helper()
	require.NoError(t, c.Shared().Read(func(p *crdt.PNCounter) {
		for _, x := range p.P.Gone {
			if x.Replica == r {
				g, ok = x, true
			}
		}
	}))
	return g, ok
}

// A member that leaves on purpose hands the records folded into it over to
// its successor (the oldest other live member) with their settle time, so
// that a fleet replaced more often than the horizon still commits them: a
// folder's re-home would start the horizon again. With anti-entropy off,
// the hand-over reaches the others by the leaver's last flush.
func TestLeaveHandsRecordsOver(t *testing.T) {
	cl := swarmtest.Start(t, 4, swarmtest.Options{Config: func(_ int, c *swarm.Config) {
		c.PushPullInterval = 0
		c.RetireAfter = 200 * time.Millisecond
		c.RetireHorizon = time.Minute // no commit during the test
	}})
	cs := counters(t, cl, "hits")
	for i, c := range cs {
		require.NoError(t, c.Add(int64(i+1)))
	}
	waitCounters(t, cs, 10, 20*time.Second)
	gone := cl.Node(3).Replica()
	require.NoError(t, cl.Node(3).Leave())
	folder, successor := cl.Node(0).Replica(), cl.Node(1).Replica()
	var folded crdt.Retirement
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		g, ok := recordOf(t, cs[2], gone)
		if !ok || g.Into != folder {
			return fmt.Errorf("node-2 holds no record of %s into %s: %+v", gone, folder, g)
		}
		folded = g
		return nil
	})
	require.NoError(t, cl.Node(0).Leave())
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		g, ok := recordOf(t, cs[2], gone)
		if !ok || g.Into != successor {
			return fmt.Errorf("node-2's record of %s is not into %s: %+v", gone, successor, g)
		}
		if g.At != folded.At || g.N != folded.N || g.A != 0 {
			return fmt.Errorf("node-2's record of %s was %+v before the hand-over and %+v after: it should only change hands", gone, folded, g)
		}
		return nil
	})
	require.Positive(t, cl.Node(0).Stats().Retirement.HandedOver, "node-0 counted the hand-over")
	waitCounters(t, cs[1:3], 10, 10*time.Second)
}
