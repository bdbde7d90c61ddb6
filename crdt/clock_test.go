package crdt

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestClockSteps(t *testing.T) {
	self, peer := Replica{"b", 1}, Replica{"a", 1}
	t1 := t0.Add(time.Second)
	w0, w1 := t0.UnixNano(), t1.UnixNano()
	type step struct {
		name    string
		now     time.Time
		observe *Timestamp // nil: call Now
		want    Timestamp  // Now's result
		skewErr bool
	}
	steps := []step{
		{name: "first reading is the wall time", now: t0, want: Timestamp{Wall: w0, Replica: self}},
		{name: "wall stalls: logical ticks", now: t0, want: Timestamp{Wall: w0, Logical: 1, Replica: self}},
		{name: "wall goes backwards: logical ticks", now: t0.Add(-time.Hour), want: Timestamp{Wall: w0, Logical: 2, Replica: self}},
		{name: "wall advances: logical resets", now: t1, want: Timestamp{Wall: w1, Replica: self}},
		{name: "observe a peer slightly ahead", now: t1, observe: &Timestamp{Wall: w1 + 500, Logical: 7, Replica: peer}},
		{name: "now follows the observed peer", now: t1, want: Timestamp{Wall: w1 + 500, Logical: 8, Replica: self}},
		{name: "observe an older timestamp: no move", now: t1, observe: &Timestamp{Wall: w0, Logical: 99, Replica: peer}},
		{name: "still after the peer", now: t1, want: Timestamp{Wall: w1 + 500, Logical: 9, Replica: self}},
		{name: "observe a peer an hour ahead: rejected", now: t1, observe: &Timestamp{Wall: w1 + int64(time.Hour), Replica: peer}, skewErr: true},
		{name: "the skewed peer did not move the clock", now: t1, want: Timestamp{Wall: w1 + 500, Logical: 10, Replica: self}},
		{name: "exactly max skew ahead is accepted", now: t1, observe: &Timestamp{Wall: w1 + int64(time.Minute), Replica: peer}},
		{name: "now after the accepted one", now: t1.Add(time.Second), want: Timestamp{Wall: w1 + int64(time.Minute), Logical: 1, Replica: self}},
	}
	c := NewClock(self, 0)
	for _, s := range steps {
		if s.observe != nil {
			err := c.Observe(s.now, *s.observe)
			if s.skewErr != errors.Is(err, ErrClockSkew) {
				t.Fatalf("%s: Observe = %v, want skew error %v", s.name, err, s.skewErr)
			}
			if s.skewErr && (!strings.Contains(err.Error(), peer.String()) || !strings.Contains(err.Error(), "1h0m0s")) {
				t.Fatalf("%s: error %q does not name the replica and the skew", s.name, err)
			}
			continue
		}
		if got := c.Now(s.now); got != s.want {
			t.Fatalf("%s: Now = %s, want %s", s.name, got, s.want)
		}
	}
	if c.SkewRejections() != 1 {
		t.Fatalf("SkewRejections = %d, want 1", c.SkewRejections())
	}
	if c.MaxSkew() != DefaultMaxSkew {
		t.Fatalf("MaxSkew = %v, want the default", c.MaxSkew())
	}
}

func TestClockLogicalOverflow(t *testing.T) {
	c := NewClock(Replica{"a", 1}, time.Second)
	if err := c.Observe(t0, Timestamp{Wall: t0.UnixNano(), Logical: math.MaxUint32, Replica: Replica{"b", 1}}); err != nil {
		t.Fatal(err)
	}
	got := c.Now(t0)
	if want := (Timestamp{Wall: t0.UnixNano() + 1, Replica: Replica{"a", 1}}); got != want {
		t.Fatalf("Now = %s, want %s (logical overflow carries into the wall)", got, want)
	}
}

func TestClockExtremeTimes(t *testing.T) {
	c := NewClock(Replica{"a", 1}, time.Duration(math.MaxInt64))
	end := time.Unix(0, math.MaxInt64)
	if err := c.Observe(end, Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32, Replica: Replica{"b", 1}}); err != nil {
		t.Fatalf("Observe at the end of time: %v", err)
	}
	a, b := c.Now(end), c.Now(end)
	if a.Compare(b) != 0 || a.Wall != math.MaxInt64 {
		t.Fatalf("at the end of time Now must stay put without overflowing: %s %s", a, b)
	}
	old := NewClock(Replica{"a", 1}, time.Minute)
	if err := old.Observe(time.Unix(0, math.MinInt64), Timestamp{Wall: math.MaxInt64, Replica: Replica{"b", 1}}); !errors.Is(err, ErrClockSkew) {
		t.Fatalf("Observe = %v, want ErrClockSkew", err)
	}
}

func TestTimestampOrder(t *testing.T) {
	a, b := Replica{"a", 1}, Replica{"b", 1}
	for _, tc := range []struct {
		x, y Timestamp
		want int
	}{
		{Timestamp{Wall: 1, Replica: b}, Timestamp{Wall: 2, Replica: a}, -1},
		{Timestamp{Wall: 2, Logical: 0, Replica: b}, Timestamp{Wall: 2, Logical: 1, Replica: a}, -1},
		{Timestamp{Wall: 2, Logical: 1, Replica: a}, Timestamp{Wall: 2, Logical: 1, Replica: b}, -1},
		{Timestamp{Wall: 2, Logical: 1, Replica: b}, Timestamp{Wall: 2, Logical: 1, Replica: b}, 0},
		{Timestamp{Wall: 2, Logical: 1, Replica: Replica{"a", 2}}, Timestamp{Wall: 2, Logical: 1, Replica: a}, 1},
	} {
		if got := tc.x.Compare(tc.y); got != tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.x, tc.y, got, tc.want)
		}
		if got := tc.y.Compare(tc.x); got != -tc.want {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.y, tc.x, got, -tc.want)
		}
		if tc.x.After(tc.y) != (tc.want > 0) {
			t.Errorf("%s.After(%s) wrong", tc.x, tc.y)
		}
	}
}
