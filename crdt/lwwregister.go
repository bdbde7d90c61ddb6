package crdt

import (
	"fmt"
	"time"
)

// DefaultTombstoneTTL is how long an LWWMap keeps the tombstone of a
// deleted key before ExpireAt may drop it.
const DefaultTombstoneTTL = time.Hour

// LWWOptions configures LWWRegister and LWWMap. The zero value selects the
// defaults.
type LWWOptions struct {
	// MaxSkew is how far ahead of the local wall clock a remote timestamp
	// may be before the local clock refuses to follow it (see Clock). Zero
	// or negative selects DefaultMaxSkew.
	MaxSkew time.Duration
	// TombstoneTTL is how long an LWWMap keeps a deleted key's tombstone.
	// Zero or negative selects DefaultTombstoneTTL. LWWRegister ignores it.
	TombstoneTTL time.Duration
}

// String names the options, for error messages.
func (o LWWOptions) String() string {
	return fmt.Sprintf("MaxSkew %v, TombstoneTTL %v", o.MaxSkew, o.TombstoneTTL)
}

// WithDefaults returns o with every zero or negative field replaced by
// its default, so that equivalent options compare equal.
func (o LWWOptions) WithDefaults() LWWOptions {
	if o.MaxSkew <= 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	o.TombstoneTTL = o.tombstoneTTL()
	return o
}

func (o LWWOptions) tombstoneTTL() time.Duration {
	if o.TombstoneTTL <= 0 {
		return DefaultTombstoneTTL
	}
	return o.TombstoneTTL
}

// LWWRegister holds one value of type T; of concurrent writes the one with
// the highest Timestamp wins, on every replica alike. T is copied by
// assignment: if it holds pointers, slices or maps, treat the values stored
// as immutable.
//
// A remote write stamped more than the maximum skew ahead of the local
// wall clock is refused by Merge and never stored (counted by
// SkewRejections): stored, it would win over every later write, local
// ones included, for as long as it stays ahead. Anti-entropy offers it
// again, so a replica whose clock is merely behind takes it once its clock
// has caught up. The next local SetAt is ordered after the current value.
//
// The zero value is an empty wire state. LWWRegister is not safe for
// concurrent use; the caller serialises access.
type LWWRegister[T any] struct {
	V  T         `cbor:"1,keyasint"`
	TS Timestamp `cbor:"2,keyasint"`

	clock Clock
	dirty bool // the current value was written locally since the last Delta
}

var _ Value[*LWWRegister[int]] = (*LWWRegister[int])(nil)

// NewLWWRegister returns an unset register owned by self.
func NewLWWRegister[T any](self Replica, opts LWWOptions) *LWWRegister[T] {
	return &LWWRegister[T]{clock: Clock{self: self, maxSkew: opts.MaxSkew}}
}

// SetAt writes v at wall time now. The write is timestamped after
// everything the register has seen, including its current value.
func (r *LWWRegister[T]) SetAt(now time.Time, v T) {
	r.V = v
	r.TS = nextTimestamp(&r.clock, now, r.TS)
	r.dirty = true
}

// nextTimestamp returns a timestamp from c that is also after cur.
func nextTimestamp(c *Clock, now time.Time, cur Timestamp) Timestamp {
	ts := c.Now(now)
	if !ts.After(cur) {
		ts = cur.tick()
		ts.Replica = c.self
	}
	return ts
}

// Get returns the current value and its timestamp; ok is false if the
// register was never set.
func (r *LWWRegister[T]) Get() (v T, ts Timestamp, ok bool) {
	return r.V, r.TS, !r.TS.IsZero()
}

// SkewRejections returns how many remote writes Merge refused because
// their timestamp was more than the maximum skew ahead of the local wall
// clock.
func (r *LWWRegister[T]) SkewRejections() uint64 { return r.clock.SkewRejections() }

// Merge keeps the value with the higher timestamp, unless other's is more
// than the maximum skew ahead of now: then other is refused and counted
// (SkewRejections). The effect is a copy of other when other won.
func (r *LWWRegister[T]) Merge(now time.Time, other *LWWRegister[T]) (effect *LWWRegister[T], changed bool) {
	if other == nil || r == other || other.TS.IsZero() || r.clock.refuse(now, other.TS) || !other.TS.After(r.TS) {
		return nil, false
	}
	_ = r.clock.Observe(now, other.TS) // within the cap, checked above
	r.V, r.TS = other.V, other.TS
	r.dirty = false // the local write, if any, lost
	return &LWWRegister[T]{V: other.V, TS: other.TS, clock: Clock{maxSkew: r.clock.maxSkew}}, true
}

// Delta returns the register if it was set locally since the last Delta
// and no remote write has replaced that value since.
func (r *LWWRegister[T]) Delta() (delta *LWWRegister[T], ok bool) {
	if !r.dirty {
		return nil, false
	}
	r.dirty = false
	return r.Clone(), true
}

// Clone returns a copy of the value and timestamp as a wire state, with
// the receiver's skew cap.
func (r *LWWRegister[T]) Clone() *LWWRegister[T] {
	return &LWWRegister[T]{V: r.V, TS: r.TS, clock: Clock{maxSkew: r.clock.maxSkew}}
}

// Empty returns an unset wire state with the receiver's skew cap.
func (r *LWWRegister[T]) Empty() *LWWRegister[T] {
	return &LWWRegister[T]{clock: Clock{maxSkew: r.clock.maxSkew}}
}

// Validate checks a decoded state: a set register names the replica that
// wrote it. Errors wrap ErrInvalidState.
func (r *LWWRegister[T]) Validate() error {
	if err := r.TS.validate(); err != nil {
		return fmt.Errorf("lwwregister: %w", err)
	}
	return nil
}
