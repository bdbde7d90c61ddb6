package swarm

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
)

func pendingEnv(name, origin string, payload int) *codec.Envelope {
	return &codec.Envelope{Kind: codec.KindDelta, Name: name, Type: "*crdt.GCounter",
		Origin: crdt.Replica{Node: origin, Incarnation: 1}, Payload: make([]byte, payload)}
}

// Thousands of values for unregistered names: the store never holds more
// than its byte bound, evicts the oldest first, counts every drop, refuses
// what is larger than the bound alone, and gives the bytes back on take.
// (Main bounded entries only: 60 values of 8 MiB kept 480 MiB.)
func TestPendingStoreBoundsBytes(t *testing.T) {
	const maxBytes = 1 << 20
	drops := map[string]int{}
	p := newPendingStore(100_000, maxBytes, func(r string) { drops[r]++ })
	const n, payload = 5000, 4096
	for i := range n {
		p.put(pendingEnv(fmt.Sprintf("v-%d", i), "peer", payload))
		if _, b := p.usage(); b > maxBytes {
			t.Fatalf("after %d puts the store holds %d bytes, bound %d", i+1, b, maxBytes)
		}
	}
	held, bytes := p.usage()
	if held == 0 || held > maxBytes/payload || bytes < maxBytes-2*(payload+pendingOverhead+64) {
		t.Fatalf("held %d values in %d bytes; want the bound filled by the newest", held, bytes)
	}
	if drops[dropPendingBytes] != n-held {
		t.Fatalf("drops %v, want %d pending_bytes", drops, n-held)
	}
	if got := p.take(fmt.Sprintf("v-%d", n-1)); len(got) != 1 || len(got[0].Payload) != payload {
		t.Fatalf("the newest value is gone: %d", len(got))
	}
	if got := p.take("v-0"); len(got) != 0 {
		t.Fatalf("the oldest value was kept")
	}

	// Larger than the bound alone: refused, counted, nothing evicted.
	before, _ := p.usage()
	p.put(pendingEnv("huge", "peer", maxBytes))
	if after, _ := p.usage(); after != before || drops[dropPendingBytes] != n-held+1 {
		t.Fatalf("a value over the bound was kept (held %d → %d, drops %v)", before, after, drops)
	}

	// Replacing a value from the same origin does not count it twice.
	p.put(pendingEnv("again", "peer", 100))
	_, b1 := p.usage()
	p.put(pendingEnv("again", "peer", 100))
	if _, b2 := p.usage(); b2 != b1 {
		t.Fatalf("a replacement changed the bytes held: %d → %d", b1, b2)
	}

	for i := range n {
		p.take(fmt.Sprintf("v-%d", i))
	}
	p.take("again")
	if held, bytes := p.usage(); held != 0 || bytes != 0 || p.order != nil {
		t.Fatalf("after taking everything: %d values, %d bytes, order %d", held, bytes, len(p.order))
	}
}

// The count bound still holds, and its drops have their own reason.
func TestPendingStoreBoundsCount(t *testing.T) {
	var full atomic.Int64
	p := newPendingStore(100, 1<<30, func(r string) {
		if r == dropPendingFull {
			full.Add(1)
		}
	})
	for i := range 3000 {
		p.put(pendingEnv(fmt.Sprintf("v-%d", i), strings.Repeat("o", i%7+1), 10))
	}
	if held, _ := p.usage(); held != 100 || full.Load() != 2900 {
		t.Fatalf("held %d, pending_full drops %d", held, full.Load())
	}
}
