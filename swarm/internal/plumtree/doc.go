// Package plumtree is the epidemic broadcast tree of Leitão, Pereira and
// Rodrigues ("Epidemic Broadcast Trees", SRDS 2007) as a pure state
// machine: messages and the current time go in, messages to send and
// payloads to deliver come out. It owns no goroutine, no socket and no
// clock, as etcd's raft does not; the caller (package swarm) sends what
// Ready (or AppendReady) returns and calls Tick at the deadline Next
// returns.
//
// # The protocol
//
// Every node splits its neighbours into eager and lazy peers. A new
// broadcast is pushed whole (Gossip) to the eager peers, and announced by
// id (IHave, batched per LazyInterval) to the lazy ones. The first copy a
// node receives makes its sender an eager peer and is forwarded the same
// way; a second copy makes its sender lazy and is answered with Prune. The
// eager links thus shrink to a spanning tree, over which a broadcast costs
// one message per node, while the lazy links keep a redundant graph for
// repair: an id announced but not received within GraftTimeout is asked
// for (Graft) from the node that announced it, which also makes that link
// eager again, so a lost message or a failed tree node heals the tree.
//
// # One tree per origin
//
// The paper's nodes keep one eager/lazy split for every origin. When many
// nodes broadcast at once over links whose delay varies, a copy of one
// origin's broadcast overtakes another's, and the duplicate prunes a link
// that other origins needed: the shared tree falls apart into grafts
// (0.86 duplicates and 0.27 grafts per delivery at 100 nodes, 200
// broadcasts a second, links of 0-20 ms). Here, as in riak_core's
// broadcast, each origin's broadcasts travel a tree of their own: a
// duplicate, a graft or a prune of an origin's broadcast changes that
// origin's tree (Prune carries the origin). The paper's shared split is
// kept too, shaped by every origin as published, and a new origin's tree
// starts as a copy of it rather than flooding every link. Link changes
// without an origin (a linking graft, a Hello, a neighbour down) apply
// to every tree. At most MaxOrigins trees are kept, each until
// OriginRetention after its origin's last broadcast passed. A tree is a
// bitset over the numbered neighbours (a set bit is an eager link), about
// 110 bytes with nothing for the garbage collector to scan: two maps of
// peer names cost 613 bytes, and a relay's step allocated for their sorted
// copies.
//
// The graft timeout adapts: when grafts prove spurious (the tree's
// copy came anyway, only late: a loaded machine, a deep tree), three
// within a second raise it above their lateness, up to MaxGraftTimeout;
// a second without one halves the excess. A fixed 50 ms on slow links
// made a graft storm that loaded the machine further.
//
// Under loss, two things beyond the paper keep the repair within the
// tree. Grafts go to the announcers in turn, and again from the first
// after the last (up to MaxGrafts), so a lost graft or a lost answer is
// asked for again rather than left to anti-entropy. And on a lazy link
// both ends announce every broadcast, so a peer's own announcement of an
// id (or its push or graft of it) acknowledges this node's: a lazy peer
// silent about an id for ReannounceAfter (at least twice the graft
// timeout) is told again (an IHave of Round
// 1, up to MaxReannounces times), and answers with an IHave of the ids it
// has. A node whose push was lost stays silent, so its announcers repeat
// themselves until it grafts; with no loss no announcement is repeated.
// A node whose links are all eager, and whose every push was lost, still
// waits for anti-entropy: pushes are not acknowledged.
//
// Neighbours come from the caller's peer sampling (SetPeers): shoal passes
// a partial view of Fanout random members of memberlist's membership,
// refreshed on membership events (see SampleView).
//
// # Bounds
//
// The received set is kept for Retention, payloads (for Grafts) up to
// MaxCacheBytes, oldest first out; announcements of missing ids up to
// MaxMissing; announcements waiting for their answer up to MaxUnacked.
// Every drop is counted in Stats.
package plumtree
