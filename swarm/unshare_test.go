package swarm_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
	"github.com/stretchr/testify/require"
)

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Unshare frees the value's memory even while the program still holds a
// handle to it: a 100,000-key map's heap comes back (at least 90 % of
// what it added), and the handle answers ErrUnshared, which is ErrClosed.
func TestUnshareFreesMemory(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{NoJoin: true})
	n := c.Node(0)
	base := heapInUse()
	m, err := swarm.NewMap[string, string](n, "big", crdt.LWWOptions{})
	require.NoError(t, err)
	require.NoError(t, m.Shared().Update(func(mp *crdt.LWWMap[string, string], now time.Time) {
		for i := range 100_000 {
			mp.SetAt(now, fmt.Sprintf("key-%06d", i), fmt.Sprintf("value-%06d", i))
		}
	}))
	l, err := m.Len()
	require.NoError(t, err)
	require.Equal(t, 100_000, l)
	full := heapInUse()
	require.Greater(t, full, base)
	added := full - base

	require.NoError(t, n.Unshare("big"))
	after := heapInUse()
	freed := int64(full) - int64(after)
	t.Logf("map added %d KiB; Unshare gave back %d KiB (%.0f %%)", added>>10, freed>>10, 100*float64(freed)/float64(added))
	require.GreaterOrEqual(t, float64(freed), 0.9*float64(added), "Unshare freed %d of %d bytes", freed, added)

	_, _, err = m.Get("key-000001")
	require.ErrorIs(t, err, swarm.ErrUnshared)
	require.True(t, errors.Is(err, swarm.ErrClosed))
	require.ErrorIs(t, m.Set("k", "v"), swarm.ErrUnshared)
	runtime.KeepAlive(m)
}

// On two real nodes: Unshare closes the value's subscribers, makes its
// handles answer ErrUnshared and removes it from Values; the peer keeps
// its copy, and what it sends for the name afterwards waits in the pending
// store; a later Share of the name starts fresh and takes it from there.
func TestUnshareThenShareAgain(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	a, b := c.Node(0), c.Node(1)
	ma, err := swarm.NewMap[string, int](a, "m", crdt.LWWOptions{})
	require.NoError(t, err)
	mb, err := swarm.NewMap[string, int](b, "m", crdt.LWWOptions{})
	require.NoError(t, err)
	require.NoError(t, mb.Set("from-b", 1))
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		if _, ok, _ := ma.Get("from-b"); !ok {
			return errors.New("a has not seen b's write")
		}
		return nil
	})
	sub, cancel := mb.Shared().Subscribe()
	defer cancel()

	require.NoError(t, b.Unshare("m"))
	require.ErrorIs(t, b.Unshare("m"), swarm.ErrNotShared)
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		select {
		case _, ok := <-sub:
			if !ok {
				return nil
			}
		default:
		}
		return errors.New("subscription not closed")
	})
	_, _, err = mb.Get("from-b")
	require.ErrorIs(t, err, swarm.ErrUnshared)
	for _, v := range b.Values() {
		require.NotEqual(t, "m", v.Name)
	}
	// The peer keeps its copy and keeps writing.
	_, ok, err := ma.Get("from-b")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, ma.Set("from-a", 2))
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		if p := b.Stats().PendingValues; p == 0 {
			return errors.New("nothing pending for m on b")
		}
		return nil
	})

	again, err := swarm.NewMap[string, int](b, "m", crdt.LWWOptions{})
	require.NoError(t, err)
	require.NotSame(t, mb, again)
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		all, err := again.All()
		if err != nil {
			return err
		}
		if all["from-a"] != 2 || all["from-b"] != 1 {
			return fmt.Errorf("b reads %v", all)
		}
		return nil
	})
}

// An unshared name is not written to the snapshot: after a restart it
// starts empty, while a name still shared (with a TTL entry, whose TTL the
// snapshot keeps) is restored.
func TestUnsharedNameNotSnapshotted(t *testing.T) {
	dir := t.TempDir()
	n := durableNode(t, dir, nil)
	kept, err := swarm.NewMap[string, string](n, "kept", crdtLWW)
	require.NoError(t, err)
	dropped, err := swarm.NewMap[string, string](n, "dropped", crdtLWW)
	require.NoError(t, err)
	require.NoError(t, kept.SetTTL("k", "v", time.Hour))
	require.NoError(t, dropped.Set("k", "v"))
	require.NoError(t, n.Unshare("dropped"))
	require.NoError(t, n.Leave())

	n2 := durableNode(t, dir, nil)
	kept2, err := swarm.NewMap[string, string](n2, "kept", crdtLWW)
	require.NoError(t, err)
	v, ok, err := kept2.Get("k")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "v", v)
	var ttl time.Duration
	require.NoError(t, kept2.Shared().Read(func(mp *crdt.LWWMap[string, string]) {
		c := mp.Clone()
		ttl = c.E[0].TTL
	}))
	require.Equal(t, time.Hour, ttl, "the snapshot lost the entry's TTL")
	dropped2, err := swarm.NewMap[string, string](n2, "dropped", crdtLWW)
	require.NoError(t, err)
	l, err := dropped2.Len()
	require.NoError(t, err)
	require.Zero(t, l, "the unshared name came back from the snapshot")
}
