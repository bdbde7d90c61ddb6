package swarmtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/shoal-go/shoal/swarm"
)

// TestNode keeps the predecessor's swarmtest helper: one real node on
// addr:port. Exit simulates a crash (no leave announced); ShutDown leaves
// gracefully.
type TestNode struct {
	name string
	addr string
	port int
	node *swarm.Node
	err  error // set once the node exited or shut down
}

// NewTestNode starts a node named name on addr:port (port 0: a free port),
// with DefaultLocalConfig timings.
func NewTestNode(name string, addr string, port int) (*TestNode, error) {
	cfg := swarm.DefaultLocalConfig(name)
	cfg.BindAddr, cfg.BindPort = addr, port
	n, err := swarm.New(cfg)
	if err != nil {
		return nil, err
	}
	_, p, _ := net.SplitHostPort(n.Addr())
	port, _ = strconv.Atoi(p)
	return &TestNode{name: name, addr: addr, port: port, node: n}, nil
}

// Node returns the shoal node.
func (tn *TestNode) Node() *swarm.Node { return tn.node }

// Join joins the given "host:port" peers; it fails only if none answered.
func (tn *TestNode) Join(nodesToJoin []string) error {
	if tn.err != nil {
		return tn.err
	}
	_, err := tn.node.Join(context.Background(), nodesToJoin...)
	return err
}

// ListMembers returns an error for a node that exited or shut down; the
// members themselves are in Node().Members().
func (tn *TestNode) ListMembers() error {
	if tn.err != nil {
		return fmt.Errorf("cannot list members of %s: %w", tn.name, tn.err)
	}
	return nil
}

var errExited = errors.New("swarmtest: node exited")

// Exit stops the node without announcing it, as a crash would.
func (tn *TestNode) Exit() error {
	if tn.err != nil {
		return fmt.Errorf("cannot exit %s: %w", tn.name, tn.err)
	}
	tn.err = errExited
	return tn.node.Close()
}

// ShutDown leaves the cluster gracefully (idempotent).
func (tn *TestNode) ShutDown() error {
	if tn.err == nil {
		tn.err = errExited
	}
	return tn.node.Leave()
}

// Addr returns "addr:port".
func (tn *TestNode) Addr() string { return net.JoinHostPort(tn.addr, strconv.Itoa(tn.port)) }
