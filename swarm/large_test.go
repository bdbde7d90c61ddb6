package swarm_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// A 4 MiB value (the classic DefaultMaxMessageBuffer) does not fit a packet:
// it travels over the reliable stream and reaches every node.
func TestFourMebibyteValueReachesEveryNode(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	var regs []*swarm.Register[[]byte]
	for _, nd := range c.Nodes() {
		r, err := swarm.NewRegister[[]byte](nd, "blob", crdt.LWWOptions{})
		require.NoError(t, err)
		regs = append(regs, r)
	}
	blob := bytes.Repeat([]byte("shoal!"), (4<<20)/6)
	require.NoError(t, regs[0].Set(blob))
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		for i, r := range regs {
			v, ok, err := r.Get()
			if err != nil || !ok || !bytes.Equal(v, blob) {
				return fmt.Errorf("node %d has %d bytes (%v)", i, len(v), err)
			}
		}
		return nil
	})
	require.Zero(t, c.Node(0).Stats().BroadcastQueue, "a large delta never sits in the gossip queue")
}

// A state larger than MaxStateBytes is cut at a value boundary, counted and
// logged; the values that fit still reach a late joiner.
func TestStateOverMaxIsCutAndCounted(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		cfg.MaxStateBytes = 8 << 10
	}})
	for k := 0; k < 20; k++ {
		r, err := swarm.NewRegister[[]byte](c.Node(0), fmt.Sprint("v", k), crdt.LWWOptions{})
		require.NoError(t, err)
		require.NoError(t, r.Set(make([]byte, 1024)))
	}
	late, err := c.Add("late", 1)
	require.NoError(t, err)
	_, err = late.Join(t.Context(), c.Node(0).Addr())
	require.NoError(t, err)
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if c.Node(0).Stats().StateOverflows == 0 {
			return fmt.Errorf("no overflow counted")
		}
		return nil
	})
	require.Greater(t, late.Stats().PendingValues, 0, "what fitted arrived")
}

func TestSubscribeSignalsRemoteChangesAndCoalesces(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	cs := counters(t, c, "c")
	ch, cancel := cs[1].Shared().Subscribe()
	defer cancel()
	for k := 0; k < 100; k++ {
		require.NoError(t, cs[0].Add(1))
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no signal after a peer's change")
	}
	waitCounters(t, cs, 100, 10*time.Second)
	require.LessOrEqual(t, len(ch), 1, "signals coalesce: at most one pending")
}

func TestMembershipEventsAndLeaveIsSeenAsLeft(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	events, cancel := c.Node(0).SubscribeMembers(16)
	defer cancel()
	leaver := c.Node(2)
	want := leaver.Replica()
	require.NoError(t, leaver.Leave())
	require.NoError(t, leaver.Leave(), "Leave is idempotent")
	// A failure would reach node-0 as MemberFailed, so waiting for
	// MemberLeft tells a leave from a timeout without timing it.
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Member.Name != "node-2" || ev.Member.State != swarm.MemberLeft {
				continue
			}
			require.Equal(t, want, ev.Member.Replica, "the event carries the member's replica")
			m, ok := c.Node(1).Member("node-2")
			require.True(t, ok)
			_ = m
			return
		case <-deadline:
			t.Fatal("node-0 never saw node-2 leave")
		}
	}
}
