package swarmtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/swarm"
)

// Cluster is a set of real shoal nodes in one process, on 127.0.0.1 with
// real memberlist UDP and TCP (or on a simulated Network), joined into one
// cluster. Build it with Start; it is torn down by t.Cleanup.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*swarm.Node
	cfg   func(i int, c *swarm.Config)
	tr    func(name string) (memberlist.NodeAwareTransport, error)
}

// Options configure Start.
type Options struct {
	// Config adjusts node i's configuration (a DefaultLocalConfig named
	// "node-<i>") before it starts. Optional.
	Config func(i int, c *swarm.Config)
	// Transport, if set, makes each node's transport (for example
	// Network.NewTransport of a simulated network) instead of real sockets.
	Transport func(name string) (memberlist.NodeAwareTransport, error)
	// NoJoin leaves the nodes unjoined.
	NoJoin bool
}

// Start starts n nodes, joins them (each to node 0) and waits until every
// node sees all n as alive. It fails the test on any error.
func Start(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, cfg: o.Config, tr: o.Transport}
	t.Cleanup(c.Close)
	for i := 0; i < n; i++ {
		if _, err := c.Add(fmt.Sprintf("node-%d", i), i); err != nil {
			t.Fatalf("swarmtest: start node %d: %v", i, err)
		}
	}
	if !o.NoJoin && n > 1 {
		c.JoinAll(t)
	}
	return c
}

// Config returns the configuration Start gives node i named name.
func (c *Cluster) Config(name string, i int) swarm.Config {
	cfg := swarm.DefaultLocalConfig(name)
	cfg.PushPullInterval = time.Second
	if c.cfg != nil {
		c.cfg(i, &cfg)
	}
	return cfg
}

// Add starts one more node (not joined) with Config(name, i).
func (c *Cluster) Add(name string, i int) (*swarm.Node, error) {
	cfg := c.Config(name, i)
	if c.tr != nil && cfg.Transport == nil {
		tr, err := c.tr(name)
		if err != nil {
			return nil, err
		}
		cfg.Transport = tr
	}
	return c.AddConfig(cfg)
}

// AddConfig starts one more node with cfg (not joined).
func (c *Cluster) AddConfig(cfg swarm.Config) (*swarm.Node, error) {
	nd, err := swarm.New(cfg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, nd)
	c.mu.Unlock()
	return nd, nil
}

// JoinAll joins every node to node 0 and waits for full membership.
func (c *Cluster) JoinAll(t testing.TB) {
	t.Helper()
	nodes := c.Nodes()
	seed := nodes[0].Addr()
	for _, nd := range nodes[1:] {
		if _, err := nd.Join(context.Background(), seed); err != nil {
			t.Fatalf("swarmtest: join %s: %v", nd.Name(), err)
		}
	}
	c.WaitMembers(t, len(nodes), 30*time.Second)
}

// Nodes returns the nodes started so far (including stopped ones).
func (c *Cluster) Nodes() []*swarm.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*swarm.Node(nil), c.nodes...)
}

// Node returns node i.
func (c *Cluster) Node(i int) *swarm.Node { return c.Nodes()[i] }

// WaitMembers waits until every running node counts want live members.
func (c *Cluster) WaitMembers(t testing.TB, want int, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, func() error {
		for _, nd := range c.Nodes() {
			if s := nd.Stats(); s.Members != want && !isClosed(nd) {
				return fmt.Errorf("%s sees %d members, want %d", nd.Name(), s.Members, want)
			}
		}
		return nil
	})
}

func isClosed(nd *swarm.Node) bool { return nd.Closed() }

// Close stops every node (Close, not Leave) and waits for them.
func (c *Cluster) Close() {
	for _, nd := range c.Nodes() {
		_ = nd.Close()
	}
}

// WaitFor polls cond until it returns nil or timeout passes, then fails the
// test with cond's last error. The poll interval grows from 5 ms to 100 ms.
func WaitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Await(timeout, cond); err != nil {
		t.Fatalf("swarmtest: condition not met within %v: %v", timeout, err)
	}
}

// Await polls cond until it returns nil (then returns nil) or timeout
// passes (then returns cond's last error).
func Await(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}
