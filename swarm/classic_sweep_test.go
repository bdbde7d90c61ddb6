package swarm

import (
	"strconv"
	"testing"
	"time"
)

// The sweep's cost per chunk (classicSweepChunk keys, once a second):
// go test -run '^$' -bench ClassicSweep -benchmem ./swarm/
func BenchmarkClassicSweep(b *testing.B) {
	cfg := DefaultLocalConfig("sweep")
	cfg.FlushInterval = time.Hour // measure the sweep, not the flush of 10,000 values
	n, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	s, err := NewSwarmOnNode(n, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for k := range classicSweepChunk {
		if err := s.ShareValue("k"+strconv.Itoa(k), int64(k)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		s.sweep()
	}
	if s.Len() != classicSweepChunk {
		b.Fatalf("the sweep forgot keys this node shares: %d left", s.Len())
	}
}
