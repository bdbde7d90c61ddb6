package swarm

import (
	"sync/atomic"

	"github.com/shoal-go/shoal/codec"
)

// Traffic counts messages and bytes of one kind.
type Traffic struct {
	Messages uint64
	Bytes    uint64
}

// Stats is a snapshot of a node's counters; see Node.Stats.
type Stats struct {
	// Members is the number of live members, this node included.
	Members int
	// Sent and Received count shoal's own messages by kind ("delta" for
	// relayed gossip, "direct" for fast-path sends, "state" for
	// anti-entropy, "broadcast" and "classic" for the classic API;
	// "burst_pack" for a burst's packs, sent per part and member and
	// received per pack, and "burst" for the values received in them).
	// Each message is counted when it is handed to memberlist (sent) or
	// decoded (received); memberlist's own probes are not included — see
	// WireBytesSent for everything that left the socket.
	Sent, Received map[string]Traffic
	// WireBytesSent counts every byte this node's transport wrote
	// (shoal's messages, memberlist's probes and headers, encryption).
	WireBytesSent uint64
	// MembershipBytesSent is the part of WireBytesSent that carried
	// memberlist's own messages (probes, acks, membership gossip), read
	// from memberlist's framing of each packet: with Compression or a
	// Keyring, packets cannot be read and count in neither part.
	MembershipBytesSent uint64
	// BroadcastQueue is the number of messages waiting in the gossip
	// queue, BroadcastQueueBytes their size (bounded by
	// Config.MaxBroadcastQueueBytes).
	BroadcastQueue      int
	BroadcastQueueBytes int64
	// Dropped counts messages and events given up to stay within a bound;
	// Drops splits it by reason (for example "pending_full": a value for an
	// unregistered name evicted from the pending store).
	Dropped uint64
	Drops   map[string]uint64
	// DecodeErrors counts received messages that failed to decode or
	// validate (including type mismatches between nodes); Rejected splits
	// it by reason ("decode", "type_mismatch", "invalid_state", ...).
	DecodeErrors uint64
	Rejected     map[string]uint64
	// TransportErrors counts errors memberlist reported (malformed or
	// undecryptable packets, failed streams, wrong labels); not a send on
	// this node's own socket closed by Close or Leave, which is logged at
	// debug level.
	TransportErrors uint64
	// PushPulls counts anti-entropy exchanges; PushPullBytesSent and
	// PushPullBytesReceived their shoal state bytes.
	PushPulls             uint64
	PushPullBytesSent     uint64
	PushPullBytesReceived uint64
	// StateOverflows counts anti-entropy states cut at MaxStateBytes.
	StateOverflows uint64
	// DiscoveryErrors counts failed re-discovery rounds.
	DiscoveryErrors uint64
	// TombstonesExpired counts LWW map tombstones the node dropped after
	// their TombstoneTTL, and entries past their TTL (Map.SetTTL) it
	// turned into tombstones.
	TombstonesExpired uint64
	// PendingValues is the number of values held for unregistered names,
	// and PendingBytes what they cost (bounded by Config.MaxPendingBytes).
	PendingValues int
	PendingBytes  int
	// EarlyDeltas is the number of deltas held because their origin's
	// announcement has not reached this node yet, and EarlyBytes what
	// they cost (bounded by Config.MaxEarlyBytes). EarlyMerged counts
	// those handed to the merge once the announcement came (validation
	// may still refuse one, counted in Rejected); those never claimed
	// are refused after the hold, as Rejected["origin_not_member"].
	EarlyDeltas int
	EarlyBytes  int
	EarlyMerged uint64
	// Retirement counts replica retirement and the member table's
	// forgetting.
	Retirement RetireStats
	// Snapshots counts snapshots written (Config.StateDir or Store),
	// SnapshotErrors the writes that failed, SnapshotBytes the size of
	// the last one.
	Snapshots, SnapshotErrors, SnapshotBytes uint64
	// Tree describes the broadcast tree (zero when Config.TreeFanout is 0).
	Tree TreeStats
	// DigestExchanges counts peers' anti-entropy summaries compared;
	// QuietExchanges those that found every value equal.
	DigestExchanges, QuietExchanges uint64
}

// TreeStats counts what the broadcast tree did (see "Dissemination" in
// docs/DESIGN.md).
type TreeStats struct {
	// Origins is the number of origins whose broadcast trees the node
	// keeps (each origin's broadcasts travel a tree of their own); Eager
	// and Lazy are its tree and repair links, averaged over those trees.
	Origins     int
	Eager, Lazy float64
	// Broadcasts made here; Delivered: broadcasts received for the first
	// time; Duplicates: received again (each prunes a link).
	Broadcasts, Delivered, Duplicates uint64
	// Grafts: broadcasts announced but not received in time, asked for;
	// GraftGiveUps: given up to anti-entropy after the announcers failed
	// to answer sixteen grafts; Reannounced: announcements repeated to a
	// peer that did not announce the broadcast back (one of the two was
	// lost); Dropped: announcements, payloads or grafts given up to stay
	// within the tree's bounds.
	Grafts, GraftGiveUps, Reannounced, Dropped uint64
	// Missing is the number of announced broadcasts not received yet.
	Missing int
	// BroadcastBytes sums the payloads of the broadcasts made here (the
	// flushes' deltas, batched); PushBytes, AnnounceBytes and
	// ControlBytes the tree messages sent by packet: payloads pushed or
	// sent in answer to grafts, announcements (IHave), and grafts, prunes
	// and hellos. Announcements to every lazy link are the tree's cost
	// per broadcast beyond the payload (docs/DESIGN.md, "Dissemination").
	BroadcastBytes, PushBytes, AnnounceBytes, ControlBytes uint64
}

const maxKind = 16

var kindNames = [maxKind]string{
	codec.KindDelta:     "delta",
	codec.KindState:     "state",
	codec.KindBroadcast: "broadcast",
	kindDirect:          "direct",
	kindLeave:           "leave",
	kindDigest:          "digest",
	kindDigestDetail:    "digest_detail",
	kindTree:            "tree",
	kindBurst:           "burst",
	kindPack:            "burst_pack",
}

type counters struct {
	sentMsgs, sentBytes [maxKind]atomic.Uint64
	recvMsgs, recvBytes [maxKind]atomic.Uint64
	wireSent            atomic.Uint64
	dropped             atomic.Uint64
	decodeErrors        atomic.Uint64
	transportErrors     atomic.Uint64
	pushPulls           atomic.Uint64
	ppSent, ppRecv      atomic.Uint64
	earlyMerged         atomic.Uint64
	stateOverflows      atomic.Uint64
	discoveryErrors     atomic.Uint64
	tombstonesExpired   atomic.Uint64
	drops, rejects      reasonCounts
	snapshots           atomic.Uint64
	snapshotErrors      atomic.Uint64
	snapshotBytes       atomic.Uint64
}

func (c *counters) sent(k codec.Kind, n int) {
	if int(k) < maxKind {
		c.sentMsgs[k].Add(1)
		c.sentBytes[k].Add(uint64(n))
	}
}

func (c *counters) received(k codec.Kind, n int) {
	if int(k) < maxKind {
		c.recvMsgs[k].Add(1)
		c.recvBytes[k].Add(uint64(n))
	}
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Sent:                  make(map[string]Traffic),
		Received:              make(map[string]Traffic),
		WireBytesSent:         c.wireSent.Load(),
		Dropped:               c.dropped.Load(),
		Drops:                 c.drops.snapshot(),
		DecodeErrors:          c.decodeErrors.Load(),
		Rejected:              c.rejects.snapshot(),
		TransportErrors:       c.transportErrors.Load(),
		PushPulls:             c.pushPulls.Load(),
		PushPullBytesSent:     c.ppSent.Load(),
		PushPullBytesReceived: c.ppRecv.Load(),
		EarlyMerged:           c.earlyMerged.Load(),
		StateOverflows:        c.stateOverflows.Load(),
		DiscoveryErrors:       c.discoveryErrors.Load(),
		TombstonesExpired:     c.tombstonesExpired.Load(),
		Snapshots:             c.snapshots.Load(),
		SnapshotErrors:        c.snapshotErrors.Load(),
		SnapshotBytes:         c.snapshotBytes.Load(),
	}
	for k, name := range kindNames {
		if name == "" {
			continue
		}
		s.Sent[name] = Traffic{c.sentMsgs[k].Load(), c.sentBytes[k].Load()}
		s.Received[name] = Traffic{c.recvMsgs[k].Load(), c.recvBytes[k].Load()}
	}
	return s
}
