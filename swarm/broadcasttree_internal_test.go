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

// Announcements are most of the tree's bytes: one announcement of a
// Kubernetes pod's broadcast stays small however long the pod's name, and
// the origin is the same for one replica and different for its next
// incarnation.
func TestTreeAnnouncementIsSmall(t *testing.T) {
	cfg := DefaultLANConfig("gateway-7d9f8c6b5-x2k4p")
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0
	n, err := New(cfg)
	require.NoError(t, err)
	defer n.Close()
	origin := treeOrigin(n.self)
	require.Len(t, origin, treeOriginLen)
	require.Equal(t, origin, treeOrigin(n.self))
	next := n.self
	next.Incarnation++
	require.NotEqual(t, origin, treeOrigin(next))

	b := &broadcastTree{n: n}
	m := plumtree.Message{Kind: plumtree.IHave, To: "p",
		Announcements: []plumtree.Announcement{{ID: plumtree.ID{Origin: origin, Seq: 1000}, Round: 3}}}
	buf, err := b.encode(&m)
	require.NoError(t, err)
	require.LessOrEqual(t, len(buf), 60, "an announcement of one broadcast (57 bytes; about 100 with the name and incarnation in the origin and the envelope)")
	env, err := n.codec.DecodeEnvelope(buf)
	require.NoError(t, err)
	require.Equal(t, "gateway-7d9f8c6b5-x2k4p", env.Origin.Node, "the receiver's link is named by the sender")
}
