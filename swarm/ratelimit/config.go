package ratelimit

import (
	"fmt"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// Defaults for the zero fields of Config.
const (
	// DefaultBuckets splits the window of a Limiter into 200 buckets: an
	// event frees its place at most W/200 after it left the window.
	DefaultBuckets = 200
	// DefaultLag is about how long a peer's admissions take to reach this
	// node on the fast path: half the sync interval plus the node's flush
	// interval (10 ms) on average. Measured at L = 1000 per 1 s, N = 10:
	// 10 ms gives a mean of 0.984·L with a worst window of 1.029·L, 20 ms
	// 0.965 and 1.027 (extrapolation that long reserves room for peers that
	// were throttled). Raise it when the fast path is off (more than
	// DirectSendMaxMembers nodes) and news travels by relayed gossip.
	DefaultLag = 10 * time.Millisecond
	// DefaultSyncInterval is how often a limiter moves its own admissions
	// into the shared counter while it admits.
	DefaultSyncInterval = 5 * time.Millisecond
)

// Config configures a Limiter. Limit and Window are required; every other
// zero field means its documented default. Every node that shares a limit
// must use the same Limit, Window and Buckets: a peer with another Window
// or Buckets is rejected by the CRDT (counted in the node's DecodeErrors).
type Config struct {
	// Limit is how many events the whole cluster admits per Window.
	Limit int
	// Window is the length of the sliding window.
	Window time.Duration
	// Buckets is how many buckets the window is split into (default
	// DefaultBuckets, at most crdt.MaxWindowBuckets; Window must be a
	// whole number of nanoseconds times Buckets). More buckets free
	// places sooner after an event leaves the window and cost B+1 counts
	// per node in memory and in anti-entropy; a delta carries only the
	// buckets that changed.
	Buckets int
	// Lag is how far behind the peers' counts are when they arrive
	// (default DefaultLag): a peer is assumed to have admitted, at its
	// recent rate, for Lag plus the time since it was last heard, at most
	// 2·Lag. Negative turns extrapolation off.
	Lag time.Duration
	// Partition chooses what a node does when members disappear (see
	// the package documentation); default PartitionKeepLimit.
	Partition Partition
	// RateSpan is how far back a peer's rate is measured (default
	// Window/10, at least one bucket).
	RateSpan time.Duration
	// SyncInterval is how often this node's own admissions are moved into
	// the shared counter while it admits (default DefaultSyncInterval);
	// the node's FlushInterval then batches them onto the wire.
	SyncInterval time.Duration

	// flagPrefix and flagsSet record RegisterFlags, so that validation
	// errors name the flag.
	flagPrefix string
	flagsSet   bool
}

// withDefaults validates c and fills its zero fields; after RegisterFlags
// its errors name the flag.
func (c Config) withDefaults() (Config, error) {
	out, err := c.fill()
	return out, c.nameFlag(err)
}

func (c Config) fill() (Config, error) {
	if c.Limit < 1 {
		return c, fmt.Errorf("%w: Limit %d is less than 1", ErrInvalidConfig, c.Limit)
	}
	if c.Window <= 0 {
		return c, fmt.Errorf("%w: Window %v is not positive", ErrInvalidConfig, c.Window)
	}
	if c.Buckets == 0 {
		c.Buckets = DefaultBuckets
	}
	if c.Buckets < 0 || c.Buckets > crdt.MaxWindowBuckets {
		return c, fmt.Errorf("%w: Buckets %d is not in 1..%d", ErrInvalidConfig, c.Buckets, crdt.MaxWindowBuckets)
	}
	if int64(c.Window)%int64(c.Buckets) != 0 {
		return c, fmt.Errorf("%w: Window %v does not split into %d buckets of whole nanoseconds", ErrInvalidConfig, c.Window, c.Buckets)
	}
	switch {
	case c.Lag == 0:
		c.Lag = DefaultLag
	case c.Lag < 0:
		c.Lag = 0
	}
	if c.Partition != PartitionKeepLimit && c.Partition != PartitionScaleLimit {
		return c, fmt.Errorf("%w: Partition %d is unknown", ErrInvalidConfig, c.Partition)
	}
	if c.RateSpan == 0 {
		c.RateSpan = c.Window / 10
	}
	if c.RateSpan < 0 {
		return c, fmt.Errorf("%w: RateSpan %v is negative", ErrInvalidConfig, c.RateSpan)
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.SyncInterval < 0 {
		return c, fmt.Errorf("%w: SyncInterval %v is negative", ErrInvalidConfig, c.SyncInterval)
	}
	return c, nil
}

// Partition is what a limiter does when members of the cluster disappear
// (crashed, or cut off by a partition: a node cannot tell which).
type Partition int

const (
	// PartitionKeepLimit (the default) keeps limiting with what the node
	// knows: its own admissions and the peers' counts it last received,
	// which leave the window over W. A group of nodes cut off from the
	// rest admits up to Limit per window on its own, so k groups admit up
	// to k·Limit per window while the partition lasts.
	PartitionKeepLimit Partition = iota
	// PartitionScaleLimit scales the limit by the share of the cluster
	// still reachable: Limit·live/(live+failed), where failed members
	// count for max(10·Window, 1 minute) after they failed (members that
	// left on purpose do not count). k groups then admit about Limit in
	// total while the partition lasts, but a cluster that really lost
	// nodes admits less until that horizon has passed.
	PartitionScaleLimit
)
