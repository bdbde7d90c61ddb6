package swarm

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/shoal-go/shoal/discovery"
)

// rediscoverLoop asks Config.Discovery for the current peers every
// RediscoverInterval (±20 % jitter, so a fleet started together does not
// query in step) and joins those it is not connected to. This is what
// merges two groups that started apart. A failing source keeps the current
// membership; the error is logged and counted, never fatal.
func (n *Node) rediscoverLoop() {
	defer n.wg.Done()
	for {
		jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(n.cfg.RediscoverInterval))
		t := time.NewTimer(n.cfg.RediscoverInterval + jitter)
		select {
		case <-n.stop:
			t.Stop()
			return
		case <-t.C:
		}
		n.rediscover()
	}
}

// rediscover runs one discovery round and returns how many new peers it
// joined.
func (n *Node) rediscover() int {
	if n.closed.Load() {
		return 0
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.TCPTimeout)
	defer cancel()
	peers, err := n.cfg.Discovery.Peers(ctx)
	if err != nil {
		n.stats.discoveryErrors.Add(1)
		n.log.Warn("discovery failed; keeping the current members", "err", err)
		return 0
	}
	addrs := n.unknownPeers(peers)
	if len(addrs) == 0 {
		return 0
	}
	k, err := n.ml.Join(addrs)
	if err != nil {
		n.log.Debug("rediscovery join", "peers", addrs, "joined", k, "err", err)
	}
	return k
}

// unknownPeers returns the addresses of peers that are not live members.
func (n *Node) unknownPeers(peers []discovery.Peer) []string {
	live := make(map[string]bool)
	for _, m := range n.members.peers() {
		live[m.Address()] = true
	}
	var out []string
	for _, p := range peers {
		a := p.Addr.String()
		if !live[a] && a != n.Addr() {
			out = append(out, a)
		}
	}
	return out
}
