package swarm

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A flush of one small delta, the usual flush of a node serving requests,
// allocates a chunk the size of a delta, not of a burst; a flush of
// thousands still packs them into few chunks, and every payload is its
// own delta.
func TestFlushChunksFitTheFlush(t *testing.T) {
	cfg := DefaultLANConfig("a")
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0
	cfg.FlushInterval = time.Hour // the test takes the deltas itself
	n, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	counters := make([]*Counter, 2000)
	for i := range counters {
		counters[i], err = NewCounter(n, fmt.Sprint("c", i))
		require.NoError(t, err)
	}
	lookup := func(name string) *entry {
		n.valuesMu.RLock()
		defer n.valuesMu.RUnlock()
		return n.values[name]
	}

	one := []*entry{lookup("c0")}
	const rounds = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range rounds {
		require.NoError(t, counters[0].Add(1))
		items, _ := n.takeDeltas(one, time.Time{}, false)
		require.Len(t, items, 1)
	}
	runtime.ReadMemStats(&after)
	perFlush := (after.TotalAlloc - before.TotalAlloc) / rounds
	t.Logf("%d bytes allocated per flush of one delta", perFlush)
	require.Less(t, perFlush, uint64(8<<10), "bytes allocated per flush of one delta (a 32 KiB chunk each before)")

	all := make([]*entry, len(counters))
	for i, c := range counters {
		require.NoError(t, c.Add(int64(i)+1))
		all[i] = lookup(fmt.Sprint("c", i))
	}
	items, _ := n.takeDeltas(all, time.Time{}, false)
	require.Equal(t, len(counters), len(items))
	for i, it := range items {
		require.Equal(t, len(it.payload), cap(it.payload), "a payload cannot grow into the next")
		w, err := it.e.a.decode(n.codec, it.payload)
		require.NoError(t, err, "delta %d", i)
		require.Equal(t, it.d, w, "delta %d decodes to itself", i)
	}
}
