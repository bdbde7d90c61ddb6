package ratelimit

import (
	"fmt"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// Defaults for the zero fields of KeyedConfig.
const (
	// SlidingLogMaxLimit is the largest per-key limit for which a keyed
	// limiter keeps a sliding log by default: every admission its own
	// event, to W/100,000. Above it, events of a node in one of 200
	// buckets per window add up (see KeyedConfig.Buckets).
	SlidingLogMaxLimit = 1000
	// DefaultKeyedBuckets is the ticks per window of a keyed limit above
	// SlidingLogMaxLimit (fine buckets).
	//
	// Deprecated: the default now follows the limit; see
	// KeyedConfig.Buckets.
	DefaultKeyedBuckets = fineBucketTicks
	// DefaultMaxKeys bounds the keys one node holds.
	DefaultMaxKeys = 100_000
	// DefaultExpireInterval is how often idle keys are freed and MaxKeys
	// enforced.
	DefaultExpireInterval = time.Second
)

// Ticks per window of the two representations.
const (
	slidingLogTicks  = 100_000
	fineBucketTicks  = 200
	minTickWidth     = time.Microsecond
	defaultReserveOf = 4 // Reserve = 4·Lag by default
)

// KeyedConfig configures a KeyedLimiter. Limit and Window are required;
// every node that shares a keyed limit must use the same Window, Buckets
// and hash secret.
type KeyedConfig struct {
	// Limit is how many events the cluster admits per key per Window
	// (Resize changes it for one key on this node).
	Limit  int
	Window time.Duration
	// Buckets is how many ticks the window is split into: a node's events
	// of a key in one tick add up into one event of the key's log. The
	// default follows the limit: for Limit ≤ SlidingLogMaxLimit, 100,000
	// ticks (at least 1 µs each), so each admission keeps its own instant
	// and the window slides exactly (a sliding log, ≤ Limit events per
	// key plus the races); above it, 200 ticks (fine buckets: an event
	// frees its place at most W/200 after it left the window, ≤ 201
	// events per key per node). Memory per key is 16 bytes per event.
	Buckets int
	// MaxKeys bounds the keys this node holds (default DefaultMaxKeys).
	// Once per ExpireInterval, keys whose events all left the window are
	// freed and, if more than MaxKeys remain, approximately the least
	// recently counted are evicted down to 90 % of MaxKeys. Between two
	// runs the count can exceed MaxKeys by the keys that arrived. An
	// evicted key starts from what peers send for it next, so eviction
	// can only admit more for it, never less: size MaxKeys above the
	// active key count.
	MaxKeys int
	// ExpireInterval is how often expiry and eviction run (default
	// DefaultExpireInterval). Each run walks the keys a chunk at a time,
	// releasing the value's lock between chunks.
	ExpireInterval time.Duration
	// Lag is about how long a peer's admissions take to reach this node
	// (default DefaultLag: the node's flush interval plus transit). It
	// sets Reserve's default.
	Lag time.Duration
	// Reserve is how long the place a peer's event frees when it leaves
	// the window stays reserved for that peer (default 4·Lag; negative:
	// none). A peer that keeps admitting on a key takes its own places
	// back before anyone else sees them, so places that free at an
	// instant every node knows are not raced for by all of them.
	Reserve time.Duration
	// HashSecret keys the hash that stands for each key on the wire, in
	// Values, on the debug page and in metrics (SipHash-2-4-128). Every
	// node must use the same one. Default: derived from the node's first
	// gossip key (swarm.Node.DeriveSecret). Without either, keys are
	// hashed with a secret derived from the limiter's name alone: they
	// still never appear in clear, but anyone who can read the hashes
	// (a gossip packet, a debug page) can test guesses of a key, such as
	// an IP address; the limiter logs a warning and KeyedStats.HashKeyed
	// is false.
	HashSecret []byte
}

func (c KeyedConfig) withDefaults() (KeyedConfig, error) {
	if c.Limit < 1 {
		return c, fmt.Errorf("%w: Limit %d is less than 1", ErrInvalidConfig, c.Limit)
	}
	if c.Window <= 0 {
		return c, fmt.Errorf("%w: Window %v is not positive", ErrInvalidConfig, c.Window)
	}
	if c.Buckets == 0 {
		c.Buckets = fineBucketTicks
		if c.Limit <= SlidingLogMaxLimit {
			c.Buckets = slidingLogTicks
		}
		c.Buckets = max(1, min(c.Buckets, int(c.Window/minTickWidth)))
	}
	if c.Buckets < 1 || c.Buckets > crdt.MaxKeyedTicks || int64(c.Window)/int64(c.Buckets) < 1 {
		return c, fmt.Errorf("%w: Buckets %d is not in 1..%d, or makes ticks shorter than 1 ns (Window %v)",
			ErrInvalidConfig, c.Buckets, crdt.MaxKeyedTicks, c.Window)
	}
	switch {
	case c.Lag == 0:
		c.Lag = DefaultLag
	case c.Lag < 0:
		c.Lag = 0
	}
	switch {
	case c.Reserve == 0:
		c.Reserve = defaultReserveOf * c.Lag
	case c.Reserve < 0:
		c.Reserve = 0
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.MaxKeys < 1 {
		return c, fmt.Errorf("%w: MaxKeys %d is less than 1", ErrInvalidConfig, c.MaxKeys)
	}
	if c.ExpireInterval == 0 {
		c.ExpireInterval = DefaultExpireInterval
	}
	if c.ExpireInterval < 0 {
		return c, fmt.Errorf("%w: ExpireInterval %v is negative", ErrInvalidConfig, c.ExpireInterval)
	}
	return c, nil
}
