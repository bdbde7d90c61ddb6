package swarm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// The early store releases an origin's deltas in arrival order and only
// that origin's, expires the rest after the hold, refuses a delta larger
// than its bound, and gives every byte back.
func TestEarlyStoreReleasesExpiresAndBounds(t *testing.T) {
	var drops int
	s := newEarlyStore(10_000, time.Second, func(reason string) {
		require.Equal(t, dropEarlyBytes, reason)
		drops++
	})
	a, b := crdt.Replica{Node: "a", Incarnation: 1}, crdt.Replica{Node: "b", Incarnation: 1}
	t0 := time.Unix(1000, 0)
	put := func(origin crdt.Replica, name string, at time.Time) {
		t.Helper()
		expired, held := s.put(&codec.Envelope{Kind: codec.KindDelta, Name: name, Origin: origin, Payload: []byte{1, 2, 3}}, true, at)
		require.True(t, held)
		require.Empty(t, expired)
	}
	put(a, "x", t0)
	put(b, "y", t0.Add(100*time.Millisecond))
	put(a, "z", t0.Add(200*time.Millisecond))
	n, bytes := s.usage()
	require.Equal(t, 3, n)

	s.release(crdt.Replica{Node: "a", Incarnation: 2}) // another incarnation: nothing
	require.Empty(t, s.takeReady())
	s.release(a)
	select {
	case <-s.signal:
	default:
		t.Fatal("release did not signal")
	}
	ready := s.takeReady()
	require.Len(t, ready, 2)
	require.Equal(t, "x", ready[0].env.Name)
	require.Equal(t, "z", ready[1].env.Name)
	require.True(t, ready[0].forward)
	n, left := s.usage()
	require.Equal(t, 1, n)
	require.Equal(t, bytes/3, left)

	require.Empty(t, s.expire(t0.Add(time.Second))) // b's arrived 100 ms later
	expired := s.expire(t0.Add(1100 * time.Millisecond))
	require.Len(t, expired, 1)
	require.Equal(t, b, expired[0].env.Origin)
	n, left = s.usage()
	require.Zero(t, n)
	require.Zero(t, left)
	require.Empty(t, s.count)

	_, held := s.put(&codec.Envelope{Kind: codec.KindDelta, Name: "big", Origin: a, Payload: make([]byte, 10_000)}, false, t0)
	require.False(t, held)
	require.Equal(t, 1, drops)
}
