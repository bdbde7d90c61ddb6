package swarm

import (
	"sync"
	"sync/atomic"
	"time"
)

// reasonCounts counts events by reason. Reasons are a small, fixed set of
// string constants declared next to the code that uses them (drop* and
// reject* below and in the files that add more), so the set is closed and
// the maps in Stats stay small. add allocates only the first time a reason
// is seen.
type reasonCounts struct {
	m sync.Map // string -> *atomic.Uint64
}

func (r *reasonCounts) add(reason string) { r.addN(reason, 1) }

func (r *reasonCounts) addN(reason string, k uint64) {
	if c, ok := r.m.Load(reason); ok {
		c.(*atomic.Uint64).Add(k)
		return
	}
	c, _ := r.m.LoadOrStore(reason, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(k)
}

func (r *reasonCounts) snapshot() map[string]uint64 {
	out := make(map[string]uint64)
	r.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

// Reasons for Stats.Drops: something this node gave up to stay within a
// bound. Each is also counted in Stats.Dropped.
const (
	dropPendingFull   = "pending_full"            // a value for an unregistered name evicted or refused
	dropSlowMember    = "slow_member_subscriber"  // a membership event a full subscriber channel missed
	dropRelayTooLarge = "relay_too_large"         // an effect too large for a packet, left to anti-entropy
	dropSlowBroadcast = "slow_broadcast_reader"   // a classic broadcast a full Messages channel missed
	dropHandoffFull   = "memberlist_handoff_full" // a message memberlist dropped because its handler queue was full
)

// Reasons for Stats.Rejected: input from a peer refused by validation.
// Each is also counted in Stats.DecodeErrors.
const (
	rejectDecode       = "decode"        // does not decode as shoal's wire format
	rejectTypeMismatch = "type_mismatch" // a name registered here with another type
	rejectInvalid      = "invalid_state" // decodes, but the type's Validate refuses it
)

// drop counts one thing given up, by reason.
func (c *counters) drop(reason string) {
	c.dropped.Add(1)
	c.drops.add(reason)
}

// reject counts one peer input refused, by reason.
func (c *counters) reject(reason string) {
	c.decodeErrors.Add(1)
	c.rejects.add(reason)
}

// rateLimitedLog logs at most one line per key per interval, so a peer
// that floods us with bad input cannot flood the log; the counters in
// Stats carry the totals. The zero value is ready to use.
type rateLimitedLog struct {
	last sync.Map // string -> *atomic.Int64 (unix nanoseconds of the last line)
}

const logEvery = 10 * time.Second

// allow reports whether a line for key may be logged now.
func (r *rateLimitedLog) allow(key string, now time.Time) bool {
	v, ok := r.last.Load(key)
	if !ok {
		v, _ = r.last.LoadOrStore(key, new(atomic.Int64))
	}
	last := v.(*atomic.Int64)
	prev := last.Load()
	if prev != 0 && now.UnixNano()-prev < int64(logEvery) {
		return false
	}
	return last.CompareAndSwap(prev, now.UnixNano())
}

// warnLimited logs a warning for key at most once per logEvery.
func (n *Node) warnLimited(key, msg string, args ...any) {
	if n.logLimit.allow(key, time.Now()) {
		n.log.Warn(msg, args...)
	}
}

// dropN counts k things given up for one reason.
func (c *counters) dropN(reason string, k int) {
	if k > 0 {
		c.dropped.Add(uint64(k))
		c.drops.addN(reason, uint64(k))
	}
}
