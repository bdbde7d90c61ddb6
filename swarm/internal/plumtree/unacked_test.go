package plumtree

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lazyLinked returns a tree with eager peer b and lazy peers lazy...,
// with no message pending.
func lazyLinked(t *testing.T, cfg Config, lazy ...Peer) *Tree {
	t.Helper()
	tr, err := New(cfg)
	require.NoError(t, err)
	tr.SetView(append([]Peer{"b"}, lazy...))
	for _, p := range lazy {
		_, _, err := tr.Step(at(0), Message{Kind: Prune, From: p})
		require.NoError(t, err)
	}
	tr.Ready()
	return tr
}

func TestSilentLazyPeerIsToldAgainUpToMaxReannounces(t *testing.T) {
	tr := lazyLinked(t, DefaultConfig("a", "a/1"), "c")
	id := tr.Broadcast(at(0), []byte("x"))
	assert.Equal(t, []string{"gossip>b"}, kinds(tr.Ready()))
	tr.Tick(at(20))
	out := tr.Ready()
	require.Equal(t, []string{"ihave>c"}, kinds(out))
	assert.Equal(t, uint32(0), out[0].Round, "a first announcement")

	// c says nothing of id: after ReannounceAfter it is told again, in
	// an IHave of Round 1, at once (the repeat does not wait for a
	// batch), and again every ReannounceAfter, three times in all.
	next, _ := tr.Next()
	assert.Equal(t, at(100), next)
	tr.Tick(at(99))
	assert.Empty(t, tr.Ready())
	for i, ms := range []int{100, 200, 300} {
		tr.Tick(at(ms))
		out = tr.Ready()
		require.Equal(t, []string{"ihave>c"}, kinds(out), "repeat %d", i+1)
		assert.Equal(t, uint32(1), out[0].Round)
		assert.Equal(t, []Announcement{{ID: id, Round: 0}}, out[0].Announcements)
	}
	tr.Tick(at(400))
	assert.Empty(t, tr.Ready())
	assert.Equal(t, uint64(3), tr.Stats().Reannounced)
	next, _ = tr.Next()
	assert.Equal(t, at(10020), next, "only the hello timer is left")
}

func TestAnswersStopTheRepeats(t *testing.T) {
	id := ID{Origin: "a/1", Seq: 1}
	for _, c := range []struct {
		name   string
		answer Message
	}{
		{"its own announcement", Message{Kind: IHave, From: "c", Announcements: []Announcement{{ID: id, Round: 2}}}},
		{"its push", Message{Kind: Gossip, From: "c", ID: id, Round: 2}},
		{"its graft", Message{Kind: Graft, From: "c", ID: id}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := lazyLinked(t, DefaultConfig("a", "a/1"), "c", "d")
			require.Equal(t, id, tr.Broadcast(at(0), []byte("x")))
			tr.Tick(at(20))
			assert.Equal(t, []string{"gossip>b", "ihave>c", "ihave>d"}, kinds(tr.Ready()))
			_, _, err := tr.Step(at(50), c.answer)
			require.NoError(t, err)
			tr.Ready()
			tr.Tick(at(100))
			assert.Equal(t, []string{"ihave>d"}, kinds(tr.Ready()), "only d, silent, is told again")
		})
	}
}

func TestAnnouncersOfAReceivedIDAreNotWaitedFor(t *testing.T) {
	tr := lazyLinked(t, DefaultConfig("a", "a/1"), "c", "d")
	id := ID{Origin: "z/1", Seq: 1}
	// c announced id before b pushed it: c has it. a still tells c (c
	// waits for a's announcement as a waits for c's), but does not wait
	// for c; d is waited for.
	_, _, _ = tr.Step(at(0), Message{Kind: IHave, From: "c", Announcements: []Announcement{{ID: id}}})
	_, ok, _ := tr.Step(at(5), Message{Kind: Gossip, From: "b", ID: id, Payload: []byte("p")})
	require.True(t, ok)
	tr.Tick(at(25))
	assert.Equal(t, []string{"ihave>c", "ihave>d"}, kinds(tr.Ready()))
	tr.Tick(at(105))
	assert.Equal(t, []string{"ihave>d"}, kinds(tr.Ready()))
}

func TestRepeatedAnnouncementIsAnsweredOrGrafted(t *testing.T) {
	tr := linked(t, "c", "x")
	have := ID{Origin: "z/1", Seq: 1}
	miss := ID{Origin: "z/1", Seq: 2}
	_, ok, _ := tr.Step(at(0), Message{Kind: Gossip, From: "x", ID: have, Payload: []byte("p")})
	require.True(t, ok)
	tr.Ready()
	// A first announcement of an id c has is not answered; a repeated
	// one is, at once, with the ids c has; the id c misses is grafted.
	_, _, err := tr.Step(at(1), Message{Kind: IHave, From: "a", Announcements: []Announcement{{ID: have}}})
	require.NoError(t, err)
	assert.Empty(t, tr.Ready())
	_, _, err = tr.Step(at(2), Message{Kind: IHave, From: "a", Round: 1, Announcements: []Announcement{{ID: have}, {ID: miss, Round: 4}}})
	require.NoError(t, err)
	out := tr.Ready()
	require.Equal(t, []string{"ihave>a"}, kinds(out))
	assert.Equal(t, uint32(0), out[0].Round, "an answer is not repeated itself")
	assert.Equal(t, []Announcement{{ID: have}}, out[0].Announcements)
	tr.Tick(at(52))
	out = tr.Ready()
	require.Equal(t, []string{"graft>a"}, kinds(out))
	assert.Equal(t, miss, out[0].ID)
}

func TestRepeatsStopForAPeerGoneOrAPayloadEvicted(t *testing.T) {
	tr := lazyLinked(t, DefaultConfig("a", "a/1"), "c")
	tr.Broadcast(at(0), []byte("x"))
	tr.Tick(at(20))
	tr.Ready()
	tr.PeerDown("c")
	tr.Tick(at(100))
	assert.Empty(t, tr.Ready(), "c is no neighbour")

	// A payload evicted (a graft could not be answered): no repeat.
	cfg := DefaultConfig("a", "a/1")
	cfg.MaxCacheBytes = 1
	tr = lazyLinked(t, cfg, "c")
	tr.Broadcast(at(0), []byte("xx"))
	tr.Tick(at(20))
	assert.Equal(t, []string{"gossip>b", "ihave>c"}, kinds(tr.Ready()))
	tr.Tick(at(100))
	assert.Empty(t, tr.Ready())
	assert.Zero(t, tr.Stats().Reannounced)
}

func TestUnackedBoundIsEnforcedAndCounted(t *testing.T) {
	cfg := DefaultConfig("a", "a/1")
	cfg.MaxUnacked = 1
	tr := lazyLinked(t, cfg, "c", "d")
	tr.Broadcast(at(0), []byte("x"))
	assert.Equal(t, uint64(1), tr.Stats().UnackedDropped)
	tr.Tick(at(20))
	tr.Ready()
	tr.Tick(at(100))
	assert.Equal(t, []string{"ihave>c"}, kinds(tr.Ready()), "only the one watched is repeated")
}

func TestReannounceAfterZeroDisablesRepeats(t *testing.T) {
	cfg := DefaultConfig("a", "a/1")
	cfg.ReannounceAfter = 0
	tr := lazyLinked(t, cfg, "c")
	tr.Broadcast(at(0), []byte("x"))
	tr.Tick(at(20))
	tr.Ready()
	next, _ := tr.Next()
	assert.Equal(t, at(10020), next)
	tr.Tick(at(1000))
	assert.Empty(t, tr.Ready())
}
