package swarmtest

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// faultMsgLog is a memberlist.Delegate that records user messages in
// arrival order.
type faultMsgLog struct {
	mu   sync.Mutex
	msgs []uint64
}

// NotifyMsg records a message sent by faultSendSeq.
func (d *faultMsgLog) NotifyMsg(b []byte) {
	if len(b) != 8 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.msgs = append(d.msgs, binary.BigEndian.Uint64(b))
}

// received returns a copy of the messages recorded so far.
func (d *faultMsgLog) received() []uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]uint64(nil), d.msgs...)
}

// NodeMeta returns no metadata.
func (*faultMsgLog) NodeMeta(int) []byte { return nil }

// GetBroadcasts has nothing to gossip.
func (*faultMsgLog) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState has no state to push.
func (*faultMsgLog) LocalState(bool) []byte { return nil }

// MergeRemoteState ignores remote state.
func (*faultMsgLog) MergeRemoteState([]byte, bool) {}

// faultNodeConfig returns a memberlist config for a node on tr with
// intervals shortened for tests and compression off (it allocates ~64 KiB
// per packet).
func faultNodeConfig(tr *Transport) *memberlist.Config {
	c := memberlist.DefaultLocalConfig()
	c.Name = tr.Name()
	c.Transport = tr
	c.Logger = log.New(io.Discard, "", 0)
	c.EnableCompression = false
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = 3 * time.Second
	c.TCPTimeout = time.Second
	c.RetransmitMult = 4
	return c
}

// faultCluster is a set of memberlist nodes on one Network.
type faultCluster struct {
	net   *Network
	nodes []*memberlist.Memberlist
	names []string
}

// startFaultCluster creates size memberlist nodes named prefix-i on net,
// each configured by faultNodeConfig and then tune (if not nil), and shuts
// them down at the end of the test. It does not join them.
func startFaultCluster(t testing.TB, n *Network, prefix string, size int, tune func(*memberlist.Config)) *faultCluster {
	t.Helper()
	c := &faultCluster{net: n}
	for i := range size {
		name := fmt.Sprintf("%s-%d", prefix, i)
		tr := newFaultTransport(t, n, name)
		cfg := faultNodeConfig(tr)
		if tune != nil {
			tune(cfg)
		}
		m, err := memberlist.Create(cfg)
		if err != nil {
			t.Fatalf("memberlist.Create(%s): %v", name, err)
		}
		t.Cleanup(func() { _ = m.Shutdown() })
		c.nodes = append(c.nodes, m)
		c.names = append(c.names, name)
	}
	return c
}

// joinAll joins every node to one of the nodes before it, in a 4-ary tree,
// so that no one node serves every join. A join that times out (a starved
// test machine can stall a push/pull past TCPTimeout) is retried twice, as
// a discovery loop would.
func (c *faultCluster) joinAll(t testing.TB) {
	t.Helper()
	for i := 1; i < len(c.nodes); i++ {
		seed := c.nodes[(i-1)/4]
		var err error
		for range 3 {
			if _, err = c.nodes[i].Join([]string{seed.LocalNode().Address()}); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("node %d Join: %v", i, err)
		}
	}
}

// faultAllSee reports whether every node in nodes counts want live members.
func faultAllSee(nodes []*memberlist.Memberlist, want int) bool {
	for _, m := range nodes {
		if m.NumMembers() != want {
			return false
		}
	}
	return true
}

// Membership of 50 nodes under 30 % loss and 20 ms jitter measures
// memberlist's own failure detection against a wall clock, so it is a
// benchmark, not a test: go run ./internal/cmd/shoalbench scale -nodes 50
// -preset lossy -drop 0.3 -jitter 20ms -updates 1.

func TestFaultMemberlistPartitionAndHeal(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Jitter: 5 * time.Millisecond, Seed: 2})
	const size = 16
	c := startFaultCluster(t, n, "node", size, nil)
	c.joinAll(t)
	faultWaitFor(t, 20*time.Second, "full membership", func() bool { return faultAllSee(c.nodes, size) })

	left, right := c.nodes[:size/2], c.nodes[size/2:]
	if err := n.Partition(c.names[:size/2], c.names[size/2:]); err != nil {
		t.Fatalf("Partition: %v", err)
	}
	start := time.Now()
	faultWaitFor(t, 30*time.Second, "each side to declare the other dead", func() bool {
		return faultAllSee(left, size/2) && faultAllSee(right, size/2)
	})
	t.Logf("partition detected in %v", time.Since(start).Round(time.Millisecond))
	if s := n.Stats(); s.PacketsPartitioned == 0 {
		t.Errorf("Stats() = %+v: partition blocked nothing", s)
	}

	n.Heal()
	start = time.Now()
	if _, err := left[0].Join([]string{right[0].LocalNode().Address()}); err != nil {
		t.Fatalf("Join across healed partition: %v", err)
	}
	if _, err := right[0].Join([]string{left[0].LocalNode().Address()}); err != nil {
		t.Fatalf("Join across healed partition: %v", err)
	}
	faultWaitFor(t, 30*time.Second, "full membership after heal", func() bool { return faultAllSee(c.nodes, size) })
	t.Logf("healed in %v", time.Since(start).Round(time.Millisecond))
}

// faultSendSeq sends messages first .. first+count-1 from one node to
// another as best-effort user packets.
func faultSendSeq(t testing.TB, from, to *memberlist.Memberlist, first, count int) {
	t.Helper()
	for i := first; i < first+count; i++ {
		if err := from.SendBestEffort(to.LocalNode(), faultSeqPacket(i)); err != nil {
			t.Fatalf("SendBestEffort: %v", err)
		}
	}
}

// startFaultPair starts two joined nodes whose second node logs user
// messages.
func startFaultPair(t testing.TB, n *Network) (from, to *memberlist.Memberlist, got *faultMsgLog) {
	t.Helper()
	got = &faultMsgLog{}
	c := startFaultCluster(t, n, "pair", 2, func(cfg *memberlist.Config) {
		if cfg.Name == "pair-1" {
			cfg.Delegate = got
		}
	})
	// Join goes over a stream, so it succeeds whatever the packet faults.
	c.joinAll(t)
	return c.nodes[0], c.nodes[1], got
}

func TestFaultMemberlistDropAll(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Drop: 1, Seed: 3})
	from, to, got := startFaultPair(t, n)
	before := n.Stats().PacketsDropped
	const sends = 20
	faultSendSeq(t, from, to, 0, sends)
	if s := n.Stats(); s.PacketsDropped < before+sends {
		t.Errorf("Stats() = %+v: want at least %d more drops than %d", s, sends, before)
	}
	// A marker sent once drops stop arrives after anything sent before it
	// could have (no delay, and memberlist handles user messages in order).
	if err := n.SetFaults(FaultConfig{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	faultSendSeq(t, from, to, sends, 1)
	faultWaitFor(t, 5*time.Second, "the marker", func() bool { return len(got.received()) > 0 })
	if msgs := got.received(); len(msgs) != 1 || msgs[0] != sends {
		t.Errorf("received %v, want only the marker %d", msgs, sends)
	}
}

func TestFaultMemberlistDuplicateAll(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Duplicate: 1, Seed: 4})
	from, to, got := startFaultPair(t, n)
	const sends = 20
	faultSendSeq(t, from, to, 0, sends)
	faultWaitFor(t, 5*time.Second, "every message twice", func() bool { return len(got.received()) >= 2*sends })
	// Send a marker without duplication: everything duplicated before it
	// has been handled once it arrives.
	if err := n.SetFaults(FaultConfig{}); err != nil {
		t.Fatalf("SetFaults: %v", err)
	}
	faultSendSeq(t, from, to, sends, 1)
	faultWaitFor(t, 5*time.Second, "the marker", func() bool { return len(got.received()) > 2*sends })
	count := make(map[uint64]int)
	for _, m := range got.received() {
		count[m]++
	}
	for i := range uint64(sends) {
		if count[i] != 2 {
			t.Errorf("message %d received %d times, want 2", i, count[i])
		}
	}
	if count[sends] != 1 {
		t.Errorf("marker received %d times, want 1", count[sends])
	}
}

func TestFaultMemberlistJitterReorders(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Jitter: 20 * time.Millisecond, Seed: 5})
	from, to, got := startFaultPair(t, n)
	const sends = 50
	faultSendSeq(t, from, to, 0, sends)
	faultWaitFor(t, 5*time.Second, "every message", func() bool { return len(got.received()) >= sends })
	msgs := got.received()
	seen := make(map[uint64]bool)
	inversions := 0
	for i, m := range msgs {
		if seen[m] {
			t.Errorf("message %d received twice", m)
		}
		seen[m] = true
		if i > 0 && m < msgs[i-1] {
			inversions++
		}
	}
	if len(seen) != sends {
		t.Errorf("received %d distinct messages, want %d", len(seen), sends)
	}
	if inversions == 0 {
		t.Errorf("received %v in send order; want reordering with 20ms jitter", msgs)
	}
}

// Hundreds of memberlist nodes reaching full membership over a lossy
// network within a wall-clock deadline is a measurement of memberlist on
// the machine at hand, not a pass/fail test (it failed on a loaded 2-core
// machine): go run ./internal/cmd/shoalbench scale -nodes 300 -drop 0.01
// runs the simulated network at that size.

func TestFaultMemberlistLabelAndEncryption(t *testing.T) {
	faultLeakCheck(t)
	n := newFaultNetwork(t, FaultConfig{Jitter: 2 * time.Millisecond, Seed: 7})
	key := []byte("0123456789abcdef0123456789abcdef") // AES-256
	secure := func(cfg *memberlist.Config) {
		cfg.Label = "shoal-test"
		cfg.SecretKey = key
	}
	c := startFaultCluster(t, n, "sec", 4, secure)
	c.joinAll(t)
	faultWaitFor(t, 20*time.Second, "full membership with label and encryption",
		func() bool { return faultAllSee(c.nodes, 4) })

	// A node with another label cannot join: its stream is rejected.
	other := startFaultCluster(t, n, "other", 1, func(cfg *memberlist.Config) {
		secure(cfg)
		cfg.Label = "another-cluster"
	})
	if _, err := other.nodes[0].Join([]string{c.nodes[0].LocalNode().Address()}); err == nil {
		t.Errorf("a node with another label joined")
	}
	if got := c.nodes[0].NumMembers(); got != 4 {
		t.Errorf("labelled cluster has %d members after a foreign join attempt, want 4", got)
	}
}
