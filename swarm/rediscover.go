package swarm

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/shoal-go/shoal/discovery"
)

// maxRediscoverBackoff caps the wait after failed discovery rounds.
const maxRediscoverBackoff = 10 * time.Minute

// rediscoverLoop asks Config.Discovery for the current peers and joins
// those it is not connected to. This is what merges two groups that
// started apart. The wait between rounds is rediscoverWait's, jittered
// ±20 % so that a fleet started together does not query in step. A failing
// source keeps the current membership; the error is logged and counted,
// never fatal, and the next round waits longer.
func (n *Node) rediscoverLoop() {
	defer n.wg.Done()
	failures := 0
	var serverWait time.Duration
	for {
		d := rediscoverWait(n.cfg.RediscoverInterval, n.numMembers(), n.cfg.DiscoveryFleetRate, failures, serverWait)
		d += time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
		t := time.NewTimer(d)
		select {
		case <-n.stop:
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := n.rediscover(); err != nil {
			failures++
			serverWait, _ = discovery.RetryAfter(err)
		} else {
			failures, serverWait = 0, 0
		}
	}
}

// rediscoverWait is the time between two discovery rounds of one node.
//
// In steady state every member polls the source, so the fleet makes
// members/wait calls per second: the wait grows with the membership so
// that the fleet as a whole stays at fleetRate calls per second (1,000
// pods at the default 1/s: each pod asks every 1,000 s instead of every
// 30 s, which was 33 calls per second of ~7 MB each for the API server).
// A node that is alone, or in a small group that started apart, still asks
// every interval, which is what heals a split quickly.
//
// After failures the wait doubles per failed round (up to
// maxRediscoverBackoff), and it is never shorter than what the source
// asked for (a 429's Retry-After): an overloaded source then sees less
// traffic, not more.
func rediscoverWait(interval time.Duration, members int, fleetRate float64, failures int, retryAfter time.Duration) time.Duration {
	d := interval
	if fleetRate > 0 {
		d = max(d, time.Duration(float64(members)/fleetRate*float64(time.Second)))
	}
	if failures > 0 {
		d = min(d<<min(failures, 10), max(maxRediscoverBackoff, d))
	}
	return max(d, retryAfter)
}

// rediscover runs one discovery round and returns how many new peers it
// joined; the error is the source's.
func (n *Node) rediscover() (int, error) {
	if n.closed.Load() {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.TCPTimeout)
	defer cancel()
	peers, err := n.cfg.Discovery.Peers(ctx)
	if err != nil {
		n.stats.discoveryErrors.Add(1)
		n.log.Warn("discovery failed; keeping the current members", "err", err)
		return 0, err
	}
	addrs := n.unknownPeers(peers)
	if len(addrs) == 0 {
		return 0, nil
	}
	k, err := n.ml.Join(addrs)
	if err != nil {
		n.log.Debug("rediscovery join", "peers", addrs, "joined", k, "err", err)
	}
	return k, nil
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
