package plumtree

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkLinks checks that every tree, the shared one and each origin's,
// splits exactly the neighbours into eager and lazy, that the numbering
// is consistent, and that no free slot has a bit on in any tree.
func checkLinks(t *testing.T, tr *Tree, step string) {
	t.Helper()
	var nbrs []Peer
	for p, i := range tr.nbrs.index {
		require.Equal(t, p, tr.nbrs.peers[i], "%s: slot %d", step, i)
		nbrs = append(nbrs, p)
	}
	slices.Sort(nbrs)
	sorted := make([]Peer, len(tr.nbrs.sorted))
	for k, i := range tr.nbrs.sorted {
		sorted[k] = tr.nbrs.peers[i]
	}
	require.Equal(t, nbrs, sorted, "%s: the slots in peer order", step)
	origins := []string{""}
	for o := range tr.origins {
		origins = append(origins, o)
	}
	for _, o := range origins {
		eager, lazy := tr.Eager(), tr.Lazy()
		b := tr.eager
		if o != "" {
			eager, lazy, b = tr.EagerFor(o), tr.LazyFor(o), tr.origins[o].eager
		}
		all := append(slices.Clone(eager), lazy...)
		slices.Sort(all)
		require.Equal(t, nbrs, all, "%s: the tree of %q splits the neighbours", step, o)
		for w, word := range b {
			for j := range 64 {
				if word&(1<<j) != 0 {
					i := w*64 + j
					require.Less(t, i, len(tr.nbrs.peers), "%s: tree %q", step, o)
					require.NotEmpty(t, tr.nbrs.peers[i], "%s: tree %q has free slot %d on", step, o, i)
				}
			}
		}
	}
	n, eager, lazy := tr.Links()
	require.Equal(t, n*len(nbrs), eager+lazy, "%s: Links counts every neighbour once per tree", step)
}

func TestASlotUsedAgainStartsFromItsNewLink(t *testing.T) {
	tr := linked(t, "a", "b", "c")
	_, _, _ = tr.Step(at(0), Message{Kind: Prune, From: "c", ID: ID{Origin: "z/1"}})
	require.Equal(t, []Peer{"b"}, tr.EagerFor("z/1"))
	tr.PeerDown("b") // c, lazy in z's tree, is grafted in b's place
	tr.Ready()
	checkLinks(t, tr, "b down")
	assert.Equal(t, []Peer{"c"}, tr.EagerFor("z/1"))
	// d takes b's slot, lazy (a Hello) in every tree, z's included.
	_, _, err := tr.Step(at(1), Message{Kind: Hello, From: "d"})
	require.NoError(t, err)
	checkLinks(t, tr, "d linked")
	assert.Equal(t, []Peer{"d"}, tr.LazyFor("z/1"))
	assert.Equal(t, []Peer{"d"}, tr.Lazy())
	assert.Len(t, tr.nbrs.peers, 2, "b's slot was used again")
}

// TestLinksStayConsistentUnderChurn runs 2,000 random link changes,
// of every kind, over more peers than MaxNeighbours, and checks every
// tree after each.
func TestLinksStayConsistentUnderChurn(t *testing.T) {
	cfg := DefaultConfig("a", "a/1")
	cfg.MaxNeighbours = 70 // past a word of slots
	cfg.MaxOrigins = 8
	tr, err := New(cfg)
	require.NoError(t, err)
	rnd := rand.New(rand.NewPCG(1, 2))
	peer := func() Peer { return Peer(fmt.Sprintf("p%03d", rnd.IntN(100))) }
	origin := func() string { return fmt.Sprintf("o%d/1", rnd.IntN(12)) }
	seq := uint64(0)
	for step := range 2000 {
		now := at(step)
		var what string
		switch rnd.IntN(8) {
		case 0:
			view := make([]Peer, rnd.IntN(8))
			for i := range view {
				view[i] = peer()
			}
			tr.SetView(view)
			what = "view"
		case 1:
			p := peer()
			tr.PeerDown(p)
			what = "down " + string(p)
		case 2:
			p := peer()
			tr.PeerUp(p)
			what = "up " + string(p)
		case 3:
			_, _, _ = tr.Step(now, Message{Kind: Hello, From: peer()})
			what = "hello"
		case 4:
			_, _, _ = tr.Step(now, Message{Kind: Prune, From: peer(), ID: ID{Origin: origin()}})
			what = "prune"
		case 5:
			_, _, _ = tr.Step(now, Message{Kind: Graft, From: peer(), ID: ID{Origin: origin(), Seq: 1}})
			what = "graft"
		case 6:
			seq++
			_, _, _ = tr.Step(now, Message{Kind: Gossip, From: peer(), ID: ID{Origin: origin(), Seq: seq}, Payload: []byte("x")})
			what = "gossip"
		default:
			tr.Broadcast(now, []byte("y"))
			what = "broadcast"
		}
		tr.Tick(now)
		tr.Ready()
		checkLinks(t, tr, fmt.Sprintf("step %d (%s)", step, what))
	}
	assert.Greater(t, len(tr.nbrs.peers), 64, "slots past one word were used")
	assert.Positive(t, tr.Stats().NeighboursDropped, "MaxNeighbours was reached")
}
