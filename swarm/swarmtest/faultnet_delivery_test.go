package swarmtest

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestFaultDeliveryQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(0, 0)
	var q deliveryQueue
	const items = 500
	for i := range items {
		// Few distinct due times, so ties are common and seq must break them.
		q.push(scheduledPacket{due: base.Add(time.Duration(rng.IntN(20))), seq: uint64(i)})
	}
	prev := q.pop()
	for range items - 1 {
		p := q.pop()
		if p.before(&prev) {
			t.Fatalf("popped (%v, %d) after (%v, %d)", p.due.Sub(base), p.seq, prev.due.Sub(base), prev.seq)
		}
		prev = p
	}
	if len(q) != 0 {
		t.Fatalf("queue holds %d items after popping all", len(q))
	}
}

func TestFaultDeliveryQueuePushReportsHead(t *testing.T) {
	base := time.Unix(0, 0)
	var q deliveryQueue
	steps := []struct {
		due  time.Duration
		head bool
	}{{5, true}, {7, false}, {3, true}, {3, false}, {1, true}}
	for i, s := range steps {
		if got := q.push(scheduledPacket{due: base.Add(s.due), seq: uint64(i)}); got != s.head {
			t.Errorf("push #%d (due %d) reported head = %v, want %v", i, s.due, got, s.head)
		}
	}
}
