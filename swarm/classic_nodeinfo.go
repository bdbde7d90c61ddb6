package swarm

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/shoal-go/shoal/discovery"
)

// NodeInfo names a swarm node and where it listens.
type NodeInfo struct {
	Name string
	Addr net.IP
	Port uint16
}

// NewStaticNodeInfo parses addr ("ip:port").
func NewStaticNodeInfo(name, addr string) (*NodeInfo, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: node %q: %w", name, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("shoal/swarm: node %q: %q is not an IP address", name, host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: node %q: invalid port %q: %w", name, port, err)
	}
	return &NodeInfo{Name: name, Addr: ip, Port: uint16(p)}, nil
}

// NewFakeNodeInfo returns a NodeInfo for a FakeSwarm.
func NewFakeNodeInfo(name string, addr net.IP, port uint16) *NodeInfo {
	return &NodeInfo{Name: name, Addr: addr, Port: port}
}

// String returns "NodeInfo{name: NAME, IP:PORT}", as the predecessor did.
func (ni NodeInfo) String() string {
	return fmt.Sprintf("NodeInfo{name: %s, %s:%d}", ni.Name, ni.Addr, ni.Port)
}

// Self can return itself as NodeInfo.
type Self interface {
	Node() *NodeInfo
}

// EntryPoint knows the nodes of a swarm, itself included.
type EntryPoint interface {
	Nodes() []*NodeInfo
}

// NodeState is a node's state in the classic API.
type NodeState int

const (
	// Initial: created, not yet joined.
	Initial NodeState = iota
	// Connected: a live member.
	Connected
	// Disconnected: left or failed.
	Disconnected
)

func (s NodeState) String() string {
	switch s {
	case Initial:
		return "initial"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	}
	return "unknown"
}

// StaticSwarm is a fixed list of nodes, self among them.
type StaticSwarm struct {
	self *NodeInfo
	all  []*NodeInfo
}

// NewStaticSwarm returns a static swarm of all, in which self is this node.
func NewStaticSwarm(self *NodeInfo, all []*NodeInfo) *StaticSwarm {
	return &StaticSwarm{self: self, all: all}
}

// Self returns this node.
func (s *StaticSwarm) Self() *NodeInfo { return s.self }

// GetNodeInfo returns every node, self included.
func (s *StaticSwarm) GetNodeInfo() ([]*NodeInfo, error) { return s.all, nil }

// Node returns this node (Self interface).
func (s *StaticSwarm) Node() *NodeInfo { return s.self }

// Nodes returns every node (EntryPoint interface).
func (s *StaticSwarm) Nodes() []*NodeInfo { return s.all }

// NodeInfoClient finds the swarm's nodes and this node among them.
type NodeInfoClient interface {
	GetNodeInfo() ([]*NodeInfo, error)
	Self() *NodeInfo
}

// NewNodeInfoClient returns the client for the swarm type the options
// select and a cleanup function. For an invalid choice the client's
// GetNodeInfo returns the error.
func NewNodeInfoClient(o Options) (NodeInfoClient, func()) {
	nic, cleanup, err := newNodeInfoClient(o)
	if err != nil {
		return errNodeInfoClient{err}, func() {}
	}
	return nic, cleanup
}

type errNodeInfoClient struct{ err error }

func (e errNodeInfoClient) GetNodeInfo() ([]*NodeInfo, error) { return nil, e.err }
func (e errNodeInfoClient) Self() *NodeInfo                   { return nil }

func newNodeInfoClient(o Options) (NodeInfoClient, func(), error) {
	switch {
	case o.FakeSwarm:
		return newFakeNodeInfo(o), func() {}, nil
	case o.KubernetesOptions != nil:
		k, err := NewKubernetesNodeInfoClient(o)
		if err != nil {
			return nil, nil, err
		}
		return k, k.(*kubernetesNodeInfo).k.CloseIdleConnections, nil
	case o.StaticSwarm != nil:
		return o.StaticSwarm, func() {}, nil
	}
	return nil, nil, ErrUnknownSwarm
}

// discovererOf returns the discovery source behind a client, for periodic
// re-discovery, or nil.
func discovererOf(nic NodeInfoClient) discovery.Discoverer {
	switch c := nic.(type) {
	case *kubernetesNodeInfo:
		return c.k
	case *fakeNodeInfo:
		return c.reg
	}
	return nil
}

type fakeNodeInfo struct {
	self *NodeInfo
	reg  *discovery.FakeRegistry
}

// defaultFakeRegistry is where FakeSwarm nodes started without
// Options.FakeRegistry meet, as the predecessor's fake nodes met through a
// package-level list.
var defaultFakeRegistry = discovery.NewFakeRegistry()

// DefaultFakeRegistry returns the registry through which every FakeSwarm
// node of this process started without Options.FakeRegistry finds the
// others. A test that wants its fake nodes to meet only each other passes
// its own (discovery.NewFakeRegistry) in Options.FakeRegistry.
func DefaultFakeRegistry() *discovery.FakeRegistry { return defaultFakeRegistry }

// NewNodeInfoClientFake returns the client of a FakeSwarm: this node is
// FakeSwarmLocalNode on 127.0.0.1:SwarmPort (0: a free port, chosen at
// Start), its peers are itself and the nodes in Options.FakeRegistry (nil:
// DefaultFakeRegistry). Start adds the node to the registry once it
// listens and Leave removes it.
func NewNodeInfoClientFake(o Options) NodeInfoClient {
	return newFakeNodeInfo(o)
}

func newFakeNodeInfo(o Options) *fakeNodeInfo {
	name := o.FakeSwarmLocalNode
	if name == "" {
		name = fmt.Sprintf("fake-%d", time.Now().UnixNano())
	}
	reg := o.FakeRegistry
	if reg == nil {
		reg = defaultFakeRegistry
	}
	return &fakeNodeInfo{self: NewFakeNodeInfo(name, net.IPv4(127, 0, 0, 1), o.SwarmPort), reg: reg}
}

func (f *fakeNodeInfo) Self() *NodeInfo { return f.self }

// GetNodeInfo returns this node and every node in the registry.
func (f *fakeNodeInfo) GetNodeInfo() ([]*NodeInfo, error) {
	peers, err := f.reg.Peers(context.Background())
	if err != nil {
		return nil, err
	}
	out := []*NodeInfo{f.self}
	for _, p := range toNodeInfos(peers) {
		if p.Name != f.self.Name {
			out = append(out, p)
		}
	}
	return out, nil
}

// register adds the started node to the registry.
func (f *fakeNodeInfo) register(s *Swarm) error { return RegisterFake(f.reg, s) }

// unregister removes this node from the registry, unless another node has
// registered under its name since.
func (f *fakeNodeInfo) unregister() {
	peers, err := f.reg.Peers(context.Background())
	if err != nil {
		return
	}
	for _, p := range peers {
		if p.Name == f.self.Name && p.Addr.Port() == f.self.Port {
			f.reg.Remove(p.Name)
		}
	}
}

func toNodeInfos(peers []discovery.Peer) []*NodeInfo {
	out := make([]*NodeInfo, 0, len(peers))
	for _, p := range peers {
		out = append(out, &NodeInfo{Name: p.Name, Addr: net.IP(p.Addr.Addr().AsSlice()), Port: p.Addr.Port()})
	}
	return out
}

// RegisterFake adds a started fake Swarm to reg so that fake swarms
// started after it find it.
func RegisterFake(reg *discovery.FakeRegistry, s *Swarm) error {
	l := s.Local()
	ip, ok := netip.AddrFromSlice(l.Addr)
	if !ok {
		return fmt.Errorf("shoal/swarm: %s has no address", l)
	}
	return reg.Add(discovery.Peer{Name: l.Name, Addr: netip.AddrPortFrom(ip.Unmap(), l.Port)})
}

type kubernetesNodeInfo struct {
	k    *discovery.Kubernetes
	self *NodeInfo
	err  error
}

// NewNodeInfoClientKubernetes returns the client that lists the swarm's
// pods through the Kubernetes API (see package discovery), with the
// predecessor's signature. A configuration error (no KubernetesOptions,
// not in a cluster although KubernetesInCluster) is returned by the
// client's GetNodeInfo, and its Self returns nil; NewKubernetesNodeInfoClient
// returns it at once.
func NewNodeInfoClientKubernetes(o Options) NodeInfoClient {
	c, err := NewKubernetesNodeInfoClient(o)
	if err != nil {
		return errNodeInfoClient{err}
	}
	return c
}

// NewKubernetesNodeInfoClient is NewNodeInfoClientKubernetes returning
// its configuration error.
func NewKubernetesNodeInfoClient(o Options) (NodeInfoClient, error) {
	ko := o.KubernetesOptions
	if ko == nil {
		return nil, fmt.Errorf("%w: KubernetesOptions is nil", ErrInvalidConfig)
	}
	ns, key, val := ko.Namespace, ko.LabelSelectorKey, ko.LabelSelectorValue
	if ns == "" {
		ns = DefaultNamespace
	}
	if key == "" {
		key = DefaultLabelSelectorKey
	}
	if val == "" {
		val = DefaultLabelSelectorValue
	}
	port := o.SwarmPort
	if port == 0 {
		port = DefaultPort
	}
	cfg := discovery.KubernetesConfig{
		InCluster: ko.KubernetesInCluster, Namespace: ns, LabelSelector: key + "=" + val, Port: port,
	}
	if !ko.KubernetesInCluster {
		// In cluster the predecessor ignored the URL; so do we.
		cfg.BaseURL = ko.KubernetesAPIBaseURL
	}
	k, err := discovery.NewKubernetes(cfg)
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: kubernetes: %w", err)
	}
	return &kubernetesNodeInfo{k: k}, nil
}

func (c *kubernetesNodeInfo) GetNodeInfo() ([]*NodeInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	peers, err := c.k.Peers(ctx)
	if err != nil {
		return nil, err
	}
	return toNodeInfos(peers), nil
}

// Self finds this pod (POD_NAME/POD_IP, else the local addresses); nil
// when it cannot (see SelfErr).
func (c *kubernetesNodeInfo) Self() *NodeInfo {
	if c.self != nil {
		return c.self
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := c.k.Self(ctx)
	if err != nil {
		c.err = err
		return nil
	}
	c.self = toNodeInfos([]discovery.Peer{p})[0]
	return c.self
}

// SelfErr says why Self returned nil.
func (c *kubernetesNodeInfo) SelfErr() error { return c.err }
