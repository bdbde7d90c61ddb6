package ratelimit

import (
	"fmt"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// Defaults for the zero fields of Config.
const (
	// DefaultBuckets splits the window of a Limiter into 100 buckets: an
	// event frees its place at most W/100 after it left the window.
	DefaultBuckets = 100
	// DefaultHold is the longest a silent peer is assumed to keep
	// admitting at its last rate (capped at the window).
	DefaultHold = time.Second
	// DefaultLag is how long a peer's admissions take to reach this node
	// on the fast path: the sync interval plus the node's flush interval.
	DefaultLag = 20 * time.Millisecond
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
	// Hold is the longest this node assumes a silent peer keeps admitting
	// at its last measured rate (default DefaultHold, capped at Window).
	// It is the failure knob: see the package documentation for the bound
	// it sets on over-admission during a partition. Negative turns
	// extrapolation off.
	Hold time.Duration
	// Lag is how far behind the peers' counts are when they arrive
	// (default DefaultLag): extrapolation covers it.
	Lag time.Duration
	// RateSpan is how far back a peer's rate is measured (default
	// Window/10, at least one bucket).
	RateSpan time.Duration
	// SyncInterval is how often this node's own admissions are moved into
	// the shared counter while it admits (default DefaultSyncInterval);
	// the node's FlushInterval then batches them onto the wire.
	SyncInterval time.Duration
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
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
	case c.Hold == 0:
		c.Hold = min(DefaultHold, c.Window)
	case c.Hold < 0:
		c.Hold = 0
	case c.Hold > c.Window:
		c.Hold = c.Window
	}
	if c.Lag == 0 {
		c.Lag = DefaultLag
	}
	if c.Lag < 0 {
		return c, fmt.Errorf("%w: Lag %v is negative", ErrInvalidConfig, c.Lag)
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
