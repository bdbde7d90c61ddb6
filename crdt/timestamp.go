package crdt

import (
	"cmp"
	"fmt"
	"math"
	"time"
)

// Timestamp is a hybrid logical clock reading: wall time in Unix
// nanoseconds, a logical counter that orders events within one wall
// nanosecond (or while the wall clock stalls or goes backwards), and the
// replica that issued it, which breaks the remaining ties. Timestamps are
// totally ordered by (Wall, Logical, Replica), so two replicas always agree
// which of two writes is the last.
//
// The zero Timestamp is before every timestamp a Clock issues.
type Timestamp struct {
	_       struct{} `cbor:",toarray"`
	Wall    int64
	Logical uint32
	Replica Replica
}

// Compare orders t and o by Wall, then Logical, then Replica. It returns
// -1, 0 or +1 like cmp.Compare.
func (t Timestamp) Compare(o Timestamp) int {
	if c := cmp.Compare(t.Wall, o.Wall); c != 0 {
		return c
	}
	if c := cmp.Compare(t.Logical, o.Logical); c != 0 {
		return c
	}
	return t.Replica.Compare(o.Replica)
}

// After reports whether t is strictly later than o.
func (t Timestamp) After(o Timestamp) bool { return t.Compare(o) > 0 }

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool {
	return t.Wall == 0 && t.Logical == 0 && t.Replica.IsZero()
}

// Time returns the wall part of t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Unix(0, t.Wall) }

// String returns a readable form, for logs and test failures.
func (t Timestamp) String() string {
	return fmt.Sprintf("%d.%d@%s", t.Wall, t.Logical, t.Replica)
}

// tick returns the smallest (Wall, Logical) pair after t's.
func (t Timestamp) tick() Timestamp {
	if t.Logical == math.MaxUint32 {
		if t.Wall == math.MaxInt64 {
			return t // the end of time; nothing is later
		}
		return Timestamp{Wall: t.Wall + 1, Replica: t.Replica}
	}
	return Timestamp{Wall: t.Wall, Logical: t.Logical + 1, Replica: t.Replica}
}

// validate checks a timestamp decoded from the wire.
func (t Timestamp) validate() error {
	if t.IsZero() {
		return nil
	}
	if t.Replica.IsZero() {
		return fmt.Errorf("%w: timestamp %s has the zero replica", ErrInvalidState, t)
	}
	return nil
}
