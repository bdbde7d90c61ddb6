package swarmtest

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkNetworkPacket measures the cost of carrying one 512-byte packet
// from WriteTo to the receiver's PacketCh:
//   - direct: no delay, so WriteTo delivers in the caller's goroutine;
//   - delayed: 1µs delay plus jitter, through the timer heap and the
//     delivery goroutine, with a separate receiver;
//   - parallel: direct, from GOMAXPROCS senders on their own transport
//     pairs at once (contention on the shared network state).
func BenchmarkNetworkPacket(b *testing.B) {
	payload := make([]byte, 512)

	b.Run("direct", func(b *testing.B) {
		n := newFaultNetwork(b, FaultConfig{})
		src := newFaultTransport(b, n, "src")
		dst := newFaultTransport(b, n, "dst")
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if _, err := src.WriteTo(payload, dst.Addr()); err != nil {
				b.Fatal(err)
			}
			<-dst.PacketCh()
		}
	})

	b.Run("delayed", func(b *testing.B) {
		n := newFaultNetwork(b, FaultConfig{Delay: time.Microsecond, Jitter: time.Microsecond})
		src := newFaultTransport(b, n, "src")
		dst := newFaultTransport(b, n, "dst")
		var received atomic.Int64
		stop := make(chan struct{})
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for {
				select {
				case <-dst.PacketCh():
					received.Add(1)
				case <-stop:
					return
				}
			}
		}()
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		sent := 0
		for b.Loop() {
			if _, err := src.WriteTo(payload, dst.Addr()); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		// Wait until every packet is delivered or counted as overflowed.
		for {
			s := n.Stats()
			if s.PacketsInFlight == 0 && received.Load() == int64(s.PacketsDelivered) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		close(stop)
		<-drained
		if s := n.Stats(); s.PacketsDelivered+s.PacketsOverflowed != uint64(sent) {
			b.Fatalf("sent %d, stats %+v", sent, s)
		}
	})

	b.Run("parallel", func(b *testing.B) {
		n := newFaultNetwork(b, FaultConfig{})
		var pairs atomic.Int64
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		b.RunParallel(func(pb *testing.PB) {
			i := strconv.FormatInt(pairs.Add(1), 10)
			src := newFaultTransport(b, n, "src"+i)
			dst := newFaultTransport(b, n, "dst"+i)
			for pb.Next() {
				if _, err := src.WriteTo(payload, dst.Addr()); err != nil {
					b.Error(err)
					return
				}
				<-dst.PacketCh()
			}
		})
	})
}
