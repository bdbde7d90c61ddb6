package swarm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// snapshotBenchNode is a node alone with n counters, each added to.
func snapshotBenchNode(b *testing.B, dir string, n int) *Node {
	b.Helper()
	cfg := DefaultLocalConfig("bench")
	cfg.StateDir, cfg.SnapshotInterval = dir, time.Hour
	nd, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = nd.Close() })
	for i := range n {
		c, err := NewCounter(nd, fmt.Sprintf("tenant-%06d", i))
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Add(int64(i + 1)); err != nil {
			b.Fatal(err)
		}
	}
	return nd
}

// BenchmarkSnapshotWrite100kValues: one snapshot of 100,000 values
// (counters), fsync included. It reports the file's size against the
// values' encoded states (payload and name): small values are where the
// per-value framing weighs most.
//
//	go test -run '^$' -bench Snapshot -benchtime 5x ./swarm/
func BenchmarkSnapshotWrite100kValues(b *testing.B) {
	dir := b.TempDir()
	nd := snapshotBenchNode(b, dir, 100_000)
	for b.Loop() {
		if err := nd.saveSnapshot(); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(filepath.Join(dir, snapshotFile))
	if err != nil {
		b.Fatal(err)
	}
	state := 0
	nd.valuesMu.RLock()
	for _, e := range nd.values {
		p, _ := e.a.encode(nd.codec, nil, e.a.clone())
		state += len(p) + len(e.name)
	}
	nd.valuesMu.RUnlock()
	b.ReportMetric(float64(st.Size()), "file-bytes")
	b.ReportMetric(float64(st.Size())/float64(state), "file/state")
}

// BenchmarkSnapshotLoad100kValues: New loading a snapshot of 100,000
// values, and registering every name (which merges its restored state).
func BenchmarkSnapshotLoad100kValues(b *testing.B) {
	dir := b.TempDir()
	nd := snapshotBenchNode(b, dir, 100_000)
	if err := nd.saveSnapshot(); err != nil {
		b.Fatal(err)
	}
	_ = nd.Close()
	names := make([]string, 100_000)
	for i := range names {
		names[i] = fmt.Sprintf("tenant-%06d", i)
	}
	for b.Loop() {
		cfg := DefaultLocalConfig("bench")
		cfg.StateDir, cfg.SnapshotInterval = dir, time.Hour
		n2, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range names {
			if _, err := NewCounter(n2, name); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		c, _ := NewCounter(n2, names[99])
		if v, _ := c.Value(); v != 100 {
			b.Fatalf("restored %d, want 100", v)
		}
		_ = n2.Close()
		b.StartTimer()
	}
}
