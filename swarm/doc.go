// Package swarm runs a shoal node: a hashicorp/memberlist member that holds
// named CRDT values (package crdt), updates them locally with no round trip,
// and converges with every other node that holds the same names, by delta
// gossip, direct sends and anti-entropy.
//
// It also keeps the classic API of skipper's swarm package (Options, Start,
// Join, NewSwarm, ShareValue, Values, Broadcast, Leave, NodeInfo, ...), so a
// program written against it switches by changing its import path. Join
// writes its defaults back into the caller's NodeInfo as skipper's did, so
// nodes joined without addresses find each other. Fake swarms (for tests)
// meet through DefaultFakeRegistry unless Options.FakeRegistry isolates
// them. A node holds at most Options.MaxKeys classic keys; keys no live
// node shares expire. The classic Swarm is built on the typed API and the
// internal hooks of hooks.go; NewSwarmOnNode puts one on an existing node.
//
// # Usage
//
//	cfg := swarm.DefaultLANConfig("pod-a")
//	cfg.SecretKeys = [][]byte{key}              // required off loopback
//	n, err := swarm.New(cfg)
//	if err != nil { ... }
//	defer n.Leave()
//	_, err = n.Join(ctx, "10.0.0.2:9990")     // or Config.Discovery
//	hits, err := swarm.NewCounter(n, "hits")
//	hits.Add(1)                               // ~6 ns, no allocation
//	total, err := hits.Value()                // the cluster's sum as known here
//
// Any CRDT type of package crdt (or your own type implementing crdt.Value)
// is shared with Share, which returns a typed handle:
//
//	m, err := swarm.Share(n, "owners", func(r crdt.Replica) *crdt.LWWMap[string, string] {
//		return crdt.NewLWWMap[string, string](r, crdt.LWWOptions{})
//	})
//	m.Update(func(v *crdt.LWWMap[string, string], now time.Time) { v.SetAt(now, "k", "v") })
//
// NewCounter, NewMap, NewRegister and NewWindow are one-line helpers for the
// common cases.
//
// # What converges, and when
//
// Values are state-based CRDTs: every node that has received the same set of
// updates holds the same value, whatever the order, loss or duplication of
// messages. A local update is sent at the next flush (Config.FlushInterval,
// 10 ms): while the cluster has at most Config.DirectSendMaxMembers members
// each node sends its own deltas straight to every member (measured on
// loopback: all of 50 nodes within tens of milliseconds); past that they
// travel an epidemic broadcast tree (Plumtree, Config.TreeFanout) at flush
// speed, one packet per node. They also go through memberlist's gossip
// queue, where a newer delta of the same value replaces the queued one
// (traffic grows with the number of changed values, not updates); with the
// tree off, every receiver relays the change it caused. Anti-entropy (every
// Config.PushPullInterval, and at every join) compares digests of the
// values' states and sends only the values that differ, over the reliable
// stream; it repairs anything lost. A flush is linear in the values it
// carries (each delta is encoded once and packed greedily into packets; a
// flush of more than 16 packets' worth goes to each member as one stream
// message instead, and is neither queued for gossip nor relayed);
// deltas too large for a packet go over memberlist's reliable stream on
// bounded workers, each send cut at Config.TCPTimeout, so a slow member
// never holds up a flush. The gossip queue is bounded by
// Config.MaxBroadcastQueueBytes, and a node alone queues nothing. An update
// is never lost while its node lives long enough to flush it; Leave
// flushes every value last (see Lifecycle).
//
// Replica identity is the node's name plus an incarnation chosen at each
// start: a restarted node counts in a fresh slot, so nothing it counted
// before is lost or counted twice. Slots of replicas that are gone (left,
// failed for Config.RetireAfter, or replaced by a newer incarnation) are
// folded into a live replica's slot and forgotten after
// Config.RetireHorizon, so counters hold about one slot per live replica
// however often nodes restart; the member table forgets members gone for
// RetireAfter.
//
// # Concurrency and cost
//
// A Node and its handles are safe for concurrent use. memberlist's callbacks
// never block: messages are decoded and merged under one short lock per
// value, and subscribers (Shared.Subscribe, Node.SubscribeMembers,
// Swarm.Messages) are signalled without waiting; a full subscriber channel
// loses the signal (counted in Stats.Dropped), never stalls gossip. Reads do
// not go through a goroutine. Measured on a 2-core machine
// (go test -run '^$' -bench . -benchmem -count 5 ./swarm/, medians, idle
// machine): Counter.Add ≈ 6 ns and 0 allocations (12 ns from two cores at
// once); Counter.Value over 10 replicas ≈ 22 ns; the classic ShareValue ≈
// 106 ns (3 allocations) and Values of 3 nodes ≈ 237 ns (2 allocations,
// the result map).
//
// # Memory a peer can fill
//
// Every store a peer can fill is bounded in bytes or by a count with a
// documented default, and what is dropped to stay within it is counted by
// reason in Stats.Drops: values for names not registered here
// (Config.MaxPendingBytes, 16 MiB, and MaxPendingValues), deltas that
// arrive before their origin's announcement (Config.MaxEarlyBytes, 4 MiB,
// held at most 25 gossip intervals), LWW map
// tombstones (expired by the node after the map's TombstoneTTL, one
// bounded step at a time under the value's lock). LWW writes stamped
// beyond the value's clock-skew cap are refused at merge and counted in
// Stats.Rejected ("lww_clock_skew"). docs/DESIGN.md lists every budget.
//
// Registering a name again with another configuration (NewWindow with
// another window, NewMap with other LWWOptions, or ShareConfig in
// general) fails with ErrConfigMismatch naming both.
//
// Node.Values describes at most what it shows (a map's first 200
// entries), so a debug page costs the same at 200 keys as at 200,000.
//
// # Security
//
// Config.SecretKeys turns on memberlist's AES-GCM encryption, and New
// requires it for a node that listens on a non-loopback address unless
// Config.AllowPlaintext opts out explicitly; rotate with
// InstallKey, UseKey, RemoveKey, each step on every node before the next.
// Config.Label keeps clusters that share a network apart.
//
// With or without encryption, everything a peer sends is validated before
// it is merged, against the value's current state: every count at most
// Config.MaxCount, a delta coming from a member's announced replica,
// raising a count by at most Config.MaxCountStep and writing only its
// origin's slots (relays keep the origin), at most
// Config.MaxReplicas replicas per value, classic entries only from live
// members at the incarnation they announce. Each refusal is counted in
// Stats.Rejected by reason ("slot_ceiling", "slot_step", "foreign_slot",
// "origin_not_member", "origin_superseded", "too_many_replicas", "classic_not_member",
// "classic_incarnation", ...)
// and logged at most every 10 s per reason. A node poisoned before these
// checks drops its counts above the ceiling at its next anti-entropy
// exchange (Stats.Drops["poisoned_count"]) and takes the true ones back
// from the peer. See "Validation" in docs/DESIGN.md.
//
// # Configuration, logs and health
//
// Config.RegisterFlags binds every setting to a flag in dskit's style
// (-memberlist.bind-addr, -memberlist.secret-keys, …) and SetFromEnv reads
// the same from SHOAL_* variables; validation errors then name the flag.
// A nil Config.Logger logs to slog.Default(). Node.Health reports
// memberlist's health score and whether the node is ready or degraded,
// for readiness probes and alerts.
//
// # Entry TTLs and Unshare
//
// Map.SetTTL writes an entry that dies at its write's timestamp plus the
// TTL it carries on the wire: every node computes the same instant from
// the entry alone and reads the key as absent from then on by its own
// clock (so nodes agree up to their clock skew); the expiry loop then
// turns it into a tombstone, which keeps older writes out for the map's
// TombstoneTTL. Node.Unshare(name) stops sharing a value on this node and
// frees it: its handles answer ErrUnshared (which wraps ErrClosed), its
// subscribers' channels close, it leaves the outbox, anti-entropy and
// the snapshot. It tells no peer: peers keep their copy until they
// Unshare too, and what they keep sending for the name waits in this
// node's bounded store for unregistered names; a later Share of the name
// starts fresh from that store.
//
// # Lifecycle
//
// Leave sends the node's last updates and announces the departure (peers
// see the node as left within about a second); it returns within about
// Config.LeaveTimeout whatever is queued, counting in Stats.Drops what it
// had no time to send. From the moment Leave starts, every update either
// makes it into its last flush or returns ErrClosed: none is acknowledged
// and then dropped. Close just stops, and never waits on the network beyond
// a bound. Both are idempotent, close every subscription channel, return
// when every goroutine the node started has ended, and every later call on
// the node or its handles returns ErrClosed.
package swarm
