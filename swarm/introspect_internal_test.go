package swarm

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-go/shoal/crdt"
)

// countingRanger counts the entries a description visits.
type countingRanger struct {
	*crdt.LWWMap[string, int]
	visited int
}

func (c *countingRanger) RangeAny(fn func(key, value any, ts crdt.Timestamp, deleted bool) bool) {
	c.LWWMap.RangeAny(func(k, v any, ts crdt.Timestamp, d bool) bool {
		c.visited++
		return fn(k, v, ts, d)
	})
}

// Describing a map of 20,000 keys visits the entries it shows and no
// more: on main it formatted every entry under the value's lock before
// cutting to 200 (287 ms at 200,000 keys).
func TestDescribeMapVisitsOnlyWhatItShows(t *testing.T) {
	m := crdt.NewLWWMap[string, int](crdt.Replica{Node: "a", Incarnation: 1}, crdt.LWWOptions{})
	now := time.Unix(1_700_000_000, 0)
	for i := range 20_000 {
		m.SetAt(now, fmt.Sprintf("k-%05d", i), i)
	}
	for i := range 100 {
		m.DeleteAt(now, fmt.Sprintf("k-%05d", i))
	}
	c := &countingRanger{LWWMap: m}
	var info ValueInfo
	describeValue(&info, c, now)
	if c.visited > maxInfoEntries+1 {
		t.Fatalf("the description visited %d entries to show %d", c.visited, len(info.Entries))
	}
	if len(info.Entries) != maxInfoEntries || info.MoreEntries != 20_000-maxInfoEntries {
		t.Fatalf("shown %d, more %d", len(info.Entries), info.MoreEntries)
	}
	if info.Value != "19900 keys (+100 deleted)" || !info.Entries[0].Deleted || info.Entries[0].Key != "k-00000" {
		t.Fatalf("Value %q, first entry %+v", info.Value, info.Entries[0])
	}
}
