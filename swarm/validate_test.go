package swarm_test

import (
	"fmt"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/codec"
	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// Each test below sends one crafted, unauthenticated packet (or a few) to
// a real node on 127.0.0.1, as any host on the network could while
// encryption is off, and checks that the node refuses it, counts it under
// its reason, and keeps working.

const (
	kindDirect  codec.Kind = 5 // swarm's fast-path delta (node.go)
	userMsgType byte       = 8 // memberlist's user message: the bytes reach NotifyMsg

	rejectedInvalid = "invalid_state" // Stats.Rejected's reason for a state that decodes but is not valid
)

var mallory = crdt.Replica{Node: "mallory", Incarnation: 1}

// forge sends env to nd as one UDP packet.
func forge(t *testing.T, nd *swarm.Node, env codec.Envelope) {
	t.Helper()
	b, err := codec.Default().EncodeEnvelope(&env)
	require.NoError(t, err)
	conn, err := net.Dial("udp", nd.Addr())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(append([]byte{userMsgType}, b...))
	require.NoError(t, err)
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := codec.Default().Marshal(v)
	require.NoError(t, err)
	return b
}

func pnState(slots ...crdt.Slot) *crdt.PNCounter {
	return &crdt.PNCounter{P: crdt.GCounter{S: slots}}
}

// waitRejected waits until nd has counted at least want rejections for
// reason.
func waitRejected(t *testing.T, nd *swarm.Node, reason string, want uint64) {
	t.Helper()
	swarmtest.WaitFor(t, 15*time.Second, func() error {
		if got := nd.Stats().Rejected[reason]; got < want {
			return fmt.Errorf("%s: %d rejections for %q, want %d (all: %v)", nd.Name(), got, reason, want, nd.Stats().Rejected)
		}
		return nil
	})
}

// noAntiEntropy turns off periodic push/pull, so that a forged value that
// got in could only be repaired by nothing: what the tests see is what the
// packet did.
func noAntiEntropy(_ int, c *swarm.Config) { c.PushPullInterval = 0 }

// A slot at MaxUint64 on both halves made a PN-counter read 0 forever. It
// is refused on the gossip, direct and anti-entropy kinds alike.
func TestForgedCountAboveCeilingIsRejected(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: noAntiEntropy})
	cs := counters(t, c, "c")
	require.NoError(t, cs[0].Add(5))
	require.NoError(t, cs[1].Add(5))
	waitCounters(t, cs, 10, 10*time.Second)

	// Sent as node-1, a real member: its own slot.
	victim := c.Node(1).Replica()
	poison := &crdt.PNCounter{
		P: crdt.GCounter{S: []crdt.Slot{{Replica: victim, N: math.MaxUint64}}},
		N: crdt.GCounter{S: []crdt.Slot{{Replica: victim, N: math.MaxUint64}}},
	}
	for i, kind := range []codec.Kind{codec.KindDelta, kindDirect, codec.KindState} {
		forge(t, c.Node(0), codec.Envelope{Kind: kind, Name: "c", Type: "*crdt.PNCounter", Origin: victim, Payload: marshal(t, poison)})
		waitRejected(t, c.Node(0), "slot_ceiling", uint64(i+1))
	}
	// Just above the ceiling is refused too, for a replica of no member
	// in a full state.
	over := pnState(crdt.Slot{Replica: mallory, N: crdt.DefaultMaxCount + 1})
	forge(t, c.Node(0), codec.Envelope{Kind: codec.KindState, Name: "c", Type: "*crdt.PNCounter", Origin: mallory, Payload: marshal(t, over)})
	waitRejected(t, c.Node(0), "slot_ceiling", 4)

	require.NoError(t, cs[1].Add(1))
	waitCounters(t, cs, 11, 10*time.Second)
}

// A delta from a real replica may raise its slot by at most MaxCountStep.
func TestForgedStepIsRejected(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: noAntiEntropy})
	cs := counters(t, c, "c")
	require.NoError(t, cs[1].Add(5))
	waitCounters(t, cs, 5, 10*time.Second)

	victim := c.Node(1).Replica()
	jump := pnState(crdt.Slot{Replica: victim, N: 5 + crdt.DefaultMaxStep + 1})
	forge(t, c.Node(0), codec.Envelope{Kind: codec.KindDelta, Name: "c", Type: "*crdt.PNCounter", Origin: victim, Payload: marshal(t, jump)})
	waitRejected(t, c.Node(0), "slot_step", 1)

	require.NoError(t, cs[1].Add(1))
	waitCounters(t, cs, 6, 10*time.Second)
}

// A counter state whose slots are out of order, repeated or zero is not a
// state Marshal writes: each kind refuses it as it decodes, before the
// merge, and the value reads as before.
func TestMalformedCounterStateIsRejected(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: noAntiEntropy})
	cs := counters(t, c, "c")
	require.NoError(t, cs[1].Add(5))
	waitCounters(t, cs, 5, 10*time.Second)

	victim := c.Node(1).Replica()
	bad := []*crdt.PNCounter{
		pnState(crdt.Slot{Replica: victim, N: 6}, crdt.Slot{Replica: victim, N: 7}), // repeated
		pnState(crdt.Slot{Replica: victim, N: 0}),                                   // zero
	}
	want := c.Node(0).Stats().Rejected[rejectedInvalid]
	for _, kind := range []codec.Kind{codec.KindDelta, kindDirect} {
		for _, pn := range bad {
			forge(t, c.Node(0), codec.Envelope{Kind: kind, Name: "c", Type: "*crdt.PNCounter", Origin: victim, Payload: marshal(t, pn)})
			want++
			waitRejected(t, c.Node(0), rejectedInvalid, want)
		}
	}
	v, err := cs[0].Value()
	require.NoError(t, err)
	require.Equal(t, int64(5), v)
	require.NoError(t, cs[1].Add(1))
	waitCounters(t, cs, 6, 10*time.Second)
}

// Envelope.Origin binds a delta: the origin must be a member's announced
// replica, and the delta may write only its slots.
func TestDeltaWritesOnlyItsOriginsSlots(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{Config: noAntiEntropy})
	cs := counters(t, c, "c")
	require.NoError(t, cs[1].Add(5))
	waitCounters(t, cs, 5, 10*time.Second)

	// node-2, a real member, writes node-1's slot.
	foreign := pnState(crdt.Slot{Replica: c.Node(1).Replica(), N: 500})
	for i, kind := range []codec.Kind{codec.KindDelta, kindDirect} {
		forge(t, c.Node(0), codec.Envelope{Kind: kind, Name: "c", Type: "*crdt.PNCounter", Origin: c.Node(2).Replica(), Payload: marshal(t, foreign)})
		waitRejected(t, c.Node(0), "foreign_slot", uint64(i+1))
	}
	// A made-up replica, and another incarnation of a real name, writing
	// their own slots.
	for i, origin := range []crdt.Replica{mallory, {Node: "node-1", Incarnation: c.Node(1).Replica().Incarnation + 1}} {
		own := pnState(crdt.Slot{Replica: origin, N: 500})
		forge(t, c.Node(0), codec.Envelope{Kind: codec.KindDelta, Name: "c", Type: "*crdt.PNCounter", Origin: origin, Payload: marshal(t, own)})
		waitRejected(t, c.Node(0), "origin_not_member", uint64(i+1))
	}
	require.NoError(t, cs[1].Add(1))
	waitCounters(t, cs, 6, 10*time.Second)
}

// The envelopes of one batch are checked each against its own origin: a
// receiver checks a batch's origin once while it repeats (delegate.go,
// inbound), and a made-up origin between two real ones is still refused.
func TestBatchChecksEachEnvelopesOrigin(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: noAntiEntropy})
	cs := counters(t, c, "c")
	require.NoError(t, cs[1].Add(5))
	waitCounters(t, cs, 5, 10*time.Second)

	node1 := c.Node(1).Replica()
	env := func(origin crdt.Replica, n uint64) codec.Envelope {
		return codec.Envelope{Kind: kindDirect, Name: "c", Type: "*crdt.PNCounter", Origin: origin,
			Payload: marshal(t, pnState(crdt.Slot{Replica: origin, N: n}))}
	}
	b, err := codec.Default().EncodeBatch([]codec.Envelope{env(node1, 6), env(mallory, 500), env(node1, 7)})
	require.NoError(t, err)
	conn, err := net.Dial("udp", c.Node(0).Addr())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(append([]byte{userMsgType}, b...))
	require.NoError(t, err)

	waitRejected(t, c.Node(0), "origin_not_member", 1)
	v, err := cs[0].Value()
	require.NoError(t, err)
	require.EqualValues(t, 7, v, "node-0 merged the real origin's two deltas and not mallory's")
}

// A burst's pack (kind 13) is checked value by value, as the envelopes it
// stands for: a value writing another replica's slot is refused, and an
// entry that does not decode ends the pack, counted, after the values
// before it were merged.
func TestForgedPackIsCheckedValueByValue(t *testing.T) {
	const kindPack codec.Kind = 13
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: noAntiEntropy})
	cs := counters(t, c, "c")
	require.NoError(t, cs[1].Add(5))
	waitCounters(t, cs, 5, 10*time.Second)

	node1 := c.Node(1).Replica()
	pack := codec.AppendPackHead(nil, 3)
	var err error
	pack, err = codec.AppendPackEntry(pack, "c", marshal(t, pnState(crdt.Slot{Replica: node1, N: 6})))
	require.NoError(t, err)
	pack, err = codec.AppendPackEntry(pack, "c", marshal(t, pnState(crdt.Slot{Replica: c.Node(0).Replica(), N: 500})))
	require.NoError(t, err)
	pack = append(pack, 0x61, 'c', 0x01) // a name, then a payload that is not a byte string
	forge(t, c.Node(0), codec.Envelope{Kind: kindPack, Type: "*crdt.PNCounter", Origin: node1, Payload: pack})

	waitRejected(t, c.Node(0), "foreign_slot", 1)
	waitRejected(t, c.Node(0), "decode", 1)
	v, err := cs[0].Value()
	require.NoError(t, err)
	require.EqualValues(t, 6, v, "node-0 merged the pack's first value only")
}

// A value holds at most MaxReplicas slots: a state that would take it past
// that is refused whole.
func TestTooManyReplicasIsRejected(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		noAntiEntropy(i, cfg)
		cfg.MaxReplicas = 8
	}})
	cs := counters(t, c, "c")
	require.NoError(t, cs[0].Add(1))
	require.NoError(t, cs[1].Add(1))
	waitCounters(t, cs, 2, 10*time.Second)

	// 2 real slots + 6 fake = 8 fits; + 7 does not.
	fakes := func(k int) *crdt.PNCounter {
		s := make([]crdt.Slot, k)
		for i := range s {
			s[i] = crdt.Slot{Replica: crdt.Replica{Node: fmt.Sprintf("fake-%02d", i), Incarnation: 1}, N: 1}
		}
		return pnState(s...)
	}
	forge(t, c.Node(0), codec.Envelope{Kind: codec.KindState, Name: "c", Type: "*crdt.PNCounter", Origin: mallory, Payload: marshal(t, fakes(7))})
	waitRejected(t, c.Node(0), "too_many_replicas", 1)
	v, err := cs[0].Value()
	require.NoError(t, err)
	require.EqualValues(t, 2, v)
	forge(t, c.Node(0), codec.Envelope{Kind: codec.KindState, Name: "c", Type: "*crdt.PNCounter", Origin: mallory, Payload: marshal(t, fakes(6))})
	waitCounters(t, cs[:1], 8, 10*time.Second)
}

// A window bucket at MaxUint64 made a cluster limit deny everything.
func TestForgedWindowBucketIsRejected(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: noAntiEntropy})
	var ws []*swarm.Window
	for _, nd := range c.Nodes() {
		w, err := swarm.NewWindow(nd, "w", time.Minute, 6)
		require.NoError(t, err)
		ws = append(ws, w)
	}
	require.NoError(t, ws[1].Add(3))
	waitWindow := func(want float64) {
		swarmtest.WaitFor(t, 10*time.Second, func() error {
			for i, w := range ws {
				if v, err := w.Value(); err != nil || v != want {
					return fmt.Errorf("window %d reads %v (%v), want %v", i, v, err, want)
				}
			}
			return nil
		})
	}
	waitWindow(3)

	width := int64(10 * time.Second)
	victim := c.Node(1).Replica()
	poison := &crdt.WindowCounter{WindowLen: time.Minute, BucketCount: 6, Slots: []crdt.WindowSlot{{
		Replica: victim, Buckets: []crdt.Bucket{{Index: time.Now().UnixNano() / width, N: math.MaxUint64}},
	}}}
	forge(t, c.Node(0), codec.Envelope{Kind: codec.KindDelta, Name: "w", Type: "*crdt.WindowCounter", Origin: victim, Payload: marshal(t, poison)})
	waitRejected(t, c.Node(0), "slot_ceiling", 1)
	require.NoError(t, ws[1].Add(1))
	waitWindow(4)
}

// forgedClassic mirrors the wire form of a classic key's value.
type forgedClassic struct {
	Entries []forgedClassicEntry `cbor:"1,keyasint"`
}

type forgedClassicEntry struct {
	_           struct{} `cbor:",toarray"`
	Node        string
	Incarnation uint64
	Seq         uint64
	Raw         []byte
}

// A classic entry is accepted only from a live member at the incarnation
// it announced: a forged one at a real name and incarnation MaxUint64
// froze that node's ShareValue everywhere, and a made-up name stayed in
// Values forever.
func TestForgedClassicEntriesAreRejected(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{Config: noAntiEntropy})
	var sws []*swarm.Swarm
	for i, nd := range c.Nodes() {
		s, err := swarm.NewSwarmOnNode(nd, swarm.Options{})
		require.NoError(t, err)
		sws = append(sws, s)
		require.NoError(t, sws[i].ShareValue("k", int64(i)))
	}
	waitValues(t, sws, "k", map[string]interface{}{"node-0": int64(0), "node-1": int64(1), "node-2": int64(2)})

	raw, err := codec.Default().EncodeAny(nil, int64(666))
	require.NoError(t, err)
	send := func(kind codec.Kind, origin crdt.Replica, entries ...forgedClassicEntry) {
		forge(t, c.Node(0), codec.Envelope{Kind: kind, Name: swarm.ClassicPrefix + "k", Type: swarm.ClassicTypeName,
			Origin: origin, Payload: marshal(t, forgedClassic{Entries: entries})})
	}
	// A real name at an incarnation it never announced: as a delta its
	// origin is no member's; inside a full state the entry is refused.
	future := crdt.Replica{Node: "node-1", Incarnation: math.MaxUint64}
	send(codec.KindDelta, future, forgedClassicEntry{Node: "node-1", Incarnation: math.MaxUint64, Seq: 1, Raw: raw})
	waitRejected(t, c.Node(0), "origin_not_member", 1)
	send(codec.KindState, mallory, forgedClassicEntry{Node: "node-1", Incarnation: math.MaxUint64, Seq: 1, Raw: raw})
	waitRejected(t, c.Node(0), "classic_incarnation", 1)
	// A made-up name, likewise.
	ghost := crdt.Replica{Node: "ghost", Incarnation: 1}
	send(codec.KindDelta, ghost, forgedClassicEntry{Node: "ghost", Incarnation: 1, Seq: 1, Raw: raw})
	waitRejected(t, c.Node(0), "origin_not_member", 2)
	send(codec.KindState, mallory, forgedClassicEntry{Node: "ghost", Incarnation: 1, Seq: 1, Raw: raw})
	waitRejected(t, c.Node(0), "classic_not_member", 1)
	// A real member's delta carrying another live member's entry at its
	// real incarnation, and a peer's state carrying this node's own entry.
	n1 := c.Node(1).Replica()
	send(codec.KindDelta, n1, forgedClassicEntry{Node: "node-2", Incarnation: c.Node(2).Replica().Incarnation, Seq: 1 << 40, Raw: raw})
	waitRejected(t, c.Node(0), "foreign_slot", 1)
	send(codec.KindState, n1, forgedClassicEntry{Node: "node-0", Incarnation: c.Node(0).Replica().Incarnation, Seq: 1 << 40, Raw: raw})
	waitRejected(t, c.Node(0), "foreign_slot", 2)

	// node-1's later values still arrive; nothing forged ever shows.
	require.NoError(t, sws[1].ShareValue("k", int64(11)))
	waitValues(t, sws, "k", map[string]interface{}{"node-0": int64(0), "node-1": int64(11), "node-2": int64(2)})
}

// stateDelegate is a bare memberlist node's delegate whose anti-entropy
// state is a forged batch.
type stateDelegate struct{ state []byte }

func (d *stateDelegate) NodeMeta(int) []byte             { return nil }
func (d *stateDelegate) NotifyMsg([]byte)                {}
func (d *stateDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *stateDelegate) LocalState(bool) []byte          { return d.state }
func (d *stateDelegate) MergeRemoteState([]byte, bool)   {}

var _ memberlist.Delegate = (*stateDelegate)(nil)

// The anti-entropy path (MergeRemoteState) is checked like the others: a
// bare memberlist node joins with a poisoned state and the node refuses it.
func TestForgedAntiEntropyStateIsRejected(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: noAntiEntropy})
	cs := counters(t, c, "c")
	require.NoError(t, cs[1].Add(5))
	waitCounters(t, cs, 5, 10*time.Second)

	poison := &crdt.PNCounter{
		P: crdt.GCounter{S: []crdt.Slot{{Replica: c.Node(1).Replica(), N: math.MaxUint64}}},
		N: crdt.GCounter{S: []crdt.Slot{{Replica: mallory, N: math.MaxUint64}}},
	}
	batch, err := codec.Default().EncodeBatch([]codec.Envelope{{Kind: codec.KindState, Name: "c", Type: "*crdt.PNCounter", Origin: mallory, Payload: marshal(t, poison)}})
	require.NoError(t, err)
	rawNode(t, c.Node(0), batch)
	waitRejected(t, c.Node(0), "slot_ceiling", 1)
	require.NoError(t, cs[1].Add(1))
	waitCounters(t, cs, 6, 10*time.Second)
}

// rawNode starts a bare memberlist node (no shoal) whose anti-entropy
// state is state, and joins it to nd, which merges that state.
func rawNode(t *testing.T, nd *swarm.Node, state []byte) *memberlist.Memberlist {
	t.Helper()
	mc := memberlist.DefaultLocalConfig()
	mc.Name, mc.BindAddr, mc.BindPort, mc.AdvertisePort = "raw-mallory", "127.0.0.1", 0, 0
	mc.Delegate = &stateDelegate{state: state}
	mc.LogOutput = nopWriter{}
	ml, err := memberlist.Create(mc)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ml.Shutdown() })
	_, err = ml.Join([]string{nd.Addr()})
	require.NoError(t, err)
	return ml
}

// 1.4 M fake replica slots made Value() take 5.8 ms and cost 70 MiB per
// node. A state of 5,000, over TCP from a bare memberlist node, passes the
// default MaxReplicas (4,096) and is refused whole.
func TestReplicaFloodIsRejectedAtTheDefault(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: noAntiEntropy})
	cs := counters(t, c, "c")
	require.NoError(t, cs[1].Add(5))
	waitCounters(t, cs, 5, 10*time.Second)

	flood := make([]crdt.Slot, 5000)
	for i := range flood {
		flood[i] = crdt.Slot{Replica: crdt.Replica{Node: fmt.Sprintf("fake-%05d", i), Incarnation: 1}, N: 1}
	}
	env := codec.Envelope{Kind: codec.KindState, Name: "c", Type: "*crdt.PNCounter", Origin: mallory, Payload: marshal(t, pnState(flood...))}
	msg, err := codec.Default().EncodeEnvelope(&env)
	require.NoError(t, err)
	ml := rawNode(t, c.Node(0), nil)
	var target *memberlist.Node
	for _, m := range ml.Members() {
		if m.Name == "node-0" {
			target = m
		}
	}
	require.NotNil(t, target)
	require.NoError(t, ml.SendReliable(target, msg))
	waitRejected(t, c.Node(0), "too_many_replicas", 1)
	require.NoError(t, cs[1].Add(1))
	waitCounters(t, cs, 6, 10*time.Second)
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// Relays keep the original origin, so relayed deltas pass the origin
// check: a gossip-only cluster (no fast path, no anti-entropy), where
// every delta is also relayed, converges without one rejection.
func TestRelayedDeltasPassTheOriginCheck(t *testing.T) {
	c := swarmtest.Start(t, 4, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		noAntiEntropy(i, cfg)
		cfg.DirectSendMaxMembers = 0
	}})
	cs := counters(t, c, "c")
	for round := 0; round < 5; round++ {
		for _, ctr := range cs {
			require.NoError(t, ctr.Add(1))
		}
		waitCounters(t, cs, int64(4*(round+1)), 20*time.Second)
	}
	for _, nd := range c.Nodes() {
		s := nd.Stats()
		require.Empty(t, s.Rejected, "%s rejected legitimate traffic", nd.Name())
		require.NotZero(t, s.Received["delta"].Messages, "%s received no gossip", nd.Name())
	}
}

// A node poisoned before the checks existed (here: by a local merge,
// which no check guards) does not spread its poison, and heals from the
// cluster's anti-entropy: it drops its counts above the ceiling and takes
// the true ones back from a peer's state.
func TestPoisonedNodeHealsFromTheCluster(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{}) // anti-entropy every second
	cs := counters(t, c, "c")
	for i, ctr := range cs {
		require.NoError(t, ctr.Add(int64(10*(i+1))))
	}
	waitCounters(t, cs, 60, 10*time.Second)

	poison := &crdt.PNCounter{
		P: crdt.GCounter{S: []crdt.Slot{{Replica: mallory, N: math.MaxUint64}, {Replica: c.Node(1).Replica(), N: math.MaxUint64}}},
		N: crdt.GCounter{S: []crdt.Slot{{Replica: mallory, N: math.MaxUint64}}},
	}
	require.NoError(t, poison.Validate())
	require.NoError(t, cs[0].Shared().Update(func(v *crdt.PNCounter, now time.Time) { v.Merge(now, poison) }))
	v, err := cs[0].Value()
	require.NoError(t, err)
	require.NotEqualValues(t, 60, v, "the poison did not take")

	// node-0 heals. The healthy nodes never took the poison: had they
	// merged it, their own next state merge would have had to drop it.
	waitCounters(t, cs, 60, 20*time.Second)
	for _, nd := range c.Nodes()[1:] {
		require.Zero(t, nd.Stats().Drops["poisoned_count"], "%s took node-0's poison", nd.Name())
	}
	require.GreaterOrEqual(t, c.Node(0).Stats().Drops["poisoned_count"], uint64(3))
	for _, ctr := range cs {
		require.NoError(t, ctr.Add(1))
	}
	waitCounters(t, cs, 63, 10*time.Second)
}

// The bounds are validated like every other field, and their product,
// which keeps every sum of valid slots inside int64, is accepted up to
// its edge.
func TestBoundsConfigIsValidated(t *testing.T) {
	for name, mutate := range map[string]func(*swarm.Config){
		"MaxCount":          func(c *swarm.Config) { c.MaxCount = 0 },
		"MaxCountStep":      func(c *swarm.Config) { c.MaxCountStep = 0 },
		"MaxReplicas":       func(c *swarm.Config) { c.MaxReplicas = 0 },
		"MaxCount: product": func(c *swarm.Config) { c.MaxCount = math.MaxInt64/uint64(c.MaxReplicas) + 1 },
	} {
		field, _, _ := strings.Cut(name, ":")
		t.Run(name, func(t *testing.T) {
			cfg := swarm.DefaultLocalConfig("n")
			mutate(&cfg)
			n, err := swarm.New(cfg)
			require.Nil(t, n)
			require.ErrorIs(t, err, swarm.ErrInvalidConfig)
			require.Contains(t, err.Error(), field)
		})
	}
	cfg := swarm.DefaultLocalConfig("n")
	cfg.MaxCount = math.MaxInt64 / uint64(cfg.MaxReplicas)
	n, err := swarm.New(cfg)
	require.NoError(t, err)
	require.NoError(t, n.Close())
}
