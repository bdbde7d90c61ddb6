package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

// kindDirect marks a delta sent by its origin straight to every member on
// the fast path. Receivers merge it and relay its effect by gossip like any
// delta: a member that lost the direct packet then hears it from the
// others within a few gossip rounds, instead of waiting for anti-entropy
// (measured in the fault lab under 20 % loss: a median of 0.1 s instead of
// the push/pull interval).
const kindDirect codec.Kind = 5

// kindLeave announces that its origin is leaving on purpose. memberlist's
// own leave reaches the event delegate looking exactly like a failure (it
// passes the node with its state field unchanged), so a leaving node tells
// every member first, and they classify the departure as left.
const kindLeave codec.Kind = 6

var (
	// ErrClosed is returned by every call on a Node (and its values) after
	// Leave or Close.
	ErrClosed = errors.New("shoal/swarm: node is closed")
	// ErrJoin is returned by Join when no peer could be reached.
	ErrJoin = errors.New("shoal/swarm: join failed")
	// ErrTypeMismatch is returned when a name is registered, here or on a
	// peer, with a different type than the one asked for.
	ErrTypeMismatch = errors.New("shoal/swarm: type mismatch")
	// ErrStateTooLarge is logged and counted when a node's full state
	// exceeds Config.MaxStateBytes.
	ErrStateTooLarge = errors.New("shoal/swarm: state exceeds MaxStateBytes")
)

// Node is one member of a shoal cluster: a memberlist node that holds named
// CRDT values, gossips their deltas and exchanges full state for
// anti-entropy. Create it with New, register values with Share (or the
// helpers NewCounter, NewMap, NewRegister, NewWindow), connect it with
// Join, and end it with Leave or Close. A Node is safe for concurrent use.
type Node struct {
	cfg   Config
	self  crdt.Replica
	log   *slog.Logger
	codec *codec.Codec
	now   func() time.Time
	ml    *memberlist.Memberlist
	// live holds ml once New has set it: memberlist's goroutines call
	// the delegate (and the queue's NumNodes) from Create on, before New
	// returns, and must not read ml unsynchronised.
	live    atomic.Pointer[memberlist.Memberlist]
	keyring *memberlist.Keyring
	queue   *memberlist.TransmitLimitedQueue
	out     *outbox
	stats   counters
	// logLimit keeps a flood of bad input from flooding the log.
	logLimit rateLimitedLog
	members  *membership
	ae       *antiEntropy
	tree     *broadcastTree // nil when Config.TreeFanout is 0
	retired  retireCounters
	started  time.Time // when New ran, by the node's clock
	maxPkt   int       // largest shoal message that fits one packet
	// local is memberlist's view of this node, copied at New: memberlist's
	// LocalNode must not be called once the node may be leaving.
	local memberlist.Node

	valuesMu sync.RWMutex
	values   map[string]*entry
	pending  *pendingStore
	early    *earlyStore // nil when Config.MaxEarlyBytes is 0

	// store keeps snapshots (Config.StateDir or Config.Store); restored
	// holds the loaded snapshot's states until their names register.
	store      Store
	restoredMu sync.Mutex
	restored   map[string]codec.Envelope

	// handlers and arrival are the adapters' hooks (hooks.go).
	handlersMu sync.RWMutex
	handlers   map[codec.Kind]func(env *codec.Envelope)
	arrival    func(name string) arrival

	dirtyMu sync.Mutex
	dirty   []*entry
	wake    chan struct{}

	// ctx ends when the node stops; background work derives from it.
	ctx    context.Context
	cancel context.CancelFunc

	// streams sends large deltas off the flusher; final carries Leave's
	// request for the last flush to the flusher.
	streams *streamSender
	final   chan finalFlush
	tr      *nodeTransport

	// closing is set when Leave starts: from then on an update either
	// reaches its value before Leave's last flush takes the value's delta,
	// or returns ErrClosed (see flushAll). closed is set when the node
	// stops answering.
	closing  atomic.Bool
	closed   atomic.Bool
	closeMu  sync.Mutex // serialises Leave and Close
	stop     chan struct{}
	wg       sync.WaitGroup
	shutdown bool
}

// New validates cfg, binds memberlist's sockets and starts the node's
// background work. The node is alone until Join.
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Incarnation == 0 {
		cfg.Incarnation = uint64(time.Now().UnixNano())
	}
	lim := codec.DefaultLimits()
	lim.MaxMessageBytes = cfg.MaxMessageBytes
	cd, err := codec.New(lim)
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: codec: %w", err)
	}
	n := &Node{
		cfg:      cfg,
		self:     crdt.Replica{Node: cfg.Name, Incarnation: cfg.Incarnation},
		log:      cfg.Logger,
		codec:    cd,
		now:      cfg.Now,
		values:   make(map[string]*entry),
		restored: make(map[string]codec.Envelope),
		handlers: make(map[codec.Kind]func(*codec.Envelope)),
		wake:     make(chan struct{}, 1),
		final:    make(chan finalFlush),
		stop:     make(chan struct{}),
	}
	n.pending = newPendingStore(cfg.MaxPendingValues, cfg.MaxPendingBytes, n.stats.drop)
	if cfg.MaxEarlyBytes > 0 {
		n.early = newEarlyStore(cfg.MaxEarlyBytes, n.earlyHold(), n.stats.drop)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if n.log == nil {
		n.log = slog.Default()
	}
	n.log = n.log.With("node", cfg.Name)
	if n.now == nil {
		n.now = time.Now
	}
	n.started = n.now()
	n.members = newMembership(n)
	n.ae = newAntiEntropy(n)
	if cfg.TreeFanout > 0 {
		var err error
		if n.tree, err = newBroadcastTree(n); err != nil {
			n.cancel()
			return nil, fmt.Errorf("shoal/swarm: broadcast tree: %w", err)
		}
	}
	switch {
	case cfg.Store != nil:
		n.store = cfg.Store
	case cfg.StateDir != "":
		fsStore, err := NewFileStore(cfg.StateDir)
		if err != nil {
			return nil, fmt.Errorf("%w: StateDir: %w", ErrInvalidConfig, err)
		}
		n.store = fsStore
	}
	if err := n.loadSnapshot(); err != nil {
		n.cancel()
		return nil, err
	}

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = cfg.BindAddr, cfg.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	mc.GossipInterval, mc.GossipNodes = cfg.GossipInterval, cfg.GossipNodes
	mc.RetransmitMult = cfg.RetransmitMult
	mc.PushPullInterval = cfg.PushPullInterval
	mc.ProbeInterval, mc.ProbeTimeout = cfg.ProbeInterval, cfg.ProbeTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	mc.TCPTimeout = cfg.TCPTimeout
	mc.GossipToTheDeadTime = 2 * cfg.ProbeInterval * time.Duration(cfg.SuspicionMult)
	mc.EnableCompression = cfg.Compression
	mc.UDPBufferSize = cfg.UDPBufferSize
	mc.Label = cfg.Label
	mc.Logger = newLogBridge(n.log, &n.stats, n.closing.Load)
	mc.Delegate = (*delegate)(n)
	mc.Events = (*eventDelegate)(n)
	mc.RequireNodeNames = false
	if len(cfg.SecretKeys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.SecretKeys, cfg.SecretKeys[0])
		if err != nil {
			return nil, fmt.Errorf("%w: SecretKeys: %v", ErrInvalidConfig, err)
		}
		mc.Keyring = kr
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
		n.keyring = kr
	}
	tr := cfg.Transport
	if tr == nil {
		nt, err := newNetTransport(cfg.BindAddr, cfg.BindPort, mc.Logger)
		if err != nil {
			return nil, fmt.Errorf("shoal/swarm: listen on %s: %w",
				net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort)), err)
		}
		if cfg.BindPort == 0 {
			mc.BindPort = nt.port()
			if mc.AdvertisePort == 0 {
				mc.AdvertisePort = mc.BindPort
			}
		}
		tr = nt
	} else if mc.AdvertisePort == 0 {
		mc.AdvertisePort = mc.BindPort
	}
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = mc.BindPort
	}
	n.tr = newNodeTransport(tr, &n.stats.wireSent, cfg.TCPTimeout)
	mc.Transport = n.tr

	// A gossip packet carries memberlist's compound header (2 bytes), the
	// per-message overhead (3), the label header and, when encrypted,
	// version, nonce and tag (29). Leave room for all of it.
	n.maxPkt = cfg.UDPBufferSize - 64 - len(cfg.Label)

	n.queue = &memberlist.TransmitLimitedQueue{RetransmitMult: cfg.RetransmitMult, NumNodes: n.numMembers}
	n.out = newOutbox(n.queue, n.self, n.maxPkt, cfg.MaxBroadcastQueueBytes,
		func() bool { return n.numMembers() <= 1 }, cd, &n.stats)
	n.out.maxAge = 2 * time.Duration(cfg.RetransmitMult) * cfg.GossipInterval
	n.streams = newStreamSender(n, 2*cfg.MaxMessageBytes)

	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = tr.Shutdown()
		n.cancel()
		return nil, fmt.Errorf("shoal/swarm: start memberlist: %w", err)
	}
	n.ml = ml
	n.live.Store(ml)
	n.local = *ml.LocalNode()
	n.local.Addr = append(net.IP(nil), n.local.Addr...)
	n.members.setLocal(&n.local)
	n.wg.Add(4)
	go n.flushLoop()
	go n.expireLoop()
	go n.retireLoop()
	go n.ae.run()
	if n.tree != nil {
		n.wg.Add(1)
		go n.tree.run()
	}
	if n.early != nil {
		n.wg.Add(1)
		go n.earlyLoop()
	}
	n.streams.start()
	if cfg.Discovery != nil {
		n.wg.Add(1)
		go n.rediscoverLoop()
	}
	if n.store != nil {
		n.wg.Add(1)
		go n.snapshotLoop()
	}
	return n, nil
}

func (n *Node) numMembers() int {
	ml := n.live.Load()
	if ml == nil {
		return 1
	}
	return ml.NumMembers()
}

// Replica returns this run's replica identity: the node's name and
// incarnation.
func (n *Node) Replica() crdt.Replica { return n.self }

// Closed reports whether Leave or Close has been called.
func (n *Node) Closed() bool { return n.closed.Load() }

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Addr returns the address and port peers use to reach this node.
func (n *Node) Addr() string {
	return net.JoinHostPort(n.local.Addr.String(), strconv.Itoa(int(n.local.Port)))
}

// Join contacts the given peers ("host:port") and joins their cluster. It
// returns how many it reached; it fails with ErrJoin only when none
// answered. Joining exchanges full state with each peer reached, so a late
// joiner holds every value before Join returns.
func (n *Node) Join(ctx context.Context, peers ...string) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	if len(peers) == 0 {
		return 0, fmt.Errorf("%w: no peers given", ErrJoin)
	}
	// Peer by peer, so that ctx is honoured between them; each attempt is
	// bounded by TCPTimeout.
	joined := 0
	var errs []error
	for _, p := range peers {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		k, err := n.ml.Join([]string{p})
		joined += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	if joined == 0 {
		return 0, fmt.Errorf("%w: %v: %w", ErrJoin, peers, errors.Join(errs...))
	}
	return joined, nil
}

// JoinDiscovered asks Config.Discovery for peers now and joins those this
// node is not connected to. It returns how many it joined. It is what New
// leaves to the caller: a node alone in a new cluster finds no one, and
// that is not an error.
func (n *Node) JoinDiscovered(ctx context.Context) (int, error) {
	if n.closed.Load() {
		return 0, ErrClosed
	}
	if n.cfg.Discovery == nil {
		return 0, fmt.Errorf("%w: Config.Discovery is not set", ErrJoin)
	}
	peers, err := n.cfg.Discovery.Peers(ctx)
	if err != nil {
		n.stats.discoveryErrors.Add(1)
		return 0, fmt.Errorf("%w: discovery: %w", ErrJoin, err)
	}
	addrs := n.unknownPeers(peers)
	if len(addrs) == 0 {
		return 0, nil
	}
	return n.Join(ctx, addrs...)
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	s := n.stats.snapshot()
	s.Members = n.numMembers()
	s.MembershipBytesSent = n.tr.membership.Load()
	s.BroadcastQueue = n.queue.NumQueued()
	s.BroadcastQueueBytes = n.out.queuedBytes.Load()
	s.PendingValues, s.PendingBytes = n.pending.usage()
	if n.early != nil {
		s.EarlyDeltas, s.EarlyBytes = n.early.usage()
	}
	s.Retirement = n.retired.snapshot()
	if n.tree != nil {
		s.Tree = n.tree.stats()
	}
	s.DigestExchanges, s.QuietExchanges = n.ae.exchanges.Load(), n.ae.quiet.Load()
	return s
}

// Leave sends this node's last updates, announces the departure so that
// peers see it as left rather than failed, and shuts the node down; it
// returns within about LeaveTimeout, whatever is queued.
//
// From the moment Leave starts, every update (Counter.Add, Shared.Update,
// Map.Set, ...) either makes it into the last flush or returns ErrClosed:
// none is acknowledged and then dropped. LeaveTimeout is shared out: the
// last flush (run by the flusher after any flush in progress) takes,
// encodes and sends deltas for up to half of it, and what it has no time
// for is counted in Stats.Drops["leave_timeout"]; gossip and the stream
// sender then carry this node's own deltas until three quarters; memberlist's
// leave broadcast has the rest, and at least a quarter even when a stage
// before it overran (Leave then takes longer than LeaveTimeout). Leave is
// idempotent; calls after it return ErrClosed.
func (n *Node) Leave() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.shutdown {
		return nil
	}
	start := time.Now()
	lt := n.cfg.LeaveTimeout
	n.closing.Store(true)
	n.handOver(start.Add(lt / 4))
	n.lastFlush(start.Add(lt / 2))
	n.drain(start.Add(lt * 3 / 4))
	if err := n.saveSnapshot(); err != nil {
		n.log.Error("final snapshot failed", "err", err)
	}
	n.announceLeave()
	n.closed.Store(true)
	var errs []error
	// memberlist's broadcast gets what is left, but never less than a
	// quarter of LeaveTimeout: a stage before it that overran its share
	// (the snapshot's write is not bounded by the deadline, and a
	// starved process checks deadlines late) must not leave memberlist
	// too little time for the few gossip rounds its leave message needs.
	spent := time.Since(start)
	budget := max(lt-spent, lt/4)
	if err := n.ml.Leave(budget); err != nil {
		errs = append(errs, fmt.Errorf("shoal/swarm: leave: memberlist's broadcast had %v after the earlier stages took %v (LeaveTimeout %v): %w",
			budget.Round(time.Millisecond), spent.Round(time.Millisecond), lt, err))
	}
	errs = append(errs, n.stopLocked())
	return errors.Join(errs...)
}

// lastFlush has the flusher run Leave's last flush, and waits for it until
// deadline.
func (n *Node) lastFlush(deadline time.Time) {
	f := finalFlush{deadline: deadline, done: make(chan struct{})}
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	select {
	case n.final <- f:
		select {
		case <-f.done:
		case <-timeout.C:
		}
	case <-timeout.C:
	}
}

// drain waits until this node's own deltas have left the gossip queue and
// the stream sender, or until.
func (n *Node) drain(until time.Time) {
	if n.numMembers() <= 1 {
		return
	}
	t := time.NewTicker(n.cfg.GossipInterval / 2)
	defer t.Stop()
	wait := time.NewTimer(time.Until(until))
	defer wait.Stop()
	for n.out.ownPending() > 0 {
		select {
		case <-t.C:
		case <-wait.C:
			return
		}
	}
	select {
	case <-n.streams.drained():
	case <-wait.C:
	}
}

// announceLeave tells every live member, best effort, that this replica is
// leaving on purpose.
func (n *Node) announceLeave() {
	msg, err := n.codec.EncodeEnvelope(&codec.Envelope{Kind: kindLeave, Origin: n.self})
	if err != nil {
		n.log.Error("encode leave", "err", err)
		return
	}
	for _, m := range n.members.peers() {
		if err := n.ml.SendBestEffort(m, msg); err == nil {
			n.stats.sent(kindLeave, len(msg))
		}
	}
}

// Close shuts the node down without announcing it or sending what is
// queued: peers notice it as failed after their failure-detection time.
// Prefer Leave. Close is idempotent and returns when every goroutine the
// node started has ended; it never waits on the network beyond a bound
// (streams in flight are cut; a dial in progress ends within TCPTimeout;
// a probe memberlist has in flight ends by itself within a probe interval:
// memberlist does not wait for it).
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.shutdown {
		return nil
	}
	n.closing.Store(true)
	n.closed.Store(true)
	return n.stopLocked()
}

// stopLocked stops the node. It waits for no network operation: the
// streams this node dialled are closed, so a send in flight returns at
// once (a dial in progress ends within TCPTimeout).
func (n *Node) stopLocked() error {
	n.shutdown = true
	close(n.stop)
	n.cancel()
	err := n.ml.Shutdown()
	n.tr.closeStreams()
	n.wg.Wait()
	n.members.close()
	n.closeSubscriptions()
	if err != nil {
		return fmt.Errorf("shoal/swarm: shutdown: %w", err)
	}
	return nil
}

// closeSubscriptions closes every value's subscriber channels.
func (n *Node) closeSubscriptions() {
	n.valuesMu.RLock()
	defer n.valuesMu.RUnlock()
	for _, e := range n.values {
		e.closeSubs()
	}
}
