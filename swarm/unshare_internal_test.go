package swarm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/stretchr/testify/require"
)

func (o *outbox) hasSlot(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k := range o.slots {
		if k.name == name {
			return true
		}
	}
	return false
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Unshare drops the value's gossip accumulation from the outbox, and a
// flush racing it (updates until Unshare refuses them) neither panics nor
// brings the accumulation back: after Unshare, once a later flush has
// sent another value, the outbox holds nothing for the name.
func TestUnshareDropsOutboxAndRacesFlush(t *testing.T) {
	nodes := make([]*Node, 2)
	for i := range nodes {
		n, err := New(DefaultLocalConfig(fmt.Sprintf("unshare-%d", i)))
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		nodes[i] = n
	}
	_, err := nodes[1].Join(context.Background(), nodes[0].Addr())
	require.NoError(t, err)
	a := nodes[0]
	waitCond(t, "2 members", func() bool { return a.numMembers() == 2 })

	m, err := NewMap[string, int](a, "m", crdt.LWWOptions{})
	require.NoError(t, err)
	require.NoError(t, m.Set("k", 1))
	waitCond(t, "an outbox slot for m", func() bool { return a.out.hasSlot("m") })

	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := m.Set(fmt.Sprintf("k-%d", i%100), i); err != nil {
				done <- err
				return
			}
		}
	}()
	require.NoError(t, a.Unshare("m"))
	require.ErrorIs(t, <-done, ErrUnshared)
	require.False(t, a.out.hasSlot("m"), "Unshare left m in the outbox")

	other, err := NewMap[string, int](a, "other", crdt.LWWOptions{})
	require.NoError(t, err)
	require.NoError(t, other.Set("x", 1))
	waitCond(t, "a flush after Unshare", func() bool { return a.out.hasSlot("other") })
	require.False(t, a.out.hasSlot("m"), "a flush brought m back into the outbox")
}

// A flush that took the value from the dirty list before Unshare and
// sends after it skips the value: no panic on the released state, no
// accumulation brought back. The flusher is held off (FlushInterval of an
// hour) and the test plays its part, so the interleaving is exact.
func TestFlushAfterUnshareSkipsTheValue(t *testing.T) {
	nodes := make([]*Node, 2)
	for i := range nodes {
		cfg := DefaultLocalConfig(fmt.Sprintf("late-flush-%d", i))
		cfg.FlushInterval = time.Hour
		n, err := New(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		nodes[i] = n
	}
	_, err := nodes[1].Join(context.Background(), nodes[0].Addr())
	require.NoError(t, err)
	a := nodes[0]
	waitCond(t, "2 members", func() bool { return a.numMembers() == 2 })

	m, err := NewMap[string, int](a, "m", crdt.LWWOptions{})
	require.NoError(t, err)
	require.NoError(t, m.Set("k", 1))
	a.dirtyMu.Lock()
	dirty := a.dirty
	a.dirty = nil
	a.dirtyMu.Unlock()
	require.Len(t, dirty, 1)
	state, err := m.Shared().Snapshot()
	require.NoError(t, err)

	require.NoError(t, a.Unshare("m"))
	a.send(dirty, time.Time{})
	require.False(t, a.out.hasSlot("m"), "a late flush brought m back into the outbox")
	// A peer's delta merged just before Unshare and forwarded after it.
	_, err = a.out.add(a.now(), dirty[0], crdt.Replica{Node: "peer", Incarnation: 1}, state, nil)
	require.NoError(t, err)
	require.False(t, a.out.hasSlot("m"), "a late forward brought m back into the outbox")
}
