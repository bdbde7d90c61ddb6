package crdt_test

import (
	"fmt"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// Two replicas count on their own and converge by merging each other's
// state, in any order, any number of times.
func ExampleGCounter() {
	a := crdt.NewGCounter(crdt.Replica{Node: "a", Incarnation: 1})
	b := crdt.NewGCounter(crdt.Replica{Node: "b", Incarnation: 1})
	a.Add(3)
	b.Add(4)

	now := time.Unix(0, 0) // a GCounter ignores the time
	a.Merge(now, b.Clone())
	b.Merge(now, a.Clone())
	b.Merge(now, a.Clone()) // merging again changes nothing
	fmt.Println(a.Value(), b.Value())
	// Output: 7 7
}

// Gossip carries deltas, not states: Delta hands out what changed locally
// since the last call, and merging it is the same as merging the state.
func ExampleGCounter_Delta() {
	a := crdt.NewGCounter(crdt.Replica{Node: "a", Incarnation: 1})
	peer := crdt.NewGCounter(crdt.Replica{Node: "b", Incarnation: 1})
	a.Add(5)
	if d, ok := a.Delta(); ok {
		peer.Merge(time.Unix(0, 0), d)
	}
	_, again := a.Delta()
	fmt.Println(peer.Value(), again)
	// Output: 5 false
}

func ExamplePNCounter() {
	a := crdt.NewPNCounter(crdt.Replica{Node: "a", Incarnation: 1})
	b := crdt.NewPNCounter(crdt.Replica{Node: "b", Incarnation: 1})
	a.Add(10)
	b.Add(-3)
	a.Merge(time.Unix(0, 0), b.Clone())
	fmt.Println(a.Value())
	// Output: 7
}

// The later write wins on every replica; a write from a replica whose clock
// runs far ahead is accepted, but pins nothing past the next local write.
func ExampleLWWRegister() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := crdt.NewLWWRegister[string](crdt.Replica{Node: "a", Incarnation: 1}, crdt.LWWOptions{})
	skewed := crdt.NewLWWRegister[string](crdt.Replica{Node: "b", Incarnation: 1}, crdt.LWWOptions{})

	a.SetAt(t0, "blue")
	skewed.SetAt(t0.Add(24*time.Hour), "red")    // b's clock is a day ahead
	a.Merge(t0.Add(time.Second), skewed.Clone()) // refused: it would win over every write for a day
	v, _, _ := a.Get()
	fmt.Println(v, a.SkewRejections())

	a.SetAt(t0.Add(2*time.Second), "green")
	v, _, _ = a.Get()
	fmt.Println(v)

	a.Merge(t0.Add(24*time.Hour), skewed.Clone()) // offered again once a's clock is there
	v, _, _ = a.Get()
	fmt.Println(v)
	// Output:
	// blue 1
	// green
	// red
}

func ExampleLWWMap() {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := crdt.NewLWWMap[string, int](crdt.Replica{Node: "a", Incarnation: 1}, crdt.LWWOptions{TombstoneTTL: time.Hour})
	b := crdt.NewLWWMap[string, int](crdt.Replica{Node: "b", Incarnation: 1}, crdt.LWWOptions{})

	a.SetAt(t0, "x", 1)
	a.SetAt(t0, "y", 2)
	b.SetAt(t0.Add(time.Second), "x", 10)
	a.DeleteAt(t0.Add(2*time.Second), "y")
	a.Merge(t0.Add(3*time.Second), b.Clone())

	a.Range(func(k string, v int, _ crdt.Timestamp) bool {
		fmt.Println(k, v)
		return true
	})
	fmt.Println(a.Len(), a.ExpireAt(t0.Add(2*time.Hour)))
	// Output:
	// x 10
	// 1 1
}

// Add wins over a concurrent Remove: b removes the "x" it has seen while a
// adds "x" again; after merging both ways, "x" is in.
func ExampleORSet() {
	a := crdt.NewORSet[string](crdt.Replica{Node: "a", Incarnation: 1})
	b := crdt.NewORSet[string](crdt.Replica{Node: "b", Incarnation: 1})
	now := time.Unix(0, 0)
	a.Add("x")
	a.Add("y")
	b.Merge(now, a.Clone())

	b.Remove("x")
	b.Remove("y")
	a.Add("x")
	a.Merge(now, b.Clone())
	b.Merge(now, a.Clone())
	fmt.Println(a.Elements(), b.Elements())
	// Output: [x] [x]
}

// A window of 10 s in 5 buckets of 2 s. Half-way through the bucket after
// the window has moved past the first events, those count half.
func ExampleWindowCounter() {
	t0 := time.Unix(1_700_000_000, 0) // on a bucket boundary
	a, _ := crdt.NewWindowCounter(crdt.Replica{Node: "a", Incarnation: 1}, 10*time.Second, 5)
	b, err := crdt.NewWindowCounter(crdt.Replica{Node: "b", Incarnation: 1}, 10*time.Second, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	a.AddAt(t0, 4)                    // bucket 0
	b.AddAt(t0.Add(3*time.Second), 6) // bucket 1
	a.Merge(t0.Add(3*time.Second), b.Clone())

	fmt.Println(a.ValueAt(t0.Add(3 * time.Second)))
	fmt.Println(a.ValueAt(t0.Add(11 * time.Second))) // bucket 0 is half out
	for _, c := range a.Contributions(t0.Add(11 * time.Second)) {
		fmt.Println(c.Replica, c.Count, c.Newest.Sub(t0))
	}
	// Output:
	// 10
	// 8
	// a#1 2 0s
	// b#1 6 2s
}

// A hybrid logical clock orders events even when the wall clock stalls or
// goes backwards, and refuses to follow a peer too far ahead.
func ExampleClock() {
	t0 := time.Unix(1_700_000_000, 0)
	c := crdt.NewClock(crdt.Replica{Node: "a", Incarnation: 1}, time.Minute)
	x := c.Now(t0)
	y := c.Now(t0.Add(-time.Second)) // the wall clock stepped back
	fmt.Println(y.After(x), y.Logical)

	err := c.Observe(t0, crdt.Timestamp{Wall: t0.Add(time.Hour).UnixNano(), Replica: crdt.Replica{Node: "b", Incarnation: 1}})
	fmt.Println(err)
	// Output:
	// true 1
	// shoal/crdt: remote timestamp too far in the future: replica b#1 is 1h0m0s ahead (max skew 1m0s)
}
