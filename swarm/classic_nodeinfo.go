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
		return NewNodeInfoClientFake(o), func() {}, nil
	case o.KubernetesOptions != nil:
		k, err := NewNodeInfoClientKubernetes(o)
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
		if c.reg != nil {
			return c.reg
		}
	}
	return nil
}

type fakeNodeInfo struct {
	self *NodeInfo
	reg  *discovery.FakeRegistry
}

// NewNodeInfoClientFake returns the client of a FakeSwarm: this node is
// FakeSwarmLocalNode on 127.0.0.1:SwarmPort (0: a free port), its peers
// are those of Options.FakeRegistry.
func NewNodeInfoClientFake(o Options) NodeInfoClient {
	name := o.FakeSwarmLocalNode
	if name == "" {
		name = fmt.Sprintf("fake-%d", time.Now().UnixNano())
	}
	return &fakeNodeInfo{self: NewFakeNodeInfo(name, net.IPv4(127, 0, 0, 1), o.SwarmPort), reg: o.FakeRegistry}
}

func (f *fakeNodeInfo) Self() *NodeInfo { return f.self }

func (f *fakeNodeInfo) GetNodeInfo() ([]*NodeInfo, error) {
	if f.reg == nil {
		return []*NodeInfo{f.self}, nil
	}
	peers, err := f.reg.Peers(context.Background())
	if err != nil {
		return nil, err
	}
	return toNodeInfos(peers), nil
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
// pods through the Kubernetes API (see package discovery).
func NewNodeInfoClientKubernetes(o Options) (NodeInfoClient, error) {
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
