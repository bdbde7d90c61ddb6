package swarm

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/discovery"
)

// Config configures a Node. Start from DefaultLANConfig or
// DefaultLocalConfig and change what you need: New validates every field
// and returns an error naming the first bad one; it never substitutes a
// default for a bad value.
type Config struct {
	// Name is the node's name, unique in the cluster. Required.
	Name string

	// Incarnation tells this run of the node from earlier runs under the
	// same Name: the node's counters and registers live in a slot keyed by
	// (Name, Incarnation), so a restarted node never reuses the slot whose
	// old counts the cluster still holds. 0 means: taken from the wall
	// clock at New (nanoseconds since 1970), unique as long as the clock
	// does not step back between two starts.
	Incarnation uint64

	// BindAddr and BindPort are where memberlist listens, for UDP and TCP
	// on the same port. BindPort 0 picks a free port (see Node.Addr).
	BindAddr string
	BindPort int

	// AdvertiseAddr and AdvertisePort are what peers are told to use; empty
	// and 0 mean the bound address and port.
	AdvertiseAddr string
	AdvertisePort int

	// GossipInterval is how often a node sends queued broadcasts to
	// GossipNodes random peers. Relayed gossip reaches all of N nodes in
	// about GossipInterval·log(N) (measured in docs/BENCHMARKS.md, 50 nodes
	// in one process on 2 cores at 200 ms: p99 893 ms, memberlist's own
	// relay 977 ms; the fast path makes it 19 ms).
	GossipInterval time.Duration
	GossipNodes    int

	// RetransmitMult: each broadcast is sent RetransmitMult·⌈log10(N+1)⌉
	// times by every node that queues it, so a node expects about that many
	// copies and misses all of them with probability ≈ e^−(that number).
	// At 50 nodes, 4 (memberlist's LAN value) leaves 1–2 % of updates
	// missing a node until anti-entropy repairs it (measured: 1 in 100,
	// gossip only; under 20 % loss 1 in 100 waited ~1 min for push/pull);
	// 6 makes that ≈ 0.03 % for 1.5× the gossip bytes (about 1 KB/s per
	// node at 50 nodes); 2 (memberlist's Local preset) leaves 60 %.
	RetransmitMult int

	// PushPullInterval is how often a node exchanges its full state with
	// one random peer (anti-entropy): the bound on how long a lost update
	// can stay missing. 0 disables periodic anti-entropy (joins still
	// exchange state).
	PushPullInterval time.Duration

	// ProbeInterval, ProbeTimeout and SuspicionMult drive failure
	// detection: a dead node is declared after about
	// SuspicionMult·log10(N+1)·ProbeInterval.
	ProbeInterval time.Duration
	ProbeTimeout  time.Duration
	SuspicionMult int

	// TCPTimeout bounds stream operations: push/pull, joins and reliable
	// sends of large values.
	TCPTimeout time.Duration

	// FlushInterval batches local updates: every update within one
	// interval leaves as one delta per value. It is the floor of the
	// convergence time on the fast path.
	FlushInterval time.Duration

	// DirectSendMaxMembers enables the fast path: while the cluster has at
	// most this many members, each node also sends its own deltas straight
	// to every member at each flush (measured on loopback: all of 50 nodes
	// in ≈ 8 ms, against ≈ 600 ms for relayed gossip). 0 disables it.
	DirectSendMaxMembers int

	// TreeFanout enables the broadcast tree (Plumtree) past the fast path:
	// each node links to this many random members (3: each node then has
	// about 2 tree links and 4 repair links whatever the cluster size), and a flush's deltas
	// travel the tree's eager links at once, announced by id on the lazy
	// ones (see "Dissemination" in docs/DESIGN.md). memberlist's gossip of
	// the origin's deltas stays as a safety net. 0 disables the tree:
	// past DirectSendMaxMembers, deltas are relayed by gossip alone.
	TreeFanout int

	// MaxStateBytes caps the full state a node sends in one anti-entropy
	// exchange (memberlist refuses more than 20 MiB). A state larger than
	// this is cut at a value boundary, logged and counted in
	// Stats.StateOverflows.
	MaxStateBytes int

	// MaxPendingValues bounds how many values that arrive for names not yet
	// registered on this node are kept (they are merged at registration).
	// When full, the oldest is dropped and counted in Stats.Drops
	// ("pending_full"). 0 keeps none.
	MaxPendingValues int

	// MaxBroadcastQueueBytes bounds the bytes of the gossip messages
	// queued in memberlist's broadcast queue (one per changed value and
	// origin, each at most a packet). Beyond it the queue is pruned to
	// 90 %, the messages already sent most often first, and each one
	// dropped is counted in Stats.Drops["broadcast_queue_full"]; the fast
	// path and anti-entropy carry what they held. Gossip drains a few KiB
	// per second, so the default, 2 MiB, holds minutes of it. At least
	// UDPBufferSize.
	MaxBroadcastQueueBytes int
	// MaxPendingBytes bounds the memory those values take (payload,
	// strings and bookkeeping), since one value may be as large as
	// MaxMessageBytes: when over, the oldest are dropped, and a value
	// larger than the bound alone is refused, each counted in Stats.Drops
	// ("pending_bytes"). Default 16 MiB (what one anti-entropy exchange
	// carries at most by default); Stats.PendingBytes shows the use.
	MaxPendingBytes int

	// MaxEarlyBytes bounds the deltas held because their origin is not
	// announced to this node yet: a member that just started sends its
	// first deltas directly while memberlist's gossip of its arrival is
	// still spreading. They are merged when the announcement arrives, or
	// refused (Stats.Rejected["origin_not_member"]) if it has not within
	// 25 GossipIntervals (5 s by default). When over the bound the oldest
	// are dropped, each counted in Stats.Drops["early_bytes"]; anti-entropy
	// carries what they held. Default 4 MiB (about 20,000 small deltas);
	// Stats.EarlyBytes shows the use. 0 holds none: such deltas are
	// refused at once.
	MaxEarlyBytes int

	// MaxMessageBytes bounds every message this node decodes (and so the
	// largest value it can receive).
	MaxMessageBytes int

	// MaxCount is the ceiling of every count a peer may send: a counter
	// slot, a window bucket, an OR-set dot. A message carrying a larger
	// one is rejected (Stats.Rejected "slot_ceiling"), and a local count
	// above it (a node poisoned before the ceiling existed) is dropped at
	// the next anti-entropy exchange and taken back from the peer. Default
	// crdt.DefaultMaxCount, 2^50: 35 years of one replica counting a
	// million a second. MaxCount·MaxReplicas must not exceed 2^63−1, so no
	// sum of valid slots saturates.
	MaxCount uint64

	// MaxCountStep is how much one delta may raise a count this node
	// already holds (Stats.Rejected "slot_step"); full states from
	// anti-entropy are exempt. It slows down a forged delta that would
	// push a real replica's slot to the ceiling. Default
	// crdt.DefaultMaxStep, 2^32: an hour of 1.2 million events a second.
	MaxCountStep uint64

	// MaxReplicas bounds the replicas (slots) of one value: a message that
	// would take a value past it is rejected (Stats.Rejected
	// "too_many_replicas"). Each replica costs memory and work in every
	// read. Default crdt.DefaultMaxReplicas, 4,096.
	MaxReplicas int

	// LeaveTimeout bounds Leave: its last flush may take half of it, the
	// drain of this node's own deltas (gossip and large sends) up to three
	// quarters, and memberlist's leave broadcast the rest, at least a
	// quarter (so Leave runs past LeaveTimeout by as much as a stage
	// before the broadcast overran its share). Values the last
	// flush had no time for are counted in Stats.Drops["leave_timeout"].
	LeaveTimeout time.Duration

	// SecretKeys turns on encryption (AES-GCM); each key is 16, 24 or 32
	// bytes. The first is the primary key, used to encrypt; all are tried
	// to decrypt, which is what lets a cluster rotate keys without
	// downtime (see Node.InstallKey, UseKey, RemoveKey).
	//
	// New requires keys when the node listens on a network (BindAddr not
	// a loopback address, and no custom Transport) unless AllowPlaintext
	// is set: without them anyone who reaches the port can join the
	// cluster, read every value and write to it.
	SecretKeys [][]byte

	// AllowPlaintext lets a node listen on a non-loopback address without
	// SecretKeys, gossiping in clear. Set it only on a network that
	// nothing but the cluster's own members can reach. Ignored when
	// SecretKeys are set.
	AllowPlaintext bool

	// Label is the cluster label: nodes with different labels ignore each
	// other's packets, so two clusters can share a network.
	Label string

	// Compression compresses packets. Off by default: memberlist's
	// compression allocates about 64 KiB per packet and dominates the cost
	// of a send, while shoal's deltas are small.
	Compression bool

	// UDPBufferSize is the largest packet memberlist sends (1400 fits a
	// standard Ethernet MTU). Larger deltas go over the reliable stream.
	UDPBufferSize int

	// Logger receives the node's and memberlist's log lines; nil means
	// slog.Default(). To discard them, pass a logger whose handler is
	// disabled (slog.New(slog.DiscardHandler)).
	Logger *slog.Logger

	// Discovery, if set, is asked for the cluster's peers periodically;
	// peers this node is not connected to are joined, so groups that
	// started apart merge. Node.JoinDiscovered uses it once.
	Discovery discovery.Discoverer
	// RediscoverInterval is the shortest period of re-discovery (jittered
	// ±20 %): what a node alone or in a small group waits between rounds.
	RediscoverInterval time.Duration
	// DiscoveryFleetRate bounds the calls per second that the whole
	// cluster makes to Discovery in steady state: each node waits
	// max(RediscoverInterval, members/DiscoveryFleetRate) between rounds.
	// The default 1 keeps a Kubernetes API server at about one pod list per
	// second whatever the fleet's size (1,000 pods polling every 30 s made
	// 33 lists of ~7 MB per second). Failed rounds back off exponentially
	// (up to 10 minutes) and honour the source's Retry-After.
	DiscoveryFleetRate float64

	// StateDir, if set, makes the node durable across restarts of the
	// whole cluster: every SnapshotInterval, and at Leave, the node writes
	// every value's state to a file there (atomically: temporary file,
	// fsync, rename; with a checksum), and New loads it, validates it as it
	// would a peer's state, and merges each value as its name registers.
	// A torn or corrupt file is logged, counted (Stats.Rejected
	// "snapshot_corrupt") and ignored; one written by a newer build fails
	// New with ErrSnapshotVersion. Store replaces the file with another
	// store; set at most one of them.
	StateDir string
	Store    Store
	// SnapshotInterval is the period of snapshots (default 10 s): what a
	// crash of every node at once can lose.
	SnapshotInterval time.Duration
	// SnapshotMaxAge refuses a snapshot older than this at New (0 means
	// RetireHorizon). Restoring a snapshot is safe exactly as long as a
	// late message is: a replica alive in it that the cluster has since
	// retired is still covered by its retirement record for two
	// RetireHorizons after the retirement, so a snapshot younger than
	// that never counts a slot twice. An older one might, so it is
	// refused (logged, and counted in Stats.Rejected
	// "snapshot_too_old"); see docs/DESIGN.md, "Durable snapshots".
	SnapshotMaxAge time.Duration

	// Transport replaces memberlist's UDP/TCP transport (for example with
	// swarmtest's fault-injecting network). nil uses real sockets on
	// BindAddr:BindPort.
	Transport memberlist.NodeAwareTransport

	// RetireAfter is how long a failed member may stay away before its
	// replica is retired (see docs/DESIGN.md, "Replica retirement"): its
	// counter slots are folded into a live member's and the member table
	// forgets it. A member that left, or a replica replaced by a newer
	// incarnation of the same name, is retired at once. Folding is exact
	// whenever the member comes back, so RetireAfter only trades how long
	// a dead member's slots linger against how often a member that is
	// merely partitioned away gets folded and unfolded. Default 1 hour:
	// longer than a reboot or a network blip, shorter than the time
	// between deploys.
	RetireAfter time.Duration

	// RetireHorizon is how long a retirement stays revocable before it is
	// committed into a live member's slot, and how long it is remembered
	// after that. It is the bound the exactness of retirement rests on: a
	// member (or a message, or a restored snapshot) carrying a retired
	// replica's slot that reappears after the replica's record was
	// committed and forgotten — more than about two horizons after the
	// retirement — counts that slot a second time. Records are kept for
	// about two horizons, so this also sets their memory: one record per
	// replica retired in that time. It must be at least 4
	// PushPullIntervals: a record must reach every member before it is
	// committed or forgotten, and anti-entropy is what makes sure of it.
	// A record commits once unchanged for a horizon; a member that leaves
	// on purpose hands its records over without resetting that time (a
	// folder's re-home of a crashed member's records resets it). A counter
	// holds about (writers retired per hour) × (RetireAfter + 2 horizons)
	// records: a fleet deployed more often than the horizon holds many
	// (docs/DESIGN.md, "Deploys more often than the horizon", and
	// Stats.Retirement). Default 24 hours.
	RetireHorizon time.Duration

	// Now is the clock; nil means time.Now. Tests may inject one.
	Now func() time.Time

	// flagPrefix and flagsSet record RegisterFlags, so that validation
	// errors name the flag.
	flagPrefix string
	flagsSet   bool
}

// DefaultLANConfig returns a configuration for a data-centre network,
// listening on every interface: set SecretKeys (or, on a network only the
// members reach, AllowPlaintext) before New, which refuses it otherwise.
// memberlist's LAN timings, RetransmitMult 6 (memberlist's 4 lets 1–2 % of
// updates miss a node of 50 until anti-entropy), anti-entropy every 30 s,
// and the fast path for clusters of up to 64 members flushed every 10 ms.
func DefaultLANConfig(name string) Config {
	c := Config{
		Name:                 name,
		BindAddr:             "0.0.0.0",
		BindPort:             DefaultPort,
		GossipInterval:       200 * time.Millisecond,
		GossipNodes:          3,
		RetransmitMult:       6,
		PushPullInterval:     30 * time.Second,
		ProbeInterval:        time.Second,
		ProbeTimeout:         500 * time.Millisecond,
		SuspicionMult:        4,
		TCPTimeout:           10 * time.Second,
		FlushInterval:        10 * time.Millisecond,
		DirectSendMaxMembers: 64,
		TreeFanout:           3,
		MaxStateBytes:        16 << 20,
		MaxPendingValues:     1024,
		MaxMessageBytes:      32 << 20,
		MaxCount:             crdt.DefaultMaxCount,
		MaxCountStep:         crdt.DefaultMaxStep,
		MaxReplicas:          crdt.DefaultMaxReplicas,
		LeaveTimeout:         DefaultLeaveTimeout,
		UDPBufferSize:        1400,
		RediscoverInterval:   30 * time.Second,
		DiscoveryFleetRate:   1,
		MaxPendingBytes:      16 << 20,
		MaxEarlyBytes:        4 << 20,
		RetireAfter:          DefaultRetireAfter,
		RetireHorizon:        DefaultRetireHorizon,
		SnapshotInterval:     10 * time.Second,
	}
	c.MaxBroadcastQueueBytes = 2 << 20
	return c
}

// DefaultLocalConfig returns a configuration for nodes on one host
// (loopback): a free port on 127.0.0.1, faster gossip (50 ms), failure
// detection and anti-entropy (5 s). Unlike memberlist's Local preset it
// keeps RetransmitMult 6: with 2, relayed updates miss nodes. Loopback
// needs no SecretKeys: only processes on the host can reach it.
func DefaultLocalConfig(name string) Config {
	c := DefaultLANConfig(name)
	c.BindAddr = "127.0.0.1"
	c.BindPort = 0
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 5 * time.Second
	c.ProbeInterval = 500 * time.Millisecond
	c.ProbeTimeout = 200 * time.Millisecond
	c.SuspicionMult = 3
	c.TCPTimeout = 2 * time.Second
	c.LeaveTimeout = 2 * time.Second
	return c
}

// isLoopback reports whether addr is a loopback IP address.
func isLoopback(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

// ErrInvalidConfig is returned by New when a Config field is invalid; the
// message names the field.
var ErrInvalidConfig = errors.New("shoal/swarm: invalid config")

func (c *Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s%s: %s", ErrInvalidConfig, field, c.flagNote(field), fmt.Sprintf(format, args...))
	}
	if c.Name == "" {
		return bad("Name", "required")
	}
	if c.Transport == nil {
		if net.ParseIP(c.BindAddr) == nil {
			return bad("BindAddr", "%q is not an IP address", c.BindAddr)
		}
		if c.BindPort < 0 || c.BindPort > 65535 {
			return bad("BindPort", "%d is out of range 0-65535", c.BindPort)
		}
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return bad("AdvertiseAddr", "%q is not an IP address", c.AdvertiseAddr)
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return bad("AdvertisePort", "%d is out of range 0-65535", c.AdvertisePort)
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"GossipInterval", c.GossipInterval}, {"ProbeInterval", c.ProbeInterval},
		{"ProbeTimeout", c.ProbeTimeout}, {"TCPTimeout", c.TCPTimeout},
		{"FlushInterval", c.FlushInterval}, {"LeaveTimeout", c.LeaveTimeout},
		{"RetireAfter", c.RetireAfter}, {"RetireHorizon", c.RetireHorizon},
	}
	for _, p := range positive {
		if p.d <= 0 {
			return bad(p.name, "%v must be > 0", p.d)
		}
	}
	if c.PushPullInterval > 0 && c.RetireHorizon < 4*c.PushPullInterval {
		// Retirement is exact when a record reaches every member before
		// it is committed or forgotten; anti-entropy is what guarantees
		// that (see docs/DESIGN.md, "Replica retirement").
		return bad("RetireHorizon", "%v is shorter than 4 PushPullIntervals (%v)", c.RetireHorizon, 4*c.PushPullInterval)
	}
	if c.Discovery != nil && c.RediscoverInterval <= 0 {
		return bad("RediscoverInterval", "%v must be > 0 when Discovery is set", c.RediscoverInterval)
	}
	if c.Discovery != nil && !(c.DiscoveryFleetRate > 0) {
		return bad("DiscoveryFleetRate", "%v must be > 0 when Discovery is set", c.DiscoveryFleetRate)
	}
	if c.PushPullInterval < 0 {
		return bad("PushPullInterval", "%v must be >= 0", c.PushPullInterval)
	}
	if c.ProbeTimeout > c.ProbeInterval {
		return bad("ProbeTimeout", "%v exceeds ProbeInterval %v", c.ProbeTimeout, c.ProbeInterval)
	}
	if c.GossipNodes < 1 {
		return bad("GossipNodes", "%d must be >= 1", c.GossipNodes)
	}
	if c.RetransmitMult < 1 {
		return bad("RetransmitMult", "%d must be >= 1", c.RetransmitMult)
	}
	if c.SuspicionMult < 1 {
		return bad("SuspicionMult", "%d must be >= 1", c.SuspicionMult)
	}
	if c.DirectSendMaxMembers < 0 {
		return bad("DirectSendMaxMembers", "%d must be >= 0", c.DirectSendMaxMembers)
	}
	if c.TreeFanout < 0 || c.TreeFanout > 64 {
		return bad("TreeFanout", "%d is out of range 0-64", c.TreeFanout)
	}
	if c.UDPBufferSize < 512 || c.UDPBufferSize > 65000 {
		return bad("UDPBufferSize", "%d is out of range 512-65000", c.UDPBufferSize)
	}
	if c.MaxStateBytes < 1024 || c.MaxStateBytes > 20<<20 {
		return bad("MaxStateBytes", "%d is out of range 1 KiB-20 MiB (memberlist's push/pull limit)", c.MaxStateBytes)
	}
	if c.MaxMessageBytes < c.UDPBufferSize {
		return bad("MaxMessageBytes", "%d is smaller than UDPBufferSize %d", c.MaxMessageBytes, c.UDPBufferSize)
	}
	if c.MaxCount < 1 {
		return bad("MaxCount", "%d must be >= 1", c.MaxCount)
	}
	if c.MaxCountStep < 1 {
		return bad("MaxCountStep", "%d must be >= 1", c.MaxCountStep)
	}
	if c.MaxReplicas < 1 {
		return bad("MaxReplicas", "%d must be >= 1", c.MaxReplicas)
	}
	if c.MaxCount > math.MaxInt64/uint64(c.MaxReplicas) {
		return bad("MaxCount", "%d times MaxReplicas %d exceeds 2^63-1: a sum of valid slots could saturate", c.MaxCount, c.MaxReplicas)
	}
	if c.MaxBroadcastQueueBytes < c.UDPBufferSize {
		return bad("MaxBroadcastQueueBytes", "%d is smaller than UDPBufferSize %d", c.MaxBroadcastQueueBytes, c.UDPBufferSize)
	}
	if c.MaxPendingValues < 0 {
		return bad("MaxPendingValues", "%d must be >= 0", c.MaxPendingValues)
	}
	if c.MaxPendingBytes < 0 {
		return bad("MaxPendingBytes", "%d must be >= 0", c.MaxPendingBytes)
	}
	if c.MaxEarlyBytes < 0 {
		return bad("MaxEarlyBytes", "%d must be >= 0", c.MaxEarlyBytes)
	}
	for i, k := range c.SecretKeys {
		if err := memberlist.ValidateKey(k); err != nil {
			return bad(fmt.Sprintf("SecretKeys[%d]", i), "%v", err)
		}
	}
	if c.StateDir != "" && c.Store != nil {
		return bad("StateDir", "set StateDir or Store, not both")
	}
	if (c.StateDir != "" || c.Store != nil) && c.SnapshotInterval <= 0 {
		return bad("SnapshotInterval", "%v must be > 0 when StateDir or Store is set", c.SnapshotInterval)
	}
	if c.SnapshotMaxAge < 0 {
		return bad("SnapshotMaxAge", "%v must be >= 0", c.SnapshotMaxAge)
	}
	if len(c.SecretKeys) == 0 && !c.AllowPlaintext && c.Transport == nil && !isLoopback(c.BindAddr) {
		return bad("SecretKeys", "required when listening on %s, a non-loopback address "+
			"(anyone who reaches the port could join the cluster); set SecretKeys, or AllowPlaintext "+
			"to gossip in clear on a network only the members reach", c.BindAddr)
	}
	if len(c.Label) > 255 {
		return bad("Label", "%d bytes is longer than 255", len(c.Label))
	}
	return nil
}
