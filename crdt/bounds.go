package crdt

import (
	"errors"
	"fmt"
	"slices"
)

// Bounds limit what one message from a peer may do to a local state. They
// are checked against the current local state, at merge time (Bounded.Check),
// because whether a count is a plausible step depends on what the receiver
// already holds. The zero value checks nothing.
type Bounds struct {
	// MaxCount is the ceiling of every count a message may carry: a
	// counter slot, a window bucket, an OR-set dot. 0 means none. A count
	// above it is refused (ErrCountCeiling), and a local count above it is
	// dropped by Sanitize: the max-merge can never lower a forged
	// math.MaxUint64, so the only cure is to forget it and take the count
	// back from healthy peers.
	MaxCount uint64
	// MaxStep is how far one message bound to an origin (a delta, not a
	// full state) may raise a count the receiver already holds; a window
	// bucket the receiver lacks counts from 0. 0 means no limit. Full
	// states are exempt: a replica that was away may legitimately be far
	// behind.
	MaxStep uint64
	// MaxReplicas is the most replicas (counter slots, window slots,
	// replicas in an OR-set's causal context) a value may hold after the
	// merge. 0 means no limit.
	MaxReplicas int
	// MaxTime is the latest wall-clock time (unix nanoseconds) a message
	// may carry, in a retirement record; 0 means no limit. swarm sets it
	// to now plus crdt.DefaultMaxSkew.
	MaxTime int64
}

// DefaultMaxCount is swarm's default Bounds.MaxCount: 2^50 (1.1·10^15),
// 35 years of one replica counting a million events a second. With
// DefaultMaxReplicas slots at the ceiling a sum is at most 2^62, so no sum
// of valid slots saturates a uint64 or leaves the int64 range of a
// PNCounter's value: a forged slot can make a value wrong, never freeze it.
const DefaultMaxCount = 1 << 50

// DefaultMaxStep is swarm's default Bounds.MaxStep: 2^32 (4.3·10^9), what a
// replica counts in an hour at 1.2 million events a second, far more than
// one flush interval or one lost delta holds.
const DefaultMaxStep = 1 << 32

// DefaultMaxReplicas is swarm's default Bounds.MaxReplicas: 4,096 slots,
// 80 times a cluster of 50 with every member restarted once, at about
// 40 bytes and a few nanoseconds of Value per slot.
const DefaultMaxReplicas = 4096

// DefaultBounds returns the defaults above.
func DefaultBounds() Bounds {
	return Bounds{MaxCount: DefaultMaxCount, MaxStep: DefaultMaxStep, MaxReplicas: DefaultMaxReplicas}
}

// ErrOutOfBounds is wrapped by every error of Bounded.Check: the message
// is well formed (it passed Validate) but would take the local state past
// a bound. Each error also wraps one of the sentinels below, which name
// the bound.
var ErrOutOfBounds = errors.New("shoal/crdt: message out of bounds")

var (
	// ErrCountCeiling is returned when a message carries a count above
	// Bounds.MaxCount.
	ErrCountCeiling = errors.New("count above the ceiling")
	// ErrCountStep is returned when a message bound to an origin raises a
	// count by more than Bounds.MaxStep.
	ErrCountStep = errors.New("count raised by more than the step")
	// ErrTooManyReplicas is returned when the merge would leave the value
	// with more than Bounds.MaxReplicas replicas.
	ErrTooManyReplicas = errors.New("too many replicas")
	// ErrForeignWrite is returned when a message bound to an origin writes
	// another replica's part of the state.
	ErrForeignWrite = errors.New("write to another replica's slot")
	// ErrFutureTime is returned when a message carries a wall-clock time
	// past Bounds.MaxTime.
	ErrFutureTime = errors.New("time too far in the future")
)

// Bounded is the optional interface through which swarm checks a peer's
// message before merging it; GCounter, PNCounter, WindowCounter and ORSet
// implement it. Check and Sanitize are pure and leave other untouched.
//
// origin binds the message: a delta, sent or relayed, carries only what
// its origin replica wrote, so a non-zero origin means other may only
// write origin's part of the state. The rule per type:
//
//   - GCounter, PNCounter, WindowCounter: every slot is origin's.
//   - ORSet: every entry's dot is origin's. The causal context may hold
//     other replicas' dots, because a Remove covers the dots of entries
//     other replicas added; such a dot removes nothing the origin has not
//     seen and, bounded by MaxStep above what the receiver knows of that
//     replica, can at most make the receiver skip MaxStep of that
//     replica's future dots (which the replica itself skips as soon as it
//     sees them).
//
// A zero origin is a full state from anti-entropy: it may carry every
// replica's part, within MaxCount and MaxReplicas.
type Bounded[T any] interface {
	// Check reports whether merging other into the receiver keeps within
	// b and, for a non-zero origin, writes only origin's part. The error
	// wraps ErrOutOfBounds and one of ErrCountCeiling, ErrCountStep,
	// ErrTooManyReplicas and ErrForeignWrite. Check costs about what the
	// merge costs, O(len(receiver)+len(other)), and allocates nothing.
	Check(other T, origin Replica, b Bounds) error

	// Sanitize drops from the receiver every count above b.MaxCount (a
	// state poisoned before the bound was enforced), with what depends on
	// it, and returns how many it dropped. The dropped parts come back,
	// at their true value, from any healthy peer's state. O(len(receiver)).
	Sanitize(b Bounds) int
}

var (
	_ Bounded[*GCounter]      = (*GCounter)(nil)
	_ Bounded[*PNCounter]     = (*PNCounter)(nil)
	_ Bounded[*WindowCounter] = (*WindowCounter)(nil)
	_ Bounded[*ORSet[string]] = (*ORSet[string])(nil)
)

// outOfBounds formats a Check error wrapping both sentinels.
func outOfBounds(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrOutOfBounds, kind, fmt.Sprintf(format, args...))
}

// checkCount checks one count n of replica r, which the receiver holds at
// mine (0 if not at all, held telling which).
func checkCount(r Replica, n, mine uint64, held, bound bool, b Bounds) error {
	if b.MaxCount != 0 && n > b.MaxCount {
		return outOfBounds(ErrCountCeiling, "%s: %d > %d", r, n, b.MaxCount)
	}
	if bound && held && b.MaxStep != 0 && n > mine && n-mine > b.MaxStep {
		return outOfBounds(ErrCountStep, "%s: %d → %d, step > %d", r, mine, n, b.MaxStep)
	}
	return nil
}

// checkReplicas checks that have replicas plus added new ones fit b.
func checkReplicas(have, added int, b Bounds) error {
	if b.MaxReplicas > 0 && added > 0 && have+added > b.MaxReplicas {
		return outOfBounds(ErrTooManyReplicas, "%d + %d new > %d", have, added, b.MaxReplicas)
	}
	return nil
}

// seek returns the index of the first element of s from i on whose replica
// is not before r. s is sorted by replica; a check walks it once for the
// m replicas of a message in order. A message much smaller than s (a
// delta: one slot) is looked up by binary search, so checking it costs
// O(log n), not O(n); a full state is walked linearly, O(n+m) in all.
func seek[E any](s []E, i int, r Replica, m int, replica func(E) Replica) int {
	if searchFaster(m, len(s)-i) {
		j, _ := slices.BinarySearchFunc(s[i:], r, func(e E, r Replica) int { return replica(e).Compare(r) })
		return i + j
	}
	for i < len(s) && replica(s[i]).Compare(r) < 0 {
		i++
	}
	return i
}
