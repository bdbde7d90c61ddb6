package plumtree

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// benchTree returns a tree with eight neighbours, as a node of a large
// cluster has (its own view and peers that linked to it), two of them
// lazy, and the messages of linking taken.
func benchTree(b *testing.B) *Tree {
	b.Helper()
	tr, err := New(DefaultConfig("self", "self/1"))
	if err != nil {
		b.Fatal(err)
	}
	tr.SetView([]Peer{"n1", "n2", "n3", "n4", "n5", "n6"})
	for _, p := range []Peer{"n7", "n8"} {
		if _, _, err := tr.Step(t0, Message{Kind: Hello, From: p}); err != nil {
			b.Fatal(err)
		}
	}
	tr.Ready()
	return tr
}

// BenchmarkRelay measures a relay's step for a broadcast that arrives over
// the tree and is pushed on, from an origin whose tree the node keeps
// (known) or from a new one each time (new): its time and allocation
// (BenchmarkOriginTrees measures what a tree keeps).
func BenchmarkRelay(b *testing.B) {
	payload := []byte("a delta")
	origins := make([]string, 1<<12)
	for i := range origins {
		origins[i] = fmt.Sprintf("origin-%04d", i)
	}
	b.Run("known", func(b *testing.B) {
		tr := benchTree(b)
		out := make([]Message, 0, 16)
		now := t0
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			now = now.Add(time.Millisecond)
			m := Message{Kind: Gossip, From: "n1", ID: ID{Origin: origins[i%16], Seq: uint64(i/16 + 1)}, Payload: payload}
			if _, _, err := tr.Step(now, m); err != nil {
				b.Fatal(err)
			}
			out = tr.AppendReady(out[:0])
		}
	})
	b.Run("new", func(b *testing.B) {
		var tr *Tree
		out := make([]Message, 0, 16)
		now := t0
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if i%len(origins) == 0 {
				b.StopTimer()
				tr = benchTree(b) // every origin is new to it
				b.StartTimer()
			}
			now = now.Add(time.Millisecond)
			m := Message{Kind: Gossip, From: "n1", ID: ID{Origin: origins[i%len(origins)], Seq: 1}, Payload: payload}
			if _, _, err := tr.Step(now, m); err != nil {
				b.Fatal(err)
			}
			out = tr.AppendReady(out[:0])
		}
	})
}

// BenchmarkOriginTrees measures the heap an origin's tree keeps at a
// node with eight neighbours (B/origin), over 4,096 origins.
func BenchmarkOriginTrees(b *testing.B) {
	origins := make([]string, 1<<12)
	for i := range origins {
		origins[i] = fmt.Sprintf("origin-%04d", i)
	}
	var per float64
	for b.Loop() {
		b.StopTimer()
		tr := benchTree(b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for _, o := range origins {
			tr.tree(t0, o)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		per = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(len(origins))
		runtime.KeepAlive(tr)
		b.StartTimer()
	}
	b.ReportMetric(per, "B/origin")
}
