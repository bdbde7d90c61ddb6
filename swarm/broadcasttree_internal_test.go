package swarm

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm/internal/plumtree"
)

// The messages waiting for the tree's goroutine are bounded in count and
// in payload bytes; past either bound the oldest go, counted.
func TestTreeOutboxIsBounded(t *testing.T) {
	b := &broadcastTree{n: &Node{}}
	payload := make([]byte, 1<<20)
	msgs := make([]plumtree.Message, 40)
	for i := range msgs {
		msgs[i] = plumtree.Message{Kind: plumtree.Gossip, To: "p", Payload: payload}
	}
	b.queueLocked(msgs)
	require.Len(t, b.out, maxTreeOutBytes>>20, "16 MiB of 1 MiB payloads")
	require.Equal(t, maxTreeOutBytes, b.outBytes)
	require.Equal(t, uint64(40-16), b.n.stats.drops.snapshot()[dropTreeOut])

	b = &broadcastTree{n: &Node{}}
	b.queueLocked(make([]plumtree.Message, maxTreeOut+5))
	require.Len(t, b.out, maxTreeOut)
	require.Equal(t, uint64(5), b.n.stats.drops.snapshot()[dropTreeOut])
}
