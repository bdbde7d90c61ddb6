package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/discovery"
)

// This file is the classic API: the predecessor's Swarm (skipper's swarm
// package) with the same names, signatures and meaning, built on a Node.
// A program written against it switches by changing its import path.

// ErrUnknownSwarm is returned by NewSwarm when Options name no swarm type
// (none of FakeSwarm, KubernetesOptions, StaticSwarm).
var ErrUnknownSwarm = errors.New("shoal/swarm: unknown swarm type")

// DefaultDepartedGrace is how long a departed node's shared values stay
// visible in Values after memberlist declares it gone.
const DefaultDepartedGrace = 3 * time.Second

// classicPrefix namespaces classic keys among a node's values.
const classicPrefix = "classic/"

// Options configure a classic Swarm. The zero value of every field means
// its documented default; an invalid value is an error from NewSwarm,
// Start or Join, never replaced silently.
type Options struct {
	// MaxMessageBuffer is the largest encoded value ShareValue and
	// Broadcast accept. 0 means DefaultMaxMessageBuffer.
	MaxMessageBuffer int
	// LeaveTimeout bounds Leave. 0 means DefaultLeaveTimeout.
	LeaveTimeout time.Duration
	// SwarmPort is the gossip port (UDP and TCP). 0 means DefaultPort,
	// except for a FakeSwarm, where 0 picks a free port.
	SwarmPort uint16
	// KubernetesOptions find the peers in Kubernetes.
	KubernetesOptions *KubernetesOptions
	// StaticSwarm is a fixed list of peers.
	StaticSwarm *StaticSwarm
	// FakeSwarm runs the swarm on 127.0.0.1 for tests in one process.
	// Nodes find each other through FakeRegistry; without one a fake node
	// runs alone.
	FakeSwarm bool
	// FakeSwarmLocalNode names the local node of a FakeSwarm.
	FakeSwarmLocalNode string
	// Debug turns on debug logs (to stderr unless Logger is set).
	Debug bool

	// Additions to the predecessor's options.

	// FakeRegistry connects FakeSwarm nodes of one test; each test makes
	// its own (discovery.NewFakeRegistry), so parallel tests never meet.
	FakeRegistry *discovery.FakeRegistry
	// DepartedGrace is how long a departed node's values stay in Values.
	// 0 means DefaultDepartedGrace.
	DepartedGrace time.Duration
	// Registry knows the struct types shared with ShareValue and
	// Broadcast (codec.Registry.Register). nil means built-in types only.
	Registry *codec.Registry
	// Logger receives the swarm's logs. nil discards them unless Debug.
	Logger *slog.Logger
	// Tune adjusts the typed node's Config before it starts (timings,
	// encryption keys, cluster label, bind address, transport).
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
	reg    *codec.Registry
	maxBuf int
	grace  time.Duration

	keysMu sync.RWMutex
	keys   map[string]*Shared[*classicValue]

	msgMu   sync.Mutex
	msgSubs map[chan *Message]struct{}

	leaveOnce sync.Once
	cleanup   func()
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
// joins them.
func Start(o Options) (*Swarm, error) {
	nic, cleanup, err := newNodeInfoClient(o)
	if err != nil {
		return nil, err
	}
	self := nic.Self()
	if self == nil {
		cleanup()
		if k, ok := nic.(*kubernetesNodeInfo); ok && k.err != nil {
			return nil, fmt.Errorf("shoal/swarm: cannot find this pod: %w", k.err)
		}
		return nil, fmt.Errorf("shoal/swarm: cannot tell which peer is this node (%T)", nic)
	}
	nodes, err := nic.GetNodeInfo()
	if err != nil {
		// Not fatal: the node starts alone and re-discovery retries.
		nodes = nil
	}
	s, err := join(o, self, nodes, cleanup, discovererOf(nic))
	if err != nil {
		cleanup()
		return nil, err
	}
	return s, nil
}

// Join starts the local node self and joins the given peers (self may be
// among them). cleanupF runs at Leave. A peer list nobody answers from is
// not an error: the node runs alone until a peer joins it.
func Join(o Options, self *NodeInfo, nodes []*NodeInfo, cleanupF func()) (*Swarm, error) {
	return join(o, self, nodes, cleanupF, nil)
}

func join(o Options, self *NodeInfo, nodes []*NodeInfo, cleanupF func(), d discovery.Discoverer) (*Swarm, error) {
	if self == nil {
		return nil, fmt.Errorf("%w: self NodeInfo is nil", ErrInvalidConfig)
	}
	if o.MaxMessageBuffer < 0 {
		return nil, fmt.Errorf("%w: MaxMessageBuffer: %d must be >= 0", ErrInvalidConfig, o.MaxMessageBuffer)
	}
	if o.LeaveTimeout < 0 {
		return nil, fmt.Errorf("%w: LeaveTimeout: %v must be >= 0", ErrInvalidConfig, o.LeaveTimeout)
	}
	if o.DepartedGrace < 0 {
		return nil, fmt.Errorf("%w: DepartedGrace: %v must be >= 0", ErrInvalidConfig, o.DepartedGrace)
	}
	maxBuf := o.MaxMessageBuffer
	if maxBuf == 0 {
		maxBuf = DefaultMaxMessageBuffer
	}
	cfg := DefaultLANConfig(self.Name)
	cfg.AllowPlaintext = true // the predecessor's default, kept for drop-in users
	if cfg.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("%w: self has no name and the hostname is unknown: %v", ErrInvalidConfig, err)
		}
		cfg.Name = host
	}
	switch {
	case self.Addr != nil:
		cfg.BindAddr = self.Addr.String()
	case o.FakeSwarm:
		cfg.BindAddr = "127.0.0.1"
	}
	cfg.BindPort = int(self.Port)
	if cfg.BindPort == 0 && !o.FakeSwarm {
		cfg.BindPort = int(o.SwarmPort)
		if cfg.BindPort == 0 {
			cfg.BindPort = DefaultPort
		}
	}
	if o.LeaveTimeout > 0 {
		cfg.LeaveTimeout = o.LeaveTimeout
	}
	// A value of MaxMessageBuffer bytes must fit a message and a state.
	cfg.MaxMessageBytes = max(cfg.MaxMessageBytes, 2*maxBuf+(1<<16))
	cfg.Logger = o.Logger
	if o.Debug && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	} else if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.Discovery = d
	if o.Tune != nil {
		o.Tune(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s := NewSwarmOnNode(n, o)
	s.cleanup = cleanupF
	var addrs []string
	for _, p := range nodes {
		if p == nil || p.Name == cfg.Name || (p.Addr == nil) {
			continue
		}
		addrs = append(addrs, net.JoinHostPort(p.Addr.String(), fmt.Sprint(p.Port)))
	}
	if len(addrs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.TCPTimeout)
		if _, err := n.Join(ctx, addrs...); err != nil {
			n.log.Warn("no peer answered; running alone until one joins", "peers", addrs, "err", err)
		}
		cancel()
	}
	return s, nil
}

// NewSwarmOnNode returns a classic Swarm on an existing typed node, for a
// program that migrates to the typed API step by step. Leave on the Swarm
// leaves the node.
func NewSwarmOnNode(n *Node, o Options) *Swarm {
	s := &Swarm{
		node:    n,
		reg:     o.Registry,
		maxBuf:  o.MaxMessageBuffer,
		grace:   o.DepartedGrace,
		keys:    make(map[string]*Shared[*classicValue]),
		msgSubs: make(map[chan *Message]struct{}),
		cleanup: func() {},
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
	n.handlersMu.Lock()
	n.handlers[codec.KindBroadcast] = s.receiveBroadcast
	// Every classic key a peer shares is registered on arrival, so it is
	// merged at once instead of waiting in the bounded pending store until
	// this node reads it (10,000 keys would overflow it).
	n.autoRegister = func(name string) bool {
		key, ok := strings.CutPrefix(name, classicPrefix)
		if !ok {
			return false
		}
		_, err := s.key(key)
		return err == nil
	}
	n.handlersMu.Unlock()
	return s
}

// Node returns the typed node under the classic API.
func (s *Swarm) Node() *Node { return s.node }

// Local returns the local node's name, address and port.
func (s *Swarm) Local() *NodeInfo {
	ln := &s.node.local
	return &NodeInfo{Name: ln.Name, Addr: append(net.IP(nil), ln.Addr...), Port: ln.Port}
}

func (s *Swarm) key(key string) (*Shared[*classicValue], error) {
	s.keysMu.RLock()
	h := s.keys[key]
	s.keysMu.RUnlock()
	if h != nil {
		return h, nil
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if h = s.keys[key]; h != nil {
		return h, nil
	}
	n := s.node
	h, err := Share(n, classicPrefix+key, func(self crdt.Replica) *classicValue {
		return newClassicValue(self, n.codec, s.reg, n)
	})
	if err != nil {
		return nil, err
	}
	s.keys[key] = h
	return h, nil
}

// ShareValue makes value this node's value for key, for every node's
// Values(key). Repeated calls within one flush interval leave as one
// delta. value's type must be built in or registered (Options.Registry).
func (s *Swarm) ShareValue(key string, value interface{}) error {
	if s.node.closed.Load() {
		return ErrClosed
	}
	raw, err := s.node.codec.EncodeAny(s.reg, value)
	if err != nil {
		return fmt.Errorf("shoal/swarm: share %q: %w", key, err)
	}
	if len(raw) > s.maxBuf {
		return fmt.Errorf("shoal/swarm: share %q: %d bytes exceed MaxMessageBuffer %d", key, len(raw), s.maxBuf)
	}
	h, err := s.key(key)
	if err != nil {
		return err
	}
	return h.e.update(func() { h.a.v.set(value, raw) })
}

// Values returns, for key, each node's name mapped to the last value that
// node shared, this node's own included. A node that left or failed
// disappears once memberlist declares it gone plus DepartedGrace.
func (s *Swarm) Values(key string) map[string]interface{} {
	out := make(map[string]interface{})
	if s.node.closed.Load() {
		return out
	}
	s.keysMu.RLock()
	h := s.keys[key]
	s.keysMu.RUnlock()
	if h == nil {
		var err error
		if h, err = s.key(key); err != nil {
			return out
		}
	}
	now := s.node.now()
	h.e.mu.Lock()
	defer h.e.mu.Unlock()
	if h.e.gone.Load() {
		return out
	}
	cv := h.a.v
	for i := 0; i < len(cv.Entries); i++ {
		e := &cv.Entries[i]
		if e.Node != s.node.cfg.Name {
			if m, ok := s.node.members.get(e.Node); ok {
				gone := m.State != MemberAlive && now.Sub(m.Since) >= s.grace
				stale := m.Replica.Incarnation > e.Incarnation
				if gone || stale {
					cv.purge(e.Node, e.Incarnation)
					i--
					continue
				}
			}
		}
		v, err := cv.value(i)
		if err != nil {
			continue
		}
		out[e.Node] = v
	}
	return out
}

// Broadcast sends m to every live member now (not stored; not relayed).
// Members receive it on the channel of Messages.
func (s *Swarm) Broadcast(m interface{}) error {
	n := s.node
	if n.closed.Load() {
		return ErrClosed
	}
	raw, err := n.codec.EncodeAny(s.reg, m)
	if err != nil {
		return fmt.Errorf("shoal/swarm: broadcast: %w", err)
	}
	if len(raw) > s.maxBuf {
		return fmt.Errorf("shoal/swarm: broadcast: %d bytes exceed MaxMessageBuffer %d", len(raw), s.maxBuf)
	}
	msg, err := n.codec.EncodeEnvelope(&codec.Envelope{Kind: codec.KindBroadcast, Origin: n.self, Payload: raw})
	if err != nil {
		return fmt.Errorf("shoal/swarm: broadcast: %w", err)
	}
	var errs []error
	for _, mem := range n.members.peers() {
		if len(msg) <= n.maxPkt {
			err = n.ml.SendBestEffort(mem, msg)
		} else {
			err = n.ml.SendReliable(mem, msg)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("to %s: %w", mem.Name, err))
			continue
		}
		n.stats.sent(codec.KindBroadcast, len(msg))
	}
	if len(errs) > 0 {
		return fmt.Errorf("shoal/swarm: broadcast: %w", errors.Join(errs...))
	}
	return nil
}

// Messages returns a channel of the values peers Broadcast, and a function
// that cancels the subscription and closes the channel. A message that
// finds the channel's buffer full is dropped (and counted in
// Stats.Dropped): the gossip path never waits for the reader.
func (s *Swarm) Messages(buffer int) (<-chan *Message, func()) {
	if buffer < 1 {
		buffer = 1
	}
	ch := make(chan *Message, buffer)
	s.msgMu.Lock()
	s.msgSubs[ch] = struct{}{}
	s.msgMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.msgMu.Lock()
			delete(s.msgSubs, ch)
			s.msgMu.Unlock()
			close(ch)
		})
	}
}

func (s *Swarm) receiveBroadcast(env *codec.Envelope) {
	v, err := s.node.codec.DecodeAny(s.reg, env.Payload)
	if err != nil {
		s.node.stats.reject(rejectDecode)
		s.node.warnLimited(rejectDecode, "dropped a broadcast that does not decode", "origin", env.Origin.String(), "err", err)
		return
	}
	m := &Message{Source: env.Origin.Node, Value: v}
	s.msgMu.Lock()
	defer s.msgMu.Unlock()
	for ch := range s.msgSubs {
		select {
		case ch <- m:
		default:
			s.node.stats.drop(dropSlowBroadcast)
		}
	}
}

// Leave announces the departure, shuts the node down within LeaveTimeout
// and runs the cleanup function given to Join. It is idempotent; after it
// ShareValue and Broadcast return ErrClosed and Values an empty map.
func (s *Swarm) Leave() {
	s.leaveOnce.Do(func() {
		if err := s.node.Leave(); err != nil {
			s.node.log.Warn("leave", "err", err)
		}
		if s.cleanup != nil {
			s.cleanup()
		}
	})
}
