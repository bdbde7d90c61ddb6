package swarmtest

import (
	"encoding/binary"
	"errors"
	"math"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

// faultLeakCheck verifies, after every other cleanup of t has run, that the
// test left no goroutine behind. Goroutines that existed before the call are
// ignored, so other tests of the package cannot make this one fail.
// memberlist's Shutdown does not wait for its probe goroutines, which finish
// within a probe timeout or a TCP timeout, so the check allows them up to
// 30 seconds to go (much more than they need on a loaded machine).
func faultLeakCheck(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		deadline := time.Now().Add(30 * time.Second)
		for goleak.Find(ignore) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		goleak.VerifyNone(t, ignore)
	})
}

// faultWaitFor polls cond until it holds or timeout passes, then fails t
// with what.
func faultWaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newFaultNetwork returns a network closed at the end of the test.
func newFaultNetwork(t testing.TB, cfg FaultConfig) *Network {
	t.Helper()
	n, err := NewNetwork(cfg)
	if err != nil {
		t.Fatalf("NewNetwork(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// newFaultTransport returns a transport shut down at the end of the test.
func newFaultTransport(t testing.TB, n *Network, name string) *Transport {
	t.Helper()
	tr, err := n.NewTransport(name)
	if err != nil {
		t.Fatalf("NewTransport(%q): %v", name, err)
	}
	t.Cleanup(func() { _ = tr.Shutdown() })
	return tr
}

// faultRecvPacket returns the next packet on tr or fails t after timeout.
func faultRecvPacket(t testing.TB, tr *Transport, timeout time.Duration) *memberlist.Packet {
	t.Helper()
	select {
	case p := <-tr.PacketCh():
		return p
	case <-time.After(timeout):
		t.Fatalf("no packet at %s within %v", tr.Addr(), timeout)
		return nil
	}
}

// faultSeqPacket encodes i as an 8-byte packet.
func faultSeqPacket(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func TestFaultConfigValidation(t *testing.T) {
	faultLeakCheck(t)
	bad := []FaultConfig{
		{Drop: -0.1},
		{Drop: 1.01},
		{Drop: math.NaN()},
		{Duplicate: -1},
		{Duplicate: 2},
		{Duplicate: math.NaN()},
		{Delay: -time.Millisecond},
		{Jitter: -time.Nanosecond},
	}
	n := newFaultNetwork(t, FaultConfig{Drop: 0.25, Seed: 1})
	for _, cfg := range bad {
		if got, err := NewNetwork(cfg); !errors.Is(err, ErrInvalidFaultConfig) {
			if got != nil {
				_ = got.Close()
			}
			t.Errorf("NewNetwork(%+v) error = %v, want ErrInvalidFaultConfig", cfg, err)
		}
		if err := n.SetFaults(cfg); !errors.Is(err, ErrInvalidFaultConfig) {
			t.Errorf("SetFaults(%+v) error = %v, want ErrInvalidFaultConfig", cfg, err)
		}
	}
	if got := n.Faults(); got.Drop != 0.25 {
		t.Errorf("a rejected SetFaults changed the config to %+v", got)
	}
	good := FaultConfig{Drop: 1, Duplicate: 1, Delay: time.Millisecond, Jitter: time.Millisecond}
	if err := n.SetFaults(good); err != nil {
		t.Fatalf("SetFaults(%+v): %v", good, err)
	}
	want := good
	want.Seed = 1 // SetFaults keeps the seed NewNetwork was given
	if got := n.Faults(); got != want {
		t.Errorf("Faults() = %+v, want %+v", got, want)
	}
}

func TestFaultNewTransportNames(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{})
	if _, err := n.NewTransport(""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("NewTransport(\"\") error = %v, want ErrInvalidName", err)
	}
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	if _, err := n.NewTransport("a"); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("second NewTransport(\"a\") error = %v, want ErrDuplicateName", err)
	}
	if a.Addr() == b.Addr() {
		t.Fatalf("two transports share address %s", a.Addr())
	}
	ip, port, err := a.FinalAdvertiseAddr("192.0.2.1", 1)
	if err != nil {
		t.Fatalf("FinalAdvertiseAddr: %v", err)
	}
	if got := net.JoinHostPort(ip.String(), strconv.Itoa(port)); got != a.Addr() {
		t.Errorf("FinalAdvertiseAddr = %s, Addr() = %s", got, a.Addr())
	}
	if a.Name() != "a" {
		t.Errorf("Name() = %q, want a", a.Name())
	}

	// A shut-down transport frees its name; the restarted node gets a new
	// address, and the old one is dead.
	if err := a.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	a2 := newFaultTransport(t, n, "a")
	if a2.Addr() == a.Addr() {
		t.Errorf("restarted transport reused address %s", a.Addr())
	}
	if _, err := b.WriteTo([]byte("x"), a.Addr()); err != nil {
		t.Fatalf("WriteTo old address: %v", err)
	}
	if got := n.Stats().PacketsUndeliverable; got != 1 {
		t.Errorf("PacketsUndeliverable = %d, want 1", got)
	}

	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := n.NewTransport("c"); !errors.Is(err, ErrNetworkClosed) {
		t.Errorf("NewTransport after Close error = %v, want ErrNetworkClosed", err)
	}
}

func TestFaultPacketPerfectNetwork(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")

	buf := []byte("hello")
	sent, err := a.WriteTo(buf, b.Addr())
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	copy(buf, "XXXXX") // the sender may reuse its buffer at once
	p := faultRecvPacket(t, b, time.Second)
	if string(p.Buf) != "hello" {
		t.Errorf("Buf = %q, want hello", p.Buf)
	}
	if p.From.String() != a.Addr() || p.From.Network() != "sim" {
		t.Errorf("From = %s/%s, want sim/%s", p.From.Network(), p.From, a.Addr())
	}
	if p.Timestamp.Before(sent) {
		t.Errorf("Timestamp %v before send time %v", p.Timestamp, sent)
	}
	want := NetworkStats{PacketsSent: 1, PacketsDelivered: 1}
	if got := n.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestFaultPacketDropAll(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Drop: 1, Seed: 7})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	for i := range 100 {
		if _, err := a.WriteTo(faultSeqPacket(i), b.Addr()); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
	}
	// Drop decisions are made during WriteTo, so the counts are final.
	want := NetworkStats{PacketsSent: 100, PacketsDropped: 100}
	if got := n.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if l := len(b.PacketCh()); l != 0 {
		t.Errorf("%d packets queued at receiver, want 0", l)
	}
}

func TestFaultPacketDuplicateAll(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Duplicate: 1, Jitter: time.Millisecond, Seed: 3})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	const sends = 50
	for i := range sends {
		if _, err := a.WriteTo(faultSeqPacket(i), b.Addr()); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
	}
	seen := make(map[uint64]int)
	for range 2 * sends {
		p := faultRecvPacket(t, b, time.Second)
		seen[binary.BigEndian.Uint64(p.Buf)]++
	}
	for i := range sends {
		if seen[uint64(i)] != 2 {
			t.Errorf("packet %d delivered %d times, want 2", i, seen[uint64(i)])
		}
	}
	faultWaitFor(t, time.Second, "no packets in flight", func() bool { return n.Stats().PacketsInFlight == 0 })
	want := NetworkStats{PacketsSent: sends, PacketsDuplicated: sends, PacketsDelivered: 2 * sends}
	if got := n.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestFaultPacketDelayJitterReorders(t *testing.T) {
	faultLeakCheck(t)
	const delay, jitter = 10 * time.Millisecond, 20 * time.Millisecond
	n := newFaultNetwork(t, FaultConfig{Delay: delay, Jitter: jitter, Seed: 11})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	const sends = 200
	sentAt := make([]time.Time, sends)
	for i := range sends {
		at, err := a.WriteTo(faultSeqPacket(i), b.Addr())
		if err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		sentAt[i] = at
	}
	seen := make(map[int]bool)
	inversions, last := 0, -1
	for range sends {
		p := faultRecvPacket(t, b, 2*time.Second)
		i := int(binary.BigEndian.Uint64(p.Buf))
		if seen[i] {
			t.Fatalf("packet %d delivered twice", i)
		}
		seen[i] = true
		if i < last {
			inversions++
		}
		last = i
		if got := p.Timestamp.Sub(sentAt[i]); got < delay {
			t.Errorf("packet %d arrived after %v, want >= %v", i, got, delay)
		}
	}
	if inversions == 0 {
		t.Errorf("%d packets with %v jitter arrived in order; want some reordering", sends, jitter)
	}
	if got := n.Stats(); got.PacketsDelivered != sends || got.PacketsInFlight != 0 {
		t.Errorf("Stats() = %+v, want %d delivered, none in flight", got, sends)
	}
}

func TestFaultPacketSeedIsDeterministic(t *testing.T) {
	faultLeakCheck(t)
	delivered := func() []int {
		n := newFaultNetwork(t, FaultConfig{Drop: 0.5, Seed: 42})
		a := newFaultTransport(t, n, "a")
		b := newFaultTransport(t, n, "b")
		var got []int
		for i := range 64 {
			if _, err := a.WriteTo(faultSeqPacket(i), b.Addr()); err != nil {
				t.Fatalf("WriteTo: %v", err)
			}
			select {
			case <-b.PacketCh():
				got = append(got, i)
			default:
			}
		}
		return got
	}
	first, second := delivered(), delivered()
	if len(first) == 0 || len(first) == 64 {
		t.Fatalf("Drop 0.5 delivered %d of 64 packets", len(first))
	}
	if len(first) != len(second) {
		t.Fatalf("same seed delivered %v then %v", first, second)
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("same seed delivered %v then %v", first, second)
		}
	}
}

func TestFaultPacketOverflowAndUnknown(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	for i := range packetBacklog + 10 {
		if _, err := a.WriteTo(faultSeqPacket(i), b.Addr()); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
	}
	if _, err := a.WriteTo([]byte("x"), "10.255.255.255:1"); err != nil {
		t.Fatalf("WriteTo unknown address: %v", err)
	}
	want := NetworkStats{
		PacketsSent:          packetBacklog + 11,
		PacketsDelivered:     packetBacklog,
		PacketsOverflowed:    10,
		PacketsUndeliverable: 1,
	}
	if got := n.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
	if _, err := a.DialTimeout("10.255.255.255:1", time.Second); !errors.Is(err, ErrNoRoute) {
		t.Errorf("dial unknown address error = %v, want ErrNoRoute", err)
	}
}

func TestFaultPartitionAndHeal(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	c := newFaultTransport(t, n, "c") // unlisted: reaches everyone
	if err := n.Partition([]string{"a"}, []string{"b", "x"}); err != nil {
		t.Fatalf("Partition: %v", err)
	}

	// reach reports whether one packet from src arrives at dst.
	reach := func(src, dst *Transport) bool {
		t.Helper()
		before := n.Stats().PacketsDelivered
		if _, err := src.WriteTo([]byte("p"), dst.Addr()); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		if n.Stats().PacketsDelivered == before {
			return false
		}
		faultRecvPacket(t, dst, time.Second)
		return true
	}
	for _, tc := range []struct {
		src, dst *Transport
		want     bool
	}{
		{a, b, false}, {b, a, false}, {a, c, true}, {c, a, true}, {b, c, true}, {c, b, true},
	} {
		if got := reach(tc.src, tc.dst); got != tc.want {
			t.Errorf("partitioned: %s -> %s reachable = %v, want %v", tc.src.Name(), tc.dst.Name(), got, tc.want)
		}
	}
	_, err := a.DialTimeout(b.Addr(), time.Minute)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("dial across partition error = %v, want ErrUnreachable", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("dial across partition error %v is not a net.Error timeout", err)
	}

	n.Isolate("c")
	if reach(a, c) || reach(c, b) {
		t.Errorf("isolated node c still reachable")
	}
	n.Reconnect("c")
	if !reach(a, c) {
		t.Errorf("reconnected node c unreachable")
	}

	n.Isolate("c")
	n.Heal()
	if !reach(a, b) || !reach(b, a) || !reach(c, a) {
		t.Errorf("healed network still cut")
	}
	if got := n.Stats().PacketsPartitioned; got != 4 {
		t.Errorf("PacketsPartitioned = %d, want 4", got)
	}

	for _, groups := range [][][]string{
		{{"a", "b"}, {"b"}},
		{{"a", ""}},
	} {
		if err := n.Partition(groups...); !errors.Is(err, ErrInvalidPartition) {
			t.Errorf("Partition(%q) error = %v, want ErrInvalidPartition", groups, err)
		}
	}
	if !reach(a, b) {
		t.Errorf("a rejected Partition cut the network")
	}
}

// A cut link is not transitive: a and b cannot talk, both still reach c;
// Uncut and Heal restore it.
func TestFaultCutIsPairwise(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	c := newFaultTransport(t, n, "c")
	reach := func(src, dst *Transport) bool {
		t.Helper()
		before := n.Stats().PacketsDelivered
		if _, err := src.WriteTo([]byte("p"), dst.Addr()); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		if n.Stats().PacketsDelivered == before {
			return false
		}
		faultRecvPacket(t, dst, time.Second)
		return true
	}
	n.Cut("b", "a")
	if reach(a, b) || reach(b, a) {
		t.Errorf("cut link a-b still carries packets")
	}
	if !reach(a, c) || !reach(c, b) || !reach(b, c) {
		t.Errorf("a cut of a-b cut other links")
	}
	if _, err := a.DialTimeout(b.Addr(), time.Minute); !errors.Is(err, ErrUnreachable) {
		t.Errorf("dial over a cut link error = %v, want ErrUnreachable", err)
	}
	n.Uncut("a", "b")
	if !reach(a, b) {
		t.Errorf("uncut link still cut")
	}
	n.Cut("a", "b")
	n.Heal()
	if !reach(b, a) {
		t.Errorf("Heal left a cut")
	}
}

func TestFaultPartitionDropsPacketsInFlight(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Delay: 50 * time.Millisecond})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	if _, err := a.WriteTo([]byte("p"), b.Addr()); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if err := n.Partition([]string{"a"}, []string{"b"}); err != nil {
		t.Fatalf("Partition: %v", err)
	}
	faultWaitFor(t, 2*time.Second, "the packet to fall due", func() bool { return n.Stats().PacketsInFlight == 0 })
	want := NetworkStats{PacketsSent: 1, PacketsPartitioned: 1}
	if got := n.Stats(); got != want {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

func TestFaultCloseStopsEverything(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Delay: time.Hour})
	a := newFaultTransport(t, n, "a")
	b := newFaultTransport(t, n, "b")
	if _, err := a.WriteTo([]byte("p"), b.Addr()); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := a.DialTimeout(b.Addr(), 0) // waits out the hour-long delay
		errc <- err
	}()
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNetworkClosed) {
			t.Errorf("pending dial error = %v, want ErrNetworkClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending dial still blocked after Close")
	}
	if _, err := a.WriteTo([]byte("p"), b.Addr()); !errors.Is(err, ErrNetworkClosed) {
		t.Errorf("WriteTo after Close error = %v, want ErrNetworkClosed", err)
	}
	got := n.Stats()
	if got.PacketsInFlight != 0 || got.PacketsUndeliverable != 2 || got.PacketsDelivered != 0 {
		t.Errorf("Stats() = %+v, want the in-flight and the late packet undeliverable", got)
	}
}

func TestFaultConcurrentTrafficBalances(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Drop: 0.2, Duplicate: 0.2, Jitter: 2 * time.Millisecond})
	const nodes, perNode = 8, 300
	ts := make([]*Transport, nodes)
	for i := range ts {
		ts[i] = newFaultTransport(t, n, "n"+strconv.Itoa(i))
	}
	var senders, drainers sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	received := uint64(0)
	for i, src := range ts {
		senders.Go(func() {
			for k := range perNode {
				dst := ts[(i+1+k%(nodes-1))%nodes]
				if _, err := src.WriteTo(faultSeqPacket(k), dst.Addr()); err != nil {
					t.Errorf("WriteTo: %v", err)
					return
				}
			}
		})
		drainers.Go(func() { // drain, so nothing overflows
			for {
				select {
				case <-src.PacketCh():
					mu.Lock()
					received++
					mu.Unlock()
				case <-stop:
					return
				}
			}
		})
	}
	senders.Wait()
	faultWaitFor(t, 5*time.Second, "traffic to settle", func() bool {
		s := n.Stats()
		mu.Lock()
		defer mu.Unlock()
		return s.PacketsInFlight == 0 && received == s.PacketsDelivered
	})
	close(stop)
	drainers.Wait()
	s := n.Stats()
	if s.PacketsSent != nodes*perNode {
		t.Errorf("PacketsSent = %d, want %d", s.PacketsSent, nodes*perNode)
	}
	in := s.PacketsSent + s.PacketsDuplicated
	out := s.PacketsDelivered + s.PacketsDropped + s.PacketsPartitioned + s.PacketsUndeliverable + s.PacketsOverflowed
	if in != out {
		t.Errorf("Stats() = %+v: sent+duplicated %d != accounted %d", s, in, out)
	}
	if s.PacketsDropped == 0 || s.PacketsDuplicated == 0 || s.PacketsOverflowed != 0 {
		t.Errorf("Stats() = %+v: want some drops and duplicates, no overflow", s)
	}
}
