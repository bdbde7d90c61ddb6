package crdt

import "time"

// Value is the contract every CRDT in this package meets; T is the type's
// own pointer type (for example *GCounter implements Value[*GCounter]).
// The swarm package holds any Value behind a typed handle and moves states
// and deltas between replicas with it, so the methods below are all it
// needs to know about a type.
//
// A state is either local (made by the type's constructor with the
// replica that owns it, and the only kind that accepts local updates) or a
// wire state (decoded from the network into Empty(), or returned by Delta,
// Clone or Merge), which is only ever merged into a local state.
//
// Validate checks a decoded state on its own. What a message may do to a
// particular receiver (how high a count may be, how far one delta may raise
// it, how many replicas a value may hold, which replica's slots a delta may
// write) depends on the receiver's state: a type with counts also
// implements Bounded, whose Check the caller runs just before Merge, and
// whose Sanitize drops local counts that break the bounds (see bounds.go).
//
// Values are not safe for concurrent use; the caller serialises access.
type Value[T any] interface {
	// Merge folds other into the receiver. now is the local wall clock: a
	// type with a hybrid logical clock uses it to refuse being dragged
	// forward by a remote timestamp too far in the future, a windowed type
	// to drop expired buckets; the merged state itself depends only on the
	// two states. Merge returns the effect: a wire state holding only the
	// parts of other that changed the receiver (what a relay forwards), and
	// changed=false with a nil effect when other added nothing. Merge never
	// modifies other and keeps no reference to it. The effect may be other
	// itself when all of other was new (a counter's delta usually is: a
	// receiver then allocates nothing for it); treat it as read-only, like
	// other. Merging a Delta is the same as merging the full state it came
	// from.
	Merge(now time.Time, other T) (effect T, changed bool)

	// Delta returns the local changes made since the previous call to Delta
	// (or since construction) as a wire state, and resets that tracking; ok
	// is false when there are none. Changes merged in from other replicas
	// are not part of it.
	Delta() (delta T, ok bool)

	// Clone returns a deep copy of the full state that shares nothing with
	// the receiver, as a wire state.
	Clone() T

	// Empty returns an empty wire state of the same type and configuration
	// (window length, bucket count, ...), the target for decoding a remote
	// state before Validate.
	Empty() T

	// Validate checks a state decoded from the wire: invariants (sorted,
	// no duplicate replicas, counts within range, configuration equal to the
	// Empty it was decoded into) and rebuilds derived fields. The error names
	// what was wrong. A state that fails Validate must not be merged. The
	// checks Validate runs are lower and upper bounds of the state alone;
	// bounds relative to a receiver belong to Bounded.Check.
	Validate() error
}
