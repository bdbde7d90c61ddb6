package swarm

import (
	"fmt"
	"slices"
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
	b.out = append(b.out, msgs...)
	b.queueLocked(0)
	require.Len(t, b.out, maxTreeOutBytes>>20, "16 MiB of 1 MiB payloads")
	require.Equal(t, maxTreeOutBytes, b.outBytes)
	require.Equal(t, uint64(40-16), b.n.stats.drops.snapshot()[dropTreeOut])

	b = &broadcastTree{n: &Node{}}
	b.out = make([]plumtree.Message, maxTreeOut+5)
	b.queueLocked(0)
	require.Len(t, b.out, maxTreeOut)
	require.Equal(t, uint64(5), b.n.stats.drops.snapshot()[dropTreeOut])
}

// Announcements are most of the tree's bytes: one announcement of a
// Kubernetes pod's broadcast stays small however long the pod's name, and
// the origin is the same for one replica and different for its next
// incarnation.
func TestTreeAnnouncementIsSmall(t *testing.T) {
	n := newLoopbackNode(t, "gateway-7d9f8c6b5-x2k4p")
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

// A flush announces the same ids to each lazy peer: the batch is encoded
// once and shared, and a batch that differs in any way (an id, a round,
// one more announcement) is encoded anew and decodes to its own.
func TestTreeAnnouncementsEncodedOncePerBatch(t *testing.T) {
	n := newLoopbackNode(t, "a")
	b := &broadcastTree{n: n}
	ann := func(seq uint64, round uint32) plumtree.Announcement {
		return plumtree.Announcement{ID: plumtree.ID{Origin: "o", Seq: seq}, Round: round}
	}
	batch := []plumtree.Announcement{ann(1, 2), ann(2, 2)}
	msg := func(to plumtree.Peer, round uint32, anns ...plumtree.Announcement) *plumtree.Message {
		return &plumtree.Message{Kind: plumtree.IHave, To: to, Round: round, Announcements: anns}
	}
	decode := func(bufs [][]byte) (round uint32, anns []treeAnnouncement) {
		t.Helper()
		for _, buf := range bufs {
			env, err := n.codec.DecodeEnvelope(buf)
			require.NoError(t, err)
			var w treeWire
			require.NoError(t, n.codec.Unmarshal(env.Payload, &w))
			round, anns = w.Round, append(anns, w.Announcements...)
		}
		return round, anns
	}

	var c ihaveCache
	first, err := c.encode(b, msg("p", 0, batch...))
	require.NoError(t, err)
	second, err := c.encode(b, msg("q", 0, slices.Clone(batch)...))
	require.NoError(t, err)
	require.Len(t, second, len(first))
	require.Same(t, &first[0][0], &second[0][0], "the same batch for the next peer is the same packet")

	for _, tc := range []struct {
		name  string
		m     *plumtree.Message
		round uint32
		want  []treeAnnouncement
	}{
		{"another seq", msg("r", 0, ann(1, 2), ann(3, 2)), 0, []treeAnnouncement{{Origin: "o", Seq: 1, Round: 2}, {Origin: "o", Seq: 3, Round: 2}}},
		{"another announcement round", msg("r", 0, ann(1, 2), ann(3, 4)), 0, []treeAnnouncement{{Origin: "o", Seq: 1, Round: 2}, {Origin: "o", Seq: 3, Round: 4}}},
		{"a repeat (message round 1)", msg("r", 1, ann(1, 2), ann(3, 4)), 1, []treeAnnouncement{{Origin: "o", Seq: 1, Round: 2}, {Origin: "o", Seq: 3, Round: 4}}},
		{"one more", msg("r", 1, ann(1, 2), ann(3, 4), ann(5, 4)), 1, []treeAnnouncement{{Origin: "o", Seq: 1, Round: 2}, {Origin: "o", Seq: 3, Round: 4}, {Origin: "o", Seq: 5, Round: 4}}},
	} {
		bufs, err := c.encode(b, tc.m)
		require.NoError(t, err, tc.name)
		round, anns := decode(bufs)
		require.Equal(t, tc.round, round, tc.name)
		require.Equal(t, tc.want, anns, tc.name)
	}
}

// newLoopbackNode starts a node with the LAN defaults on 127.0.0.1, closed
// when the test ends.
func newLoopbackNode(t *testing.T, name string) *Node {
	t.Helper()
	cfg := DefaultLANConfig(name)
	cfg.BindAddr, cfg.BindPort = "127.0.0.1", 0
	n, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

// onEnvelope hands the machine the payload the codec decoded, without a
// copy of its own: that is safe only because the codec copies every byte
// string out of the message. And a pooled treeWire decodes each message
// to exactly its own announcements, none left from the message before.
func TestTreeWirePayloadIsACopy(t *testing.T) {
	n := newLoopbackNode(t, "a")
	b := &broadcastTree{n: n}
	ann := func(k int) []plumtree.Announcement {
		out := make([]plumtree.Announcement, k)
		for i := range out {
			out[i] = plumtree.Announcement{ID: plumtree.ID{Origin: fmt.Sprint("o", i), Seq: uint64(i + 1)}, Round: 2}
		}
		return out
	}
	msgs := []plumtree.Message{
		{Kind: plumtree.IHave, To: "p", Announcements: ann(3)},
		{Kind: plumtree.Gossip, To: "p", ID: plumtree.ID{Origin: "o", Seq: 9}, Payload: []byte("payload")},
		{Kind: plumtree.IHave, To: "p", Announcements: ann(1)},
	}
	for _, m := range msgs {
		buf, err := b.encode(&m)
		require.NoError(t, err)
		env, err := n.codec.DecodeEnvelope(buf)
		require.NoError(t, err)
		w := getTreeWire()
		require.NoError(t, n.codec.Unmarshal(env.Payload, w))
		got := slices.Clone(w.Payload)
		for i := range env.Payload {
			env.Payload[i] ^= 0xff // the message's buffer, reused
		}
		require.Equal(t, got, w.Payload, "the decoded payload does not share the message's bytes")
		require.Equal(t, string(m.Payload), string(w.Payload))
		require.Len(t, w.Announcements, len(m.Announcements))
		for i, a := range m.Announcements {
			require.Equal(t, a.ID.Origin, w.Announcements[i].Origin)
			require.Equal(t, a.ID.Seq, w.Announcements[i].Seq)
		}
		treeWires.Put(w)
	}
}
