package swarm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
)

// Values whose empty state is the zero value (counters) decode from one
// shared empty state per type, on every node; a value whose empty state
// carries configuration (a map's options) keeps its own.
func TestEmptyStatesWithoutConfigurationAreShared(t *testing.T) {
	var protos []*crdt.PNCounter
	for _, name := range []string{"proto-a", "proto-b"} {
		n, err := New(DefaultLocalConfig(name))
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		for _, v := range []string{"c1", "c2"} {
			c, err := NewCounter(n, v)
			require.NoError(t, err)
			protos = append(protos, c.s.a.proto)
		}
		m1, err := NewMap[string, int](n, "m1", crdt.LWWOptions{MaxSkew: time.Second})
		require.NoError(t, err)
		m2, err := NewMap[string, int](n, "m2", crdt.LWWOptions{MaxSkew: time.Second})
		require.NoError(t, err)
		require.NotSame(t, m1.s.a.proto, m2.s.a.proto, "a map's empty state carries its options: each keeps its own")
	}
	for _, p := range protos[1:] {
		require.Same(t, protos[0], p)
	}
}
