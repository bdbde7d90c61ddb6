package swarm_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// A delta that arrives before its origin's announcement is held, and
// merged when the announcement comes: a node that starts sends its first
// deltas directly while memberlist's gossip of its arrival is still on its
// way. Here the held delta is the only way the count can arrive: the
// origin never registers the counter and anti-entropy is off. With
// MaxEarlyBytes 0 the same delta is refused at once and never counts.
func TestEarlyDeltaWaitsForItsOriginsAnnouncement(t *testing.T) {
	for _, hold := range []bool{true, false} {
		t.Run(fmt.Sprintf("hold=%v", hold), func(t *testing.T) {
			c := swarmtest.Start(t, 1, swarmtest.Options{Config: func(_ int, cfg *swarm.Config) {
				cfg.PushPullInterval = 0
				cfg.GossipInterval = time.Second // a 25 s hold: the join below comes well within it
				if !hold {
					cfg.MaxEarlyBytes = 0
				}
			}})
			a := c.Node(0)
			ctr, err := swarm.NewCounter(a, "c")
			require.NoError(t, err)

			late := crdt.Replica{Node: "late", Incarnation: 42}
			forge(t, a, codec.Envelope{Kind: codec.KindDelta, Name: "c", Type: "*crdt.PNCounter", Origin: late,
				Payload: marshal(t, pnState(crdt.Slot{Replica: late, N: 5}))})
			swarmtest.WaitFor(t, 10*time.Second, func() error {
				s := a.Stats()
				if hold && s.EarlyDeltas != 1 {
					return fmt.Errorf("%d deltas held, want 1", s.EarlyDeltas)
				}
				if !hold && s.Rejected["origin_not_member"] != 1 {
					return fmt.Errorf("refused %v, want one origin_not_member", s.Rejected)
				}
				return nil
			})
			v, err := ctr.Value()
			require.NoError(t, err)
			require.Zero(t, v, "a held delta must not count before its origin is announced")

			cfg := swarm.DefaultLocalConfig(late.Node)
			cfg.Incarnation = late.Incarnation
			cfg.PushPullInterval = 0
			b, err := swarm.New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.Close() })
			_, err = b.Join(context.Background(), a.Addr())
			require.NoError(t, err)

			if !hold {
				c.WaitMembers(t, 2, 10*time.Second)
				time.Sleep(200 * time.Millisecond) // a wrongly held delta would merge now
				v, err := ctr.Value()
				require.NoError(t, err)
				require.Zero(t, v, "a refused delta must never count")
				return
			}
			swarmtest.WaitFor(t, 10*time.Second, func() error {
				if v, err := ctr.Value(); err != nil || v != 5 {
					return fmt.Errorf("counter reads %d (%v), want the held delta's 5", v, err)
				}
				return nil
			})
			s := a.Stats()
			require.Equal(t, uint64(1), s.EarlyMerged)
			require.Zero(t, s.EarlyDeltas)
			require.Zero(t, s.EarlyBytes)
			require.Zero(t, s.Rejected["origin_not_member"])
		})
	}
}

// A delta of a replica no member ever announces is held for the hold (25
// gossip intervals) and then refused, as origin_not_member; one of an
// earlier incarnation than the member's, never announced, is refused at
// once, as origin_superseded.
func TestEarlyDeltaOfNoMemberIsRefusedAfterTheHold(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: func(_ int, cfg *swarm.Config) {
		cfg.PushPullInterval = 0
		cfg.GossipInterval = 200 * time.Millisecond // a 5 s hold, which a loaded test still sees
	}})
	cs := counters(t, c, "c")
	a := c.Node(0)
	ghost := crdt.Replica{Node: "ghost", Incarnation: 1}
	forge(t, a, codec.Envelope{Kind: codec.KindDelta, Name: "c", Type: "*crdt.PNCounter", Origin: ghost,
		Payload: marshal(t, pnState(crdt.Slot{Replica: ghost, N: 7}))})
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if s := a.Stats(); s.EarlyDeltas != 1 {
			return fmt.Errorf("%d deltas held, want 1", s.EarlyDeltas)
		}
		return nil
	})
	waitRejected(t, a, "origin_not_member", 1)
	require.Zero(t, a.Stats().EarlyDeltas)

	old := c.Node(1).Replica()
	old.Incarnation--
	forge(t, a, codec.Envelope{Kind: codec.KindDelta, Name: "c", Type: "*crdt.PNCounter", Origin: old,
		Payload: marshal(t, pnState(crdt.Slot{Replica: old, N: 7}))})
	waitRejected(t, a, "origin_superseded", 1)
	require.Zero(t, a.Stats().EarlyMerged)
	require.Equal(t, uint64(1), a.Stats().Rejected["origin_not_member"])

	require.NoError(t, cs[1].Add(1))
	waitCounters(t, cs, 1, 10*time.Second)
}

// A peer can fill the early store with deltas of made-up replicas: it
// stays within MaxEarlyBytes, the oldest go first, and every one given up
// is counted.
func TestEarlyDeltasStayWithinBytes(t *testing.T) {
	const bound = 16 << 10
	c := swarmtest.Start(t, 1, swarmtest.Options{Config: func(_ int, cfg *swarm.Config) {
		cfg.PushPullInterval = 0
		cfg.MaxEarlyBytes = bound
		cfg.GossipInterval = time.Second // a 25 s hold: nothing expires during the test
	}})
	a := c.Node(0)
	_, err := swarm.NewCounter(a, "c")
	require.NoError(t, err)
	const sent = 400 // about 80 KiB held if nothing were dropped, five times the bound
	for i := range sent {
		origin := crdt.Replica{Node: fmt.Sprintf("made-up-%03d", i), Incarnation: 1}
		forge(t, a, codec.Envelope{Kind: codec.KindDelta, Name: "c", Type: "*crdt.PNCounter", Origin: origin,
			Payload: marshal(t, pnState(crdt.Slot{Replica: origin, N: 1}))})
		if s := a.Stats(); s.EarlyBytes > bound {
			t.Fatalf("%d bytes held after %d deltas, bound %d", s.EarlyBytes, i+1, bound)
		}
	}
	// UDP on loopback may lose some of the packets; what arrived is held
	// or counted as dropped.
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		s := a.Stats()
		if s.EarlyBytes > bound {
			t.Fatalf("%d bytes held, bound %d", s.EarlyBytes, bound)
		}
		if s.Drops["early_bytes"] < sent/2 || s.EarlyBytes < bound/2 {
			return fmt.Errorf("%d deltas (%d bytes) held, %d dropped: want the store full and most dropped", s.EarlyDeltas, s.EarlyBytes, s.Drops["early_bytes"])
		}
		return nil
	})
}

// A member that restarts quickly is announced again while its previous
// run's last deltas (Leave's final flush, relayed) may still be on their
// way: those are merged for 25 gossip intervals after the new run's
// announcement (5 s here), and refused after that as origin_superseded.
// Here the previous run's delta is forged, so the grace is the only way
// its count can arrive (anti-entropy is off).
func TestPreviousRunsDeltaIsTakenForAWhileAfterARestart(t *testing.T) {
	const grace = 5 * time.Second
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: func(_ int, cfg *swarm.Config) {
		cfg.PushPullInterval = 0
		cfg.GossipInterval = grace / 25
	}})
	a := c.Node(0)
	ctr, err := swarm.NewCounter(a, "c")
	require.NoError(t, err)
	prev := c.Node(1).Replica()
	_, port := splitPort(t, c.Node(1).Addr())
	require.NoError(t, c.Node(1).Close())
	cfg := c.Config("node-1", 1)
	cfg.BindPort = port // memberlist takes a name back only at its address
	again, err := c.AddConfig(cfg)
	require.NoError(t, err)
	_, err = again.Join(context.Background(), a.Addr())
	require.NoError(t, err)
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if m, ok := a.Member("node-1"); !ok || m.Replica != again.Replica() {
			return fmt.Errorf("node-1 is %+v here, want its new run %s", m, again.Replica())
		}
		return nil
	})
	announced := time.Now()

	send := func(n uint64) {
		forge(t, a, codec.Envelope{Kind: codec.KindDelta, Name: "c", Type: "*crdt.PNCounter", Origin: prev,
			Payload: marshal(t, pnState(crdt.Slot{Replica: prev, N: n}))})
	}
	send(3)
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if v, err := ctr.Value(); err != nil || v != 3 {
			return fmt.Errorf("counter reads %d (%v), want the previous run's 3 (refused: %v)", v, err, a.Stats().Rejected)
		}
		return nil
	})
	time.Sleep(time.Until(announced.Add(grace + time.Second))) // past the grace
	send(4)
	waitRejected(t, a, "origin_superseded", 1)
	v, err := ctr.Value()
	require.NoError(t, err)
	require.EqualValues(t, 3, v)
}
