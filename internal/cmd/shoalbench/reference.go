package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/shoal-go/shoal/swarm"
	simnet "github.com/shoal-go/shoal/swarm/swarmtest"
)

// refMessageSize is the size of a reference broadcast, about that of a
// shoal counter delta (envelope, name, replica and slot).
const refMessageSize = 64

// refCluster is the reference: plain memberlist nodes with the timings of
// a shoal configuration, relaying opaque broadcasts through a
// TransmitLimitedQueue. Every node re-queues a message the first time it
// receives it, which is how memberlist's own gossip spreads — so the
// reference shows what relayed gossip alone achieves.
type refCluster struct {
	nodes []*refNode
	sim   *simnet.Network
}

// refNode is one memberlist node of the reference and its delegate.
type refNode struct {
	i     int
	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue
	arr   *arrivals
	sent  atomic.Uint64

	mu   sync.Mutex
	seen map[uint64]bool
}

// memberlistConfig mirrors how swarm.New turns its Config into
// memberlist's, for the fields that shape gossip.
func memberlistConfig(c swarm.Config) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name
	mc.BindAddr, mc.BindPort = c.BindAddr, c.BindPort
	mc.GossipInterval, mc.GossipNodes = c.GossipInterval, c.GossipNodes
	mc.RetransmitMult = c.RetransmitMult
	mc.PushPullInterval = c.PushPullInterval
	mc.ProbeInterval, mc.ProbeTimeout = c.ProbeInterval, c.ProbeTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.TCPTimeout = c.TCPTimeout
	mc.GossipToTheDeadTime = 2 * c.ProbeInterval * time.Duration(c.SuspicionMult)
	mc.EnableCompression = c.Compression
	mc.UDPBufferSize = c.UDPBufferSize
	mc.Logger = log.New(io.Discard, "", 0)
	return mc
}

// startRefCluster starts the reference with the preset's timings on nw,
// joined and with full membership; faults start after the join, as for
// startCluster.
func startRefCluster(ctx context.Context, size int, preset string, det detection, nw network, arr *arrivals, prog *progress, what string) (*refCluster, error) {
	paceAsFleet(size)
	rc := &refCluster{}
	if nw.Transport == "sim" {
		sim, err := simnet.NewNetwork(simnet.FaultConfig{Seed: nw.Seed + 1})
		if err != nil {
			return nil, err
		}
		rc.sim = sim
	}
	for i := range size {
		cfg, err := presetConfig(preset, fmt.Sprintf("ref-%d", i))
		if err != nil {
			rc.close()
			return nil, err
		}
		det.apply(&cfg)
		rn := &refNode{i: i, arr: arr, seen: make(map[uint64]bool)}
		mc := memberlistConfig(cfg)
		var tr memberlist.NodeAwareTransport
		if rc.sim != nil {
			st, err := rc.sim.NewTransport(cfg.Name)
			if err != nil {
				rc.close()
				return nil, err
			}
			tr = st
		} else {
			nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
				BindAddrs: []string{cfg.BindAddr}, BindPort: 0, Logger: mc.Logger,
			})
			if err != nil {
				rc.close()
				return nil, fmt.Errorf("reference %s: %w", cfg.Name, err)
			}
			mc.BindPort = nt.GetAutoBindPort()
			tr = nt
		}
		mc.AdvertisePort = mc.BindPort
		mc.Transport = &countingTransport{NodeAwareTransport: tr, sent: &rn.sent}
		rn.queue = &memberlist.TransmitLimitedQueue{RetransmitMult: mc.RetransmitMult, NumNodes: rn.numNodes}
		mc.Delegate = rn
		ml, err := memberlist.Create(mc)
		if err != nil {
			_ = tr.Shutdown()
			rc.close()
			return nil, fmt.Errorf("reference %s: %w", cfg.Name, err)
		}
		rn.ml = ml
		rc.nodes = append(rc.nodes, rn)
		prog.update("%s: started %d/%d nodes", what, i+1, size)
	}
	addrs := make([]string, size)
	for i, rn := range rc.nodes {
		addrs[i] = rn.ml.LocalNode().FullAddress().Addr
	}
	if err := joinTree(ctx, size, func(_ context.Context, i int, seeds []int) error {
		_, err := rc.nodes[i].ml.Join(seedAddrs(addrs, seeds))
		return err
	}, prog, what); err != nil {
		rc.close()
		return nil, err
	}
	// A node short of members re-joins three random ones (see
	// randomSeeds; a failed re-join is retried).
	rng := rand.New(rand.NewPCG(uint64(size), 11))
	if err := waitFull(ctx, size, 5*time.Minute, func(i int) int {
		return rc.nodes[i].ml.NumMembers()
	}, func(i int) {
		_, _ = rc.nodes[i].ml.Join(randomSeeds(rng, addrs))
	}, prog, what); err != nil {
		rc.close()
		return nil, err
	}
	if rc.sim != nil {
		if err := rc.sim.SetFaults(simnet.FaultConfig{Drop: nw.Drop, Delay: nw.Delay, Jitter: nw.Jitter, Seed: nw.Seed + 1}); err != nil {
			rc.close()
			return nil, err
		}
	}
	return rc, nil
}

// broadcast queues message id on node i, as its origin.
func (rc *refCluster) broadcast(i int, id uint64) {
	rn := rc.nodes[i]
	rn.mu.Lock()
	rn.seen[id] = true
	rn.mu.Unlock()
	rn.queue.QueueBroadcast(refBroadcast(refMessage(id)))
}

func (rc *refCluster) wireBytes() uint64 {
	var sum uint64
	for _, rn := range rc.nodes {
		sum += rn.sent.Load()
	}
	return sum
}

func (rc *refCluster) close() {
	var wg sync.WaitGroup
	for _, rn := range rc.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); _ = rn.ml.Shutdown() }()
	}
	wg.Wait()
	if rc.sim != nil {
		_ = rc.sim.Close()
	}
	paceAsFleet(0)
}

func refMessage(id uint64) []byte {
	b := make([]byte, refMessageSize)
	binary.BigEndian.PutUint64(b, id)
	return b
}

func (rn *refNode) numNodes() int {
	if rn.ml == nil {
		return 1
	}
	return rn.ml.NumMembers()
}

// NotifyMsg records a message and, the first time, queues it for relay.
func (rn *refNode) NotifyMsg(b []byte) {
	if len(b) < 8 {
		return
	}
	now := time.Now()
	id := binary.BigEndian.Uint64(b)
	rn.mu.Lock()
	fresh := !rn.seen[id]
	rn.seen[id] = true
	rn.mu.Unlock()
	if !fresh {
		return
	}
	rn.arr.markID(rn.i, id, now)
	rn.queue.QueueBroadcast(refBroadcast(append([]byte(nil), b...)))
}

func (rn *refNode) GetBroadcasts(overhead, limit int) [][]byte {
	return rn.queue.GetBroadcasts(overhead, limit)
}

func (*refNode) NodeMeta(int) []byte                 { return nil }
func (*refNode) LocalState(bool) []byte              { return nil }
func (*refNode) MergeRemoteState(buf []byte, _ bool) {}

// refBroadcast is a message that never replaces another in the queue.
type refBroadcast []byte

func (refBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b refBroadcast) Message() []byte                     { return b }
func (refBroadcast) Finished()                             {}
func (refBroadcast) UniqueBroadcast()                      {}

// countingTransport counts the bytes a node writes to the network, as
// shoal's Stats.WireBytesSent does.
type countingTransport struct {
	memberlist.NodeAwareTransport
	sent *atomic.Uint64
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.sent.Add(uint64(len(b)))
	return t.NodeAwareTransport.WriteTo(b, addr)
}

func (t *countingTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.sent.Add(uint64(len(b)))
	return t.NodeAwareTransport.WriteToAddress(b, a)
}
