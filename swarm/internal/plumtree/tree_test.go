package plumtree

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func newTree(t *testing.T, self Peer) *Tree {
	t.Helper()
	tr, err := New(DefaultConfig(self, string(self)+"/1"))
	require.NoError(t, err)
	return tr
}

// linked returns a tree whose view is peers, with the linking grafts
// already taken from Ready.
func linked(t *testing.T, self Peer, peers ...Peer) *Tree {
	t.Helper()
	tr := newTree(t, self)
	tr.SetView(peers)
	tr.Ready()
	return tr
}

// kinds summarises messages as "kind>to" for compact expectations.
func kinds(ms []Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Kind.String() + ">" + string(m.To)
	}
	return out
}

func TestSetViewLinksNewPeersEagerly(t *testing.T) {
	tr := newTree(t, "a")
	tr.SetView([]Peer{"b", "c", "a", ""})
	assert.Equal(t, []string{"graft>b", "graft>c"}, kinds(tr.Ready()))
	assert.Equal(t, []Peer{"b", "c"}, tr.Eager())
	// Keeping b, dropping c, adding d: only d is linked; c is forgotten.
	tr.SetView([]Peer{"b", "d"})
	assert.Equal(t, []string{"graft>d"}, kinds(tr.Ready()))
	assert.Equal(t, []Peer{"b", "d"}, tr.Eager())
	assert.Empty(t, tr.Lazy())
}

func TestBroadcastPushesToEagerAndAnnouncesToLazy(t *testing.T) {
	tr := linked(t, "a", "b", "c", "d")
	_, _, err := tr.Step(at(0), Message{Kind: Prune, From: "d"})
	require.NoError(t, err)
	id := tr.Broadcast(at(1), []byte("x"))
	assert.Equal(t, ID{Origin: "a/1", Seq: 1}, id)
	out := tr.Ready()
	assert.Equal(t, []string{"gossip>b", "gossip>c"}, kinds(out))
	assert.Equal(t, []byte("x"), out[0].Payload)
	assert.Equal(t, Peer("a"), out[0].From)
	// The announcement to d waits for LazyInterval.
	next, ok := tr.Next()
	require.True(t, ok)
	assert.Equal(t, at(21), next)
	tr.Tick(at(20))
	assert.Empty(t, tr.Ready())
	tr.Tick(at(21))
	out = tr.Ready()
	require.Equal(t, []string{"ihave>d"}, kinds(out))
	assert.Equal(t, []Announcement{{ID: id, Round: 0}}, out[0].Announcements)
	next, ok = tr.Next()
	assert.True(t, ok)
	assert.Equal(t, at(101), next, "waiting for d to announce it back")
	_, _, err = tr.Step(at(30), Message{Kind: IHave, From: "d", Announcements: []Announcement{{ID: id, Round: 3}}})
	require.NoError(t, err)
	assert.Empty(t, tr.Ready())
	next, ok = tr.Next()
	assert.True(t, ok)
	assert.Equal(t, at(20).Add(10*time.Second), next, "only the hello timer is left")
	assert.Equal(t, uint64(2), tr.Broadcast(at(2), nil).Seq)
}

func TestGossipTransitions(t *testing.T) {
	id := ID{Origin: "z/9", Seq: 4}
	cases := []struct {
		name        string
		prepare     func(tr *Tree)
		msg         Message
		deliver     bool
		out         []string
		eager, lazy []Peer
	}{{
		name:    "first copy is delivered and forwarded to the other eager peers",
		msg:     Message{Kind: Gossip, From: "b", ID: id, Round: 2, Payload: []byte("p")},
		deliver: true,
		out:     []string{"gossip>c"},
		eager:   []Peer{"b", "c"},
		lazy:    []Peer{},
	}, {
		name:    "first copy from a stranger makes it eager",
		msg:     Message{Kind: Gossip, From: "x", ID: id, Payload: []byte("p")},
		deliver: true,
		out:     []string{"gossip>b", "gossip>c"},
		eager:   []Peer{"b", "c", "x"},
		lazy:    []Peer{},
	}, {
		name: "second copy is pruned",
		prepare: func(tr *Tree) {
			_, _, _ = tr.Step(at(0), Message{Kind: Gossip, From: "b", ID: id, Payload: []byte("p")})
			tr.Ready()
		},
		msg:   Message{Kind: Gossip, From: "c", ID: id, Payload: []byte("p")},
		out:   []string{"prune>c"},
		eager: []Peer{"b"},
		lazy:  []Peer{"c"},
	}, {
		name:  "own broadcast coming back is a duplicate",
		msg:   Message{Kind: Gossip, From: "c", ID: ID{Origin: "a/1", Seq: 77}},
		out:   []string{"prune>c"},
		eager: []Peer{"b"},
		lazy:  []Peer{"c"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := linked(t, "a", "b", "c")
			tr.tree(at(0), "other/1") // another origin's tree
			if c.prepare != nil {
				c.prepare(tr)
			}
			p, deliver, err := tr.Step(at(1), c.msg)
			require.NoError(t, err)
			assert.Equal(t, c.deliver, deliver)
			if deliver {
				assert.Equal(t, c.msg.Payload, p)
			}
			out := tr.Ready()
			assert.Equal(t, c.out, kinds(out))
			for _, m := range out {
				if m.Kind == Gossip {
					assert.Equal(t, c.msg.Round+1, m.Round, "forwarded one hop further")
				}
			}
			// The links change in the tree of the broadcast's origin
			// only (and in the shared one a new origin's starts from).
			assert.ElementsMatch(t, c.eager, tr.EagerFor(c.msg.ID.Origin))
			assert.ElementsMatch(t, c.lazy, tr.LazyFor(c.msg.ID.Origin))
			assert.Subset(t, tr.EagerFor("other/1"), []Peer{"b", "c"})
			assert.Empty(t, tr.LazyFor("other/1"))
		})
	}
}

func TestForwardedGossipIsAnnouncedToLazyPeersButNotTheSender(t *testing.T) {
	tr := linked(t, "a", "b", "c", "d")
	for _, p := range []Peer{"c", "d"} {
		_, _, _ = tr.Step(at(0), Message{Kind: Prune, From: p})
	}
	id := ID{Origin: "z/1", Seq: 1}
	// From lazy peer c (it grafted itself back by sending): c becomes
	// eager, b gets the push, d the announcement.
	_, ok, err := tr.Step(at(1), Message{Kind: Gossip, From: "c", ID: id, Round: 3})
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, []string{"gossip>b"}, kinds(tr.Ready()))
	tr.Tick(at(100))
	out := tr.Ready()
	require.Equal(t, []string{"ihave>d"}, kinds(out))
	assert.Equal(t, []Announcement{{ID: id, Round: 4}}, out[0].Announcements)
}

func TestIHaveGraftsAfterTimeoutThenTriesTheNextAnnouncer(t *testing.T) {
	tr := linked(t, "a", "b")
	id := ID{Origin: "z/1", Seq: 5}
	for _, p := range []Peer{"c", "d", "c"} {
		_, _, err := tr.Step(at(0), Message{Kind: IHave, From: p, Announcements: []Announcement{{ID: id, Round: 2}}})
		require.NoError(t, err)
	}
	assert.Equal(t, 1, tr.Missing())
	assert.Empty(t, tr.Ready(), "an announcement alone sends nothing")
	next, _ := tr.Next()
	assert.Equal(t, at(50), next)

	tr.Tick(at(49))
	assert.Empty(t, tr.Ready())
	tr.Tick(at(50))
	out := tr.Ready()
	require.Equal(t, []string{"graft>c"}, kinds(out))
	assert.Equal(t, id, out[0].ID)
	assert.Equal(t, uint32(2), out[0].Round)
	assert.Contains(t, tr.Eager(), Peer("c"), "grafting makes the link eager")

	// c does not answer: after GraftRetry, d is grafted; then c again
	// (the graft or its answer may have been lost), and so on in turn,
	// the wait doubling after each round over both (up to MaxGraftRetry,
	// 2 s), until MaxGrafts (16) grafts went unanswered: then the id is
	// given up (anti-entropy repairs it).
	ms, wait := 50, 50
	for i := 1; i < 16; i++ {
		ms += wait
		if i%2 == 0 {
			wait = min(2*wait, 2000) // the turn comes back to c
		}
		tr.Tick(at(ms - 1))
		assert.Empty(t, grafts(tr.Ready()), "graft %d before its time", i+1)
		tr.Tick(at(ms))
		want := []string{"graft>d"}
		if i%2 == 0 {
			want = []string{"graft>c"}
		}
		assert.Equal(t, want, grafts(tr.Ready()), "graft %d at %d ms", i+1, ms)
	}
	assert.Equal(t, 1, tr.Missing())
	assert.Equal(t, 12350, ms, "the 16th graft, 12.3 s after the first")
	tr.Tick(at(ms + wait))
	assert.Empty(t, tr.Ready())
	assert.Equal(t, 0, tr.Missing())
	assert.Equal(t, uint64(1), tr.Stats().GraftGiveUps)
	assert.Equal(t, uint64(16), tr.Stats().GraftsSent)
}

// grafts is kinds without the Hellos, which a long test meets every
// HelloInterval.
func grafts(ms []Message) []string {
	var out []string
	for _, k := range kinds(ms) {
		if !strings.HasPrefix(k, "hello") {
			out = append(out, k)
		}
	}
	return out
}

func TestGraftRetriesReachAnnouncersThatCameLater(t *testing.T) {
	tr := linked(t, "a", "b")
	id := ID{Origin: "z/1", Seq: 5}
	_, _, _ = tr.Step(at(0), Message{Kind: IHave, From: "c", Announcements: []Announcement{{ID: id}}})
	tr.Tick(at(50))
	assert.Equal(t, []string{"graft>c"}, kinds(tr.Ready()))
	// d announces while the graft to c is outstanding: it is next, then
	// c again.
	_, _, _ = tr.Step(at(60), Message{Kind: IHave, From: "d", Announcements: []Announcement{{ID: id}}})
	tr.Tick(at(100))
	assert.Equal(t, []string{"graft>d"}, kinds(tr.Ready()))
	tr.Tick(at(150))
	assert.Equal(t, []string{"graft>c"}, kinds(tr.Ready()))
	// c's answer ends the retries.
	_, ok, _ := tr.Step(at(151), Message{Kind: Gossip, From: "c", ID: id, Payload: []byte("p")})
	require.True(t, ok)
	tr.Ready()
	tr.Tick(at(200))
	assert.Empty(t, tr.Ready())
	assert.Equal(t, uint64(0), tr.Stats().GraftGiveUps)
}

func TestGraftRetriesSkipAnAnnouncerThatWentDown(t *testing.T) {
	tr := linked(t, "a", "b")
	id := ID{Origin: "z/1", Seq: 5}
	for _, p := range []Peer{"c", "d", "e"} {
		_, _, _ = tr.Step(at(0), Message{Kind: IHave, From: p, Announcements: []Announcement{{ID: id}}})
	}
	tr.Tick(at(50))
	assert.Equal(t, []string{"graft>c"}, kinds(tr.Ready()))
	tr.PeerDown("c")
	tr.Ready()
	tr.Tick(at(100))
	assert.Equal(t, []string{"graft>d"}, kinds(tr.Ready()))
	tr.PeerDown("d")
	tr.Ready()
	tr.Tick(at(150))
	assert.Equal(t, []string{"graft>e"}, kinds(tr.Ready()))
	tr.Tick(at(200))
	assert.Equal(t, []string{"graft>e"}, kinds(tr.Ready()))
	tr.PeerDown("e")
	tr.Ready()
	tr.Tick(at(300)) // the turn came back to e at 200: the wait doubled
	assert.Empty(t, tr.Ready(), "no announcer left")
	assert.Equal(t, uint64(1), tr.Stats().GraftGiveUps)
}

func TestGossipCancelsTheGraftTimer(t *testing.T) {
	tr := linked(t, "a", "b")
	id := ID{Origin: "z/1", Seq: 5}
	_, _, _ = tr.Step(at(0), Message{Kind: IHave, From: "c", Announcements: []Announcement{{ID: id}}})
	_, ok, _ := tr.Step(at(10), Message{Kind: Gossip, From: "b", ID: id})
	require.True(t, ok)
	tr.Ready()
	tr.Tick(at(1000))
	assert.Empty(t, tr.Ready())
	assert.Equal(t, 0, tr.Missing())
	next, _ := tr.Next()
	assert.Equal(t, at(11000), next, "no graft timer left, only the hello")
}

func TestIHaveOfKnownIDsIsIgnored(t *testing.T) {
	tr := linked(t, "a", "b")
	id := ID{Origin: "z/1", Seq: 1}
	_, _, _ = tr.Step(at(0), Message{Kind: Gossip, From: "b", ID: id})
	tr.Ready()
	_, _, _ = tr.Step(at(1), Message{Kind: IHave, From: "c", Announcements: []Announcement{{ID: id}, {ID: ID{Origin: "a/1", Seq: 9}}, {}}})
	assert.Equal(t, 0, tr.Missing())
}

func TestGraftTransitions(t *testing.T) {
	id := ID{Origin: "z/1", Seq: 1}
	tr := linked(t, "a", "b")
	_, _, _ = tr.Step(at(0), Message{Kind: Gossip, From: "b", ID: id, Round: 1, Payload: []byte("p")})
	_, _, _ = tr.Step(at(0), Message{Kind: Prune, From: "c"})
	tr.Ready()
	require.Equal(t, []Peer{"c"}, tr.Lazy())
	tr.tree(at(0), "y/1") // another origin's tree

	// A graft for a cached id: the link turns eager and the payload goes.
	_, _, err := tr.Step(at(1), Message{Kind: Graft, From: "c", ID: id})
	require.NoError(t, err)
	out := tr.Ready()
	require.Equal(t, []string{"gossip>c"}, kinds(out))
	assert.Equal(t, []byte("p"), out[0].Payload)
	assert.Equal(t, uint32(2), out[0].Round)
	assert.Equal(t, []Peer{"b", "c"}, tr.EagerFor(id.Origin))
	assert.Equal(t, []Peer{"c"}, tr.LazyFor("y/1"), "in the tree of the id's origin only")

	// A graft for an unknown id only links, and is counted.
	_, _, _ = tr.Step(at(2), Message{Kind: Graft, From: "d", ID: ID{Origin: "q/1", Seq: 3}})
	assert.Empty(t, tr.Ready())
	assert.Contains(t, tr.Eager(), Peer("d"))
	assert.Equal(t, uint64(1), tr.Stats().GraftsMissed)

	// A linking graft (zero id).
	_, _, _ = tr.Step(at(2), Message{Kind: Graft, From: "e"})
	assert.Empty(t, tr.Ready())
	assert.Contains(t, tr.Eager(), Peer("e"))
}

func TestPeerDownForgetsPeerAndItsAnnouncements(t *testing.T) {
	tr := linked(t, "a", "b", "c")
	id := ID{Origin: "z/1", Seq: 1}
	_, _, _ = tr.Step(at(0), Message{Kind: IHave, From: "c", Announcements: []Announcement{{ID: id}}})
	tr.PeerDown("c")
	assert.Equal(t, []Peer{"b"}, tr.Eager())
	assert.Empty(t, tr.Ready(), "no lazy peer to graft in c's place")
	tr.Tick(at(50))
	assert.Empty(t, tr.Ready(), "no graft to a dead peer")
	assert.Equal(t, uint64(1), tr.Stats().GraftGiveUps)
	// The view re-links c if it comes back.
	tr.SetView([]Peer{"b", "c"})
	assert.Equal(t, []string{"graft>c"}, kinds(tr.Ready()))
}

func TestInvalidMessagesAreRejectedWithoutEffect(t *testing.T) {
	tr := linked(t, "a", "b")
	for _, m := range []Message{
		{Kind: Gossip},
		{Kind: Gossip, From: "a", ID: ID{Origin: "z", Seq: 1}},
		{Kind: Gossip, From: "b"},
		{Kind: 99, From: "b"},
	} {
		_, ok, err := tr.Step(at(0), m)
		assert.ErrorIs(t, err, ErrInvalidMessage, "%+v", m)
		assert.False(t, ok)
	}
	assert.Empty(t, tr.Ready())
	assert.Equal(t, []Peer{"b"}, tr.Eager())
}

func TestAnnouncementsAreBatchedAndChunked(t *testing.T) {
	cfg := DefaultConfig("a", "a/1")
	cfg.MaxAnnouncements = 2
	tr, err := New(cfg)
	require.NoError(t, err)
	tr.SetView([]Peer{"b"})
	_, _, _ = tr.Step(at(0), Message{Kind: Prune, From: "b"})
	tr.Ready()
	for i := range 5 {
		tr.Broadcast(at(i), nil)
	}
	assert.Empty(t, tr.Ready())
	tr.Tick(at(20))
	out := tr.Ready()
	require.Equal(t, []string{"ihave>b", "ihave>b", "ihave>b"}, kinds(out))
	assert.Len(t, out[0].Announcements, 2)
	assert.Len(t, out[2].Announcements, 1)
}

func TestBoundsAreEnforcedAndCounted(t *testing.T) {
	cfg := DefaultConfig("a", "a/1")
	cfg.MaxCacheBytes = 10
	cfg.MaxRecords = 3
	cfg.MaxMissing = 2
	cfg.Retention = time.Second
	tr, err := New(cfg)
	require.NoError(t, err)
	for i := range 4 {
		_, ok, err := tr.Step(at(i), Message{Kind: Gossip, From: "b", ID: ID{Origin: "z", Seq: uint64(i + 1)}, Payload: make([]byte, 4)})
		require.NoError(t, err)
		require.True(t, ok)
	}
	assert.LessOrEqual(t, tr.CacheBytes(), 10)
	assert.NotZero(t, tr.Stats().CacheEvictions)
	assert.LessOrEqual(t, len(tr.received.byID), 3)
	// An id past MaxRecords is still known as seen (its origin's floor).
	_, ok, _ := tr.Step(at(5), Message{Kind: Gossip, From: "c", ID: ID{Origin: "z", Seq: 1}})
	assert.False(t, ok, "an expired id is not delivered again")

	_, _, _ = tr.Step(at(5), Message{Kind: IHave, From: "c", Announcements: []Announcement{
		{ID: ID{Origin: "q", Seq: 1}}, {ID: ID{Origin: "q", Seq: 2}}, {ID: ID{Origin: "q", Seq: 3}},
	}})
	assert.Equal(t, 2, tr.Missing())
	assert.Equal(t, uint64(1), tr.Stats().MissingDropped)

	// After Retention, records go; the floor still stops redelivery.
	tr.Tick(at(2000))
	assert.Empty(t, tr.received.byID)
	_, ok, _ = tr.Step(at(2001), Message{Kind: Gossip, From: "c", ID: ID{Origin: "z", Seq: 4}})
	assert.False(t, ok)
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	for _, mut := range []func(*Config){
		func(c *Config) { c.Self = "" },
		func(c *Config) { c.Origin = "" },
		func(c *Config) { c.GraftTimeout = 0 },
		func(c *Config) { c.GraftRetry = 0 },
		func(c *Config) { c.MaxGrafts = 0 },
		func(c *Config) { c.ReannounceAfter = -1 },
		func(c *Config) { c.MaxReannounces = 0 },
		func(c *Config) { c.MaxUnacked = 0 },
		func(c *Config) { c.LazyInterval = 0 },
		func(c *Config) { c.Retention = 0 },
		func(c *Config) { c.MaxCacheBytes = -1 },
		func(c *Config) { c.MaxRecords = 0 },
		func(c *Config) { c.MaxMissing = 0 },
		func(c *Config) { c.MaxAnnouncements = 0 },
		func(c *Config) { c.HelloInterval = 0 },
		func(c *Config) { c.LazyFanout = -1 },
		func(c *Config) { c.MaxGraftTimeout = c.GraftTimeout - 1 },
		func(c *Config) { c.MaxOrigins = 0 },
		func(c *Config) { c.MaxNeighbours = 0 },
		func(c *Config) { c.OriginRetention = 0 },
	} {
		cfg := DefaultConfig("a", "a/1")
		mut(&cfg)
		_, err := New(cfg)
		assert.True(t, errors.Is(err, ErrInvalidConfig), "%+v", cfg)
	}
}

func TestSampleViewKeepsLiveNeighbours(t *testing.T) {
	members := []Peer{"b", "c", "d", "e", "f"}
	first := 0
	intn := func(n int) int { return first % n }
	v := SampleView(nil, members, 3, intn)
	assert.Len(t, v, 3)
	// c left; b and d stay, one new member fills the gap.
	v2 := SampleView([]Peer{"b", "c", "d"}, []Peer{"b", "d", "e", "f"}, 3, intn)
	assert.Equal(t, []Peer{"b", "d", "e"}, v2)
	assert.Len(t, SampleView(nil, []Peer{"b"}, 3, intn), 1)
	assert.Nil(t, SampleView(nil, members, 0, intn))
}

func TestHelloMakesAForgottenNeighbourLazy(t *testing.T) {
	tr := linked(t, "a", "b", "c")
	tr.Tick(at(0)) // starts the hello timer
	assert.Empty(t, tr.Ready())
	next, _ := tr.Next()
	assert.Equal(t, at(10000), next)
	tr.Tick(at(10000))
	assert.Equal(t, []string{"hello>b", "hello>c"}, kinds(tr.Ready()))

	// b had dropped a (declared it failed); a's hello makes a lazy at b,
	// so b announces to it again. A hello from an eager or lazy
	// neighbour changes nothing.
	b := linked(t, "b", "x")
	_, _, err := b.Step(at(1), Message{Kind: Hello, From: "a"})
	require.NoError(t, err)
	assert.Equal(t, []Peer{"a"}, b.Lazy())
	_, _, _ = b.Step(at(1), Message{Kind: Hello, From: "x"})
	assert.Equal(t, []Peer{"x"}, b.Eager())
	b.Broadcast(at(2), nil)
	assert.Equal(t, []string{"gossip>x"}, kinds(b.Ready()))
	b.Tick(at(30))
	assert.Equal(t, []string{"ihave>a"}, kinds(b.Ready()))
}

func TestLazyFanoutAnnouncesToASubsetThatVariesByBroadcast(t *testing.T) {
	cfg := DefaultConfig("a", "a/1")
	cfg.LazyFanout = 2
	tr, err := New(cfg)
	require.NoError(t, err)
	peers := []Peer{"b", "c", "d", "e", "f"}
	tr.SetView(peers)
	for _, p := range peers {
		_, _, _ = tr.Step(at(0), Message{Kind: Prune, From: p})
	}
	tr.Ready()
	told := map[Peer]int{}
	for i := range 20 {
		tr.Broadcast(at(i*100), nil)
		tr.Tick(at(i*100 + 50))
		out := tr.Ready()
		require.Len(t, out, 2, "each broadcast is announced to two lazy peers")
		for _, m := range out {
			told[m.To]++
		}
	}
	assert.Len(t, told, 5, "over many broadcasts every lazy peer hears some")
}

func TestPeerDownOfAnEagerPeerGraftsALazyOne(t *testing.T) {
	tr := linked(t, "a", "b", "c", "d")
	for _, p := range []Peer{"c", "d"} {
		_, _, _ = tr.Step(at(0), Message{Kind: Prune, From: p})
	}
	tr.PeerDown("d") // lazy: nothing to repair
	assert.Empty(t, tr.Ready())
	tr.PeerDown("b") // the only eager peer: c replaces it
	assert.Equal(t, []string{"graft>c"}, kinds(tr.Ready()))
	assert.Equal(t, []Peer{"c"}, tr.Eager())
	assert.Empty(t, tr.Lazy())
}

func TestPeerUpRelinksANeighbourThatCameBack(t *testing.T) {
	tr := linked(t, "a", "b", "c")
	_, _, _ = tr.Step(at(0), Message{Kind: Prune, From: "c"})
	tr.PeerDown("c") // a false failure
	assert.Empty(t, tr.Lazy())
	tr.PeerUp("x") // never a neighbour: nothing
	tr.PeerUp("c")
	assert.Equal(t, []Peer{"c"}, tr.Lazy(), "c is a lazy neighbour again")
	assert.Equal(t, []Peer{"b"}, tr.Eager())
	tr.Broadcast(at(1), nil)
	tr.Tick(at(21))
	assert.Equal(t, []string{"gossip>b", "ihave>c"}, kinds(tr.Ready()))
	// Once taken, the memory of c's failure is gone.
	tr.PeerDown("b")
	tr.Ready()
	tr.PeerUp("b")
	tr.PeerUp("b")
	assert.Equal(t, []Peer{"b"}, tr.Lazy(), "c was grafted in b's place")
	assert.Equal(t, []Peer{"c"}, tr.Eager())
}

func TestNeighboursRememberedAfterFailureAreBounded(t *testing.T) {
	tr := linked(t, "a")
	for i := range maxGone + 5 {
		p := Peer(fmt.Sprintf("p%04d", i))
		_, _, _ = tr.Step(at(0), Message{Kind: Hello, From: p})
		tr.PeerDown(p)
	}
	assert.Len(t, tr.gone, maxGone)
	assert.Equal(t, uint64(5), tr.Stats().GoneDropped)
	tr.PeerUp("p0000") // forgotten: stays out
	assert.Empty(t, tr.Lazy())
	tr.PeerUp(Peer(fmt.Sprintf("p%04d", maxGone+4)))
	assert.Len(t, tr.Lazy(), 1)
}

// AppendReady hands over each step's messages once, into the caller's
// slice: a later step reuses the machine's buffer, never the slice handed
// out, and a caller reusing its own slice allocates nothing for them.
func TestAppendReadyReusesBuffersWithoutAliasing(t *testing.T) {
	tr := linked(t, "a", "b", "c")
	tr.Broadcast(at(1), []byte("x"))
	first := tr.AppendReady(nil)
	require.Equal(t, []string{"gossip>b", "gossip>c"}, kinds(first))
	require.Empty(t, tr.AppendReady(nil), "handed over once")

	tr.Broadcast(at(2), []byte("y"))
	second := tr.AppendReady(nil)
	require.Equal(t, "x", string(first[0].Payload), "a later step does not write into a slice handed out")
	require.Equal(t, "y", string(second[0].Payload))

	buf := make([]Message, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		tr.Broadcast(at(3), nil)
		buf = tr.AppendReady(buf[:0])
	})
	require.Len(t, buf, 2)
	alone := newTree(t, "z") // the same broadcast, with no one to send to
	allocsAlone := testing.AllocsPerRun(100, func() {
		alone.Broadcast(at(3), nil)
		buf = alone.AppendReady(buf[:0])
	})
	require.Empty(t, buf)
	t.Logf("%.1f allocations per broadcast to two peers and hand-over, %.1f with no peer", allocs, allocsAlone)
	// The one more is push's sorted list of eager peers; the messages
	// themselves cost nothing (a buffer made anew each step cost two
	// here: the machine's slice growing to one, then two messages).
	require.LessOrEqual(t, allocs, allocsAlone+1, "the messages cost no allocation")
}
