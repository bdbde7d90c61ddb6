package crdt

import (
	"errors"
	"testing"
	"time"
)

// Observe at the wall time the clock already holds orders by the logical
// counter: a larger one moves the clock, a smaller one does not.
func TestClockObserveAtEqualWallTime(t *testing.T) {
	c := NewClock(ra, time.Minute)
	now := time.Unix(100, 0)
	first := c.Now(now) // (100 s, 0)
	if err := c.Observe(now, Timestamp{Wall: first.Wall, Logical: 5, Replica: rb}); err != nil {
		t.Fatal(err)
	}
	if ts := c.Now(now); ts.Wall != first.Wall || ts.Logical != 6 {
		t.Fatalf("Now after observing logical 5 = %+v, want logical 6", ts)
	}
	if err := c.Observe(now, Timestamp{Wall: first.Wall, Logical: 2, Replica: rb}); err != nil {
		t.Fatal(err)
	}
	if ts := c.Now(now); ts.Logical != 7 {
		t.Fatalf("Now after observing an older logical = %+v, want logical 7", ts)
	}
	// The skew cap at its edge: exactly MaxSkew ahead is followed, one
	// nanosecond more is not.
	edge := Timestamp{Wall: now.Add(time.Minute).UnixNano(), Replica: rb}
	if err := c.Observe(now, edge); err != nil {
		t.Fatalf("Observe at the skew cap = %v", err)
	}
	past := Timestamp{Wall: edge.Wall + 1, Replica: rb}
	if err := c.Observe(now, past); !errors.Is(err, ErrClockSkew) {
		t.Fatalf("Observe past the skew cap = %v, want ErrClockSkew", err)
	}
	if ts := c.Now(now); ts.Wall != edge.Wall || ts.Logical != 1 {
		t.Fatalf("Now = %+v, want just after the followed edge", ts)
	}
}
