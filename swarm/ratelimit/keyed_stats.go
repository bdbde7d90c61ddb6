package ratelimit

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/shoal-go/shoal/crdt"
)

// KeyedStats is what a KeyedLimiter reports about itself (see
// KeyedLimiter.Stats). Keys appear only as hashes.
type KeyedStats struct {
	// Keys is how many keys this node holds.
	Keys int
	// Allowed and Denied count this node's decisions since NewKeyed.
	Allowed, Denied uint64
	// Expired counts keys freed because all their events left the window;
	// Evicted those removed to stay within MaxKeys.
	Expired, Evicted uint64
	// Rejected counts peer events refused at merge (ticks more than a
	// window ahead of this node's clock, replicas beyond
	// crdt.MaxKeyedReplicas). Messages that fail validation altogether
	// are counted by the node (swarm.Stats.Rejected).
	Rejected uint64
	// HashKeyed is false when keys are hashed without a secret (see
	// KeyedConfig.HashSecret).
	HashKeyed bool
	// TopThrottled lists up to 10 key hashes with the most denials over
	// the last one to two minutes, most first (approximate counts: one
	// denial in 4 is sampled).
	TopThrottled []ThrottledKey
}

// ThrottledKey is one key hash and its recent denials.
type ThrottledKey struct {
	// Hash is the key's hash in hex, as KeyedLimiter.HashOf renders it.
	Hash   string
	Denied uint64
}

// topSize is how many key hashes the heavy-hitter sketch tracks; it
// reports the top 10.
const (
	topSize   = 32
	topReport = 10
	// topSample: one denial in topSample is recorded (and counts
	// topSample times).
	topSample = 4
)

// topDenied finds the most denied key hashes with the space-saving
// algorithm over topSize counters (Metwally et al.): a key denied more
// than 1/topSize of the time is always in it; counts are over-estimates
// by at most the evicted counter's value. Two generations, rotated every
// minute, make it recent.
type topDenied struct {
	mu        sync.Mutex
	cur, prev []topEntry
}

type topEntry struct {
	hash crdt.KeyHash
	n    uint64
}

func (t *topDenied) add(h crdt.KeyHash) {
	t.mu.Lock()
	defer t.mu.Unlock()
	low := -1
	for i := range t.cur {
		if t.cur[i].hash == h {
			t.cur[i].n++
			return
		}
		if low < 0 || t.cur[i].n < t.cur[low].n {
			low = i
		}
	}
	if len(t.cur) < topSize {
		t.cur = append(t.cur, topEntry{hash: h, n: 1})
		return
	}
	t.cur[low] = topEntry{hash: h, n: t.cur[low].n + 1}
}

func (t *topDenied) rotate() {
	t.mu.Lock()
	t.prev, t.cur = t.cur, t.prev[:0]
	t.mu.Unlock()
}

func (t *topDenied) top() []ThrottledKey {
	t.mu.Lock()
	sum := make(map[crdt.KeyHash]uint64, len(t.cur)+len(t.prev))
	for _, e := range t.prev {
		sum[e.hash] += e.n
	}
	for _, e := range t.cur {
		sum[e.hash] += e.n
	}
	t.mu.Unlock()
	out := make([]ThrottledKey, 0, len(sum))
	for h, n := range sum {
		out = append(out, ThrottledKey{Hash: hashString(h), Denied: n * topSample})
	}
	slices.SortFunc(out, func(a, b ThrottledKey) int {
		if c := cmp.Compare(b.Denied, a.Denied); c != 0 {
			return c
		}
		return strings.Compare(a.Hash, b.Hash)
	})
	return out[:min(len(out), topReport)]
}
