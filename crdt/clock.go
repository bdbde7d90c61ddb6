package crdt

import (
	"fmt"
	"math"
	"time"
)

// DefaultMaxSkew is how far ahead of the local wall clock a remote
// timestamp may be before a Clock refuses to follow it.
const DefaultMaxSkew = time.Minute

// Clock is a hybrid logical clock. Now returns timestamps strictly greater
// than every timestamp it has issued or observed; Observe moves it forward
// to a remote timestamp, unless that timestamp is more than the maximum
// skew ahead of the local wall clock. The cap keeps one replica with a
// clock far in the future from dragging every other replica's clock (and
// so every later write) with it.
//
// The wall time is always an argument: a Clock never reads the system
// clock. The zero Clock has the zero Replica and DefaultMaxSkew. A Clock is
// not safe for concurrent use.
type Clock struct {
	self       Replica
	maxSkew    time.Duration
	last       Timestamp // (Wall, Logical) of the latest issued or observed
	rejections uint64
}

// NewClock returns a clock for replica self. maxSkew is how far ahead of
// the local wall clock an observed timestamp may be; zero or negative
// selects DefaultMaxSkew.
func NewClock(self Replica, maxSkew time.Duration) *Clock {
	return &Clock{self: self, maxSkew: maxSkew}
}

// MaxSkew returns the skew cap in force.
func (c *Clock) MaxSkew() time.Duration {
	if c.maxSkew <= 0 {
		return DefaultMaxSkew
	}
	return c.maxSkew
}

// Now returns a timestamp for an event at wall time now: now itself if it
// is later than everything seen, otherwise the latest seen with the
// logical counter advanced. (At the very end of int64 nanoseconds, where
// nothing is later, it returns the same reading again.)
func (c *Clock) Now(now time.Time) Timestamp {
	w := now.UnixNano()
	if w > c.last.Wall {
		c.last = Timestamp{Wall: w}
	} else {
		c.last = c.last.tick()
	}
	return Timestamp{Wall: c.last.Wall, Logical: c.last.Logical, Replica: c.self}
}

// Observe records a remote timestamp so that later calls to Now return
// timestamps after it. If ts is more than the maximum skew ahead of now,
// the clock does not move, the rejection is counted (SkewRejections) and
// the error, wrapping ErrClockSkew, names the replica and how far ahead it
// is.
func (c *Clock) Observe(now time.Time, ts Timestamp) error {
	if c.refuse(now, ts) {
		ahead := time.Duration(satSubInt64(ts.Wall, now.UnixNano()))
		return fmt.Errorf("%w: replica %s is %v ahead (max skew %v)", ErrClockSkew, ts.Replica, ahead, c.MaxSkew())
	}
	if ts.Wall > c.last.Wall || (ts.Wall == c.last.Wall && ts.Logical > c.last.Logical) {
		c.last = Timestamp{Wall: ts.Wall, Logical: ts.Logical}
	}
	return nil
}

// SkewRejections returns how many timestamps Observe (or a merge, for
// the types that refuse such entries) has refused.
func (c *Clock) SkewRejections() uint64 { return c.rejections }

// refuse reports whether ts is more than the maximum skew ahead of now,
// and counts it if so. LWWRegister and LWWMap refuse such a write at merge:
// stored, it would win over every later write for as long as it is ahead.
func (c *Clock) refuse(now time.Time, ts Timestamp) bool {
	if ts.Wall > satAddInt64(now.UnixNano(), int64(c.MaxSkew())) {
		c.rejections++
		return true
	}
	return false
}

func satAddInt64(a, b int64) int64 {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

func satSubInt64(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return satAddInt64(a, -b)
}
