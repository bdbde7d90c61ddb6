package swarm

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/discovery"
)

// This file is the classic API: the predecessor's Swarm (skipper's swarm
// package) with the same names, signatures and meaning, built on a Node
// through the typed API and the hooks of hooks.go. A program written
// against it switches by changing its import path.

// ErrUnknownSwarm is returned by NewSwarm when Options name no swarm type
// (none of FakeSwarm, KubernetesOptions, StaticSwarm).
var ErrUnknownSwarm = errors.New("shoal/swarm: unknown swarm type")

// ErrSwarmExists is returned by NewSwarmOnNode for a node that already
// carries a classic Swarm: two would each miss half of the messages.
var ErrSwarmExists = errors.New("shoal/swarm: the node already carries a classic Swarm")

// DefaultDepartedGrace is how long a departed node's shared values stay
// visible in Values after memberlist declares it gone.
const DefaultDepartedGrace = 3 * time.Second

// MemberlistDefaultPort is the port a classic Join binds when the local
// NodeInfo's Port is 0, as the predecessor did (it took memberlist's
// default configuration, whose port is 7946); the port is written back
// into the NodeInfo.
const MemberlistDefaultPort = 7946

// Reasons for Stats.Drops of the classic adapter.
const (
	// dropJoinUnreached: Join or Start was given peers and reached none
	// of them, so the node runs alone until one joins it or re-discovery
	// finds one (the warning is logged too).
	dropJoinUnreached = "classic_join_unreached"
	// dropDiscoveryFailed: Start could not list the peers; the node runs
	// alone until re-discovery succeeds.
	dropDiscoveryFailed = "classic_discovery_failed"
)

// Options configure a classic Swarm. The zero value of every field means
// its documented default; an invalid value is an error from NewSwarm,
// Start or Join, never replaced silently.
type Options struct {
	// MaxMessageBuffer is the largest encoded value ShareValue and
	// Broadcast accept. 0 means DefaultMaxMessageBuffer.
	MaxMessageBuffer int
	// LeaveTimeout bounds Leave. 0 means DefaultLeaveTimeout.
	LeaveTimeout time.Duration
	// SwarmPort is the gossip port (UDP and TCP) of the nodes Start finds
	// in Kubernetes (0 means DefaultPort) and of a FakeSwarm node (0 picks
	// a free port; the predecessor bound 7946, so a second fake node in
	// one process failed).
	SwarmPort uint16
	// KubernetesOptions find the peers in Kubernetes.
	KubernetesOptions *KubernetesOptions
	// StaticSwarm is a fixed list of peers.
	StaticSwarm *StaticSwarm
	// FakeSwarm runs the swarm on 127.0.0.1 for tests in one process.
	// Fake nodes meet through FakeRegistry, or without one through the
	// package's DefaultFakeRegistry, as the predecessor's did: every fake
	// node a process starts without a registry joins every other.
	FakeSwarm bool
	// FakeSwarmLocalNode names the local node of a FakeSwarm.
	FakeSwarmLocalNode string
	// Debug turns on debug logs (to stderr unless Logger is set).
	Debug bool

	// Additions to the predecessor's options.

	// FakeRegistry isolates a test's FakeSwarm nodes from the rest of the
	// process: nodes started with it meet only each other. nil means
	// DefaultFakeRegistry. A fake node adds itself when it starts and
	// removes itself at Leave.
	FakeRegistry *discovery.FakeRegistry
	// DepartedGrace is how long a departed node's values stay in Values.
	// 0 means DefaultDepartedGrace.
	DepartedGrace time.Duration
	// MaxKeys bounds the classic keys this node holds, shared here or
	// arrived from peers (0 means DefaultMaxClassicKeys). A new key beyond
	// it is refused: ShareValue returns ErrTooManyKeys, a peer's value is
	// dropped and counted in Stats.Drops. Keys no live node shares any
	// more are expired (see Values).
	MaxKeys int
	// SecretKeys turn on encryption of the gossip (Config.SecretKeys).
	// Without them the swarm runs in plaintext, as the predecessor did,
	// and logs one warning when it starts.
	SecretKeys [][]byte
	// Label is the cluster label (Config.Label).
	Label string
	// Registry knows the struct types shared with ShareValue and
	// Broadcast (codec.Registry.Register). nil means built-in types only.
	Registry *codec.Registry
	// Logger receives the swarm's logs. nil means slog.Default() (with
	// Debug: debug logs to stderr), so the warnings reach the operator as
	// the predecessor's log lines did.
	Logger *slog.Logger
	// Tune adjusts the typed node's Config before it starts (timings,
	// bind address, transport).
	Tune func(*Config)
}

// KubernetesOptions select the swarm's pods through the Kubernetes API.
type KubernetesOptions struct {
	KubernetesInCluster  bool
	KubernetesAPIBaseURL string
	Namespace            string
	LabelSelectorKey     string
	LabelSelectorValue   string
}

// Message is a value received from a peer's Broadcast.
type Message struct {
	Source string
	Value  interface{}
}

// Swarm is the classic handle: ShareValue and Values per key, Broadcast,
// Leave. It is safe for concurrent use; no call waits on a goroutine.
type Swarm struct {
	node   *Node
	cd     *codec.Codec
	reg    *codec.Registry
	maxBuf int
	grace  time.Duration

	keys classicKeys

	msgMu   sync.Mutex
	msgSubs map[chan *Message]struct{}

	leaveOnce sync.Once
	cleanup   func()
	sweepDone chan struct{}
}

// NewSwarm creates a Swarm of the type the options select: FakeSwarm,
// then KubernetesOptions, then StaticSwarm; none is ErrUnknownSwarm.
func NewSwarm(o *Options) (*Swarm, error) {
	if o == nil || (!o.FakeSwarm && o.KubernetesOptions == nil && o.StaticSwarm == nil) {
		return nil, ErrUnknownSwarm
	}
	return Start(*o)
}

// Start finds the swarm's peers with the source the options select and
// joins them as Join does. Unlike the predecessor, which exited the
// process, a peer list that cannot be fetched is not fatal: the node
// starts alone, logs a warning, counts it in Stats.Drops
// ("classic_discovery_failed") and joins the peers re-discovery finds.
func Start(o Options) (*Swarm, error) {
	nic, cleanup, err := newNodeInfoClient(o)
	if err != nil {
		return nil, err
	}
	self := nic.Self()
	if self == nil {
		cleanup()
		if k, ok := nic.(*kubernetesNodeInfo); ok && k.SelfErr() != nil {
			return nil, fmt.Errorf("shoal/swarm: cannot find this pod: %w", k.SelfErr())
		}
		return nil, fmt.Errorf("shoal/swarm: cannot tell which peer is this node (%T)", nic)
	}
	nodes, listErr := nic.GetNodeInfo()
	fake, _ := nic.(*fakeNodeInfo)
	s, err := join(o, self, nodes, cleanup, joinSource{d: discovererOf(nic), fake: fake})
	if err != nil {
		cleanup()
		return nil, err
	}
	if listErr != nil {
		s.node.countDrop(dropDiscoveryFailed)
		s.node.logger().Warn("cannot list the swarm's peers; running alone until re-discovery finds one", "err", listErr)
	}
	return s, nil
}

// Join starts the local node self and joins the given peers, as the
// predecessor did:
//
//   - Defaults are written back into self: an empty Name becomes the
//     host name, a nil Addr 0.0.0.0 (every interface), a Port 0
//     MemberlistDefaultPort. So a caller that passes the same NodeInfo
//     values to later Joins (the predecessor's own test) has the later
//     nodes reach the earlier ones.
//   - A peer whose Addr is nil is dialled on this host (the address a nil
//     Addr binds), a peer whose Port is 0 on MemberlistDefaultPort.
//   - When peers are given and none answers, Join fails with ErrJoin if
//     self is not among them; if self is (as in every list the predecessor
//     built, which it joined itself), the node runs alone, the warning is
//     logged and counted in Stats.Drops ("classic_join_unreached").
//
// cleanupF runs at Leave.
func Join(o Options, self *NodeInfo, nodes []*NodeInfo, cleanupF func()) (*Swarm, error) {
	return join(o, self, nodes, cleanupF, joinSource{})
}

// joinSource is what Start knows beyond Join's arguments.
type joinSource struct {
	d    discovery.Discoverer // for re-discovery; nil for Join
	fake *fakeNodeInfo        // a FakeSwarm: port 0 is a free port, registered
}

func (o *Options) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case o.MaxMessageBuffer < 0:
		return bad("MaxMessageBuffer", "%d must be >= 0", o.MaxMessageBuffer)
	case o.LeaveTimeout < 0:
		return bad("LeaveTimeout", "%v must be >= 0", o.LeaveTimeout)
	case o.DepartedGrace < 0:
		return bad("DepartedGrace", "%v must be >= 0", o.DepartedGrace)
	case o.MaxKeys < 0:
		return bad("MaxKeys", "%d must be >= 0", o.MaxKeys)
	}
	return nil
}

func join(o Options, self *NodeInfo, nodes []*NodeInfo, cleanupF func(), src joinSource) (*Swarm, error) {
	if self == nil {
		return nil, fmt.Errorf("%w: self NodeInfo is nil", ErrInvalidConfig)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	maxBuf := o.MaxMessageBuffer
	if maxBuf == 0 {
		maxBuf = DefaultMaxMessageBuffer
	}
	// The predecessor's defaults, written back into the caller's NodeInfo.
	if self.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("%w: self has no name and the hostname is unknown: %v", ErrInvalidConfig, err)
		}
		self.Name = host
	}
	if self.Addr == nil {
		self.Addr = net.IPv4zero
	}
	freePort := self.Port == 0 && src.fake != nil
	if self.Port == 0 && !freePort {
		self.Port = MemberlistDefaultPort
	}
	cfg := DefaultLANConfig(self.Name)
	cfg.BindAddr = self.Addr.String()
	cfg.BindPort = int(self.Port)
	if o.LeaveTimeout > 0 {
		cfg.LeaveTimeout = o.LeaveTimeout
	}
	// A value of MaxMessageBuffer bytes must fit a message and a state.
	cfg.MaxMessageBytes = max(cfg.MaxMessageBytes, 2*maxBuf+(1<<16))
	cfg.Logger = o.Logger
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
		if o.Debug {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	cfg.Discovery = src.d
	cfg.Label = o.Label
	plaintext := len(o.SecretKeys) == 0
	if plaintext {
		allowPlaintext(&cfg)
	} else {
		cfg.SecretKeys = o.SecretKeys
	}
	if o.Tune != nil {
		o.Tune(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if plaintext && len(cfg.SecretKeys) == 0 {
		n.logger().Warn("classic swarm gossips in plaintext: anyone who reaches its port can join and send values; set Options.SecretKeys")
	}
	s, err := NewSwarmOnNode(n, o)
	if err != nil {
		_ = n.Close()
		return nil, err
	}
	s.cleanup = cleanupF
	if freePort {
		self.Port = s.Local().Port
	}
	if src.fake != nil {
		if err := src.fake.register(s); err != nil {
			s.cleanup = nil // a failed Join leaves cleanupF to the caller
			s.Leave()
			return nil, err
		}
		s.cleanup = joinCleanups(src.fake.unregister, cleanupF)
	}
	if err := s.joinPeers(self, nodes); err != nil {
		s.cleanup = nil
		if src.fake != nil {
			s.cleanup = src.fake.unregister
		}
		s.Leave()
		return nil, err
	}
	return s, nil
}

func joinCleanups(fs ...func()) func() {
	return func() {
		for _, f := range fs {
			if f != nil {
				f()
			}
		}
	}
}

// joinPeers joins the peers of nodes other than self; see Join for what
// happens when none answers.
func (s *Swarm) joinPeers(self *NodeInfo, nodes []*NodeInfo) error {
	n := s.node
	var addrs []string
	selfListed := false
	for _, p := range nodes {
		if p == nil {
			continue
		}
		if p == self || p.Name == self.Name {
			selfListed = true
			continue
		}
		addrs = append(addrs, peerAddr(p))
	}
	if len(addrs) == 0 {
		if len(nodes) > 0 && !selfListed {
			return fmt.Errorf("%w: no peer to join in %v", ErrJoin, nodes)
		}
		return nil
	}
	ctx, cancel := n.joinContext(len(addrs))
	defer cancel()
	if _, err := n.Join(ctx, addrs...); err != nil {
		if !selfListed {
			return err
		}
		n.countDrop(dropJoinUnreached)
		n.logger().Warn("no peer answered; running alone until one joins", "peers", addrs, "err", err)
	}
	return nil
}

// peerAddr is where a peer is dialled: a nil Addr is this host (what a nil
// Addr binds, 0.0.0.0, means as a destination), a Port 0 the port a Port
// 0 binds.
func peerAddr(p *NodeInfo) string {
	ip := p.Addr
	if ip == nil {
		ip = net.IPv4zero
	}
	port := p.Port
	if port == 0 {
		port = MemberlistDefaultPort
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// allowPlaintext lets the classic API start without SecretKeys on a
// non-loopback address, as its drop-in users expect, where the typed API
// requires the explicit opt-in Config.AllowPlaintext. Join logs the one
// warning.
func allowPlaintext(cfg *Config) {
	cfg.AllowPlaintext = true // the predecessor's default, kept for drop-in users
}

// NewSwarmOnNode returns a classic Swarm on an existing typed node, for a
// program that migrates to the typed API step by step. A node carries at
// most one classic Swarm: a second call fails with ErrSwarmExists. Leave
// on the Swarm leaves the node.
func NewSwarmOnNode(n *Node, o Options) (*Swarm, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &Swarm{
		node:      n,
		cd:        n.wire(),
		reg:       o.Registry,
		maxBuf:    o.MaxMessageBuffer,
		grace:     o.DepartedGrace,
		msgSubs:   make(map[chan *Message]struct{}),
		cleanup:   func() {},
		sweepDone: make(chan struct{}),
	}
	if s.reg == nil {
		s.reg = codec.NewRegistry()
	}
	if s.maxBuf == 0 {
		s.maxBuf = DefaultMaxMessageBuffer
	}
	if s.grace == 0 {
		s.grace = DefaultDepartedGrace
	}
	s.keys.init(o.MaxKeys)
	if err := n.handleKind(codec.KindBroadcast, s.receiveBroadcast); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSwarmExists, err)
	}
	// Every classic key a peer shares is registered on arrival, so it is
	// merged at once instead of waiting in the bounded pending store until
	// this node reads it (10,000 keys would overflow it).
	if err := n.onArrival(s.arrival); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSwarmExists, err)
	}
	go s.sweepLoop()
	return s, nil
}

// Node returns the typed node under the classic API.
func (s *Swarm) Node() *Node { return s.node }

// Local returns the local node's name, and the address and port peers
// reach it at.
func (s *Swarm) Local() *NodeInfo {
	ni := &NodeInfo{Name: s.node.Name()}
	if ap, err := netip.ParseAddrPort(s.node.Addr()); err == nil {
		ni.Addr = net.IP(ap.Addr().Unmap().AsSlice())
		ni.Port = ap.Port()
	}
	return ni
}

// Leave announces the departure, shuts the node down within LeaveTimeout
// and runs the cleanup function given to Join. It is idempotent; after it
// ShareValue and Broadcast return ErrClosed and Values an empty map.
func (s *Swarm) Leave() {
	s.leaveOnce.Do(func() {
		if err := s.node.Leave(); err != nil {
			s.node.logger().Warn("leave", "err", err)
		}
		<-s.sweepDone
		if s.cleanup != nil {
			s.cleanup()
		}
	})
}
