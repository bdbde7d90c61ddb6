package swarmtest

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrInvalidFaultConfig is returned when a FaultConfig holds a probability
// outside [0, 1] (or NaN) or a negative duration.
var ErrInvalidFaultConfig = errors.New("shoal/swarmtest: invalid fault config")

// ErrInvalidName is returned when a transport is requested with an empty name.
var ErrInvalidName = errors.New("shoal/swarmtest: invalid transport name")

// ErrDuplicateName is returned when a transport is requested with the name of
// a transport on the same Network that has not been shut down.
var ErrDuplicateName = errors.New("shoal/swarmtest: transport name already in use")

// ErrNetworkFull is returned when a Network has handed out every address of
// its simulated 10.0.0.0/8 range.
var ErrNetworkFull = errors.New("shoal/swarmtest: network address space exhausted")

// ErrInvalidPartition is returned when Partition lists one node name in more
// than one group, or lists an empty name.
var ErrInvalidPartition = errors.New("shoal/swarmtest: invalid partition")

// ErrNetworkClosed is returned when a transport is created, written to or
// dialled through after its Network was closed.
var ErrNetworkClosed = errors.New("shoal/swarmtest: network closed")

// ErrTransportShutdown is returned when a transport that has been shut down
// is asked to send a packet or dial a stream.
var ErrTransportShutdown = errors.New("shoal/swarmtest: transport shut down")

// ErrNoRoute is returned when a stream is dialled to an address that no live
// transport on the Network holds, or whose transport shuts down while the
// dial waits; it plays the part of "connection refused".
var ErrNoRoute = errors.New("shoal/swarmtest: no route to address")

// ErrUnreachable is returned when a stream is dialled across a partition or
// to or from an isolated node. The error also reports Timeout() == true, as a
// TCP dial into a black hole would, but it is returned at once.
var ErrUnreachable = errors.New("shoal/swarmtest: address unreachable")

// ErrDialTimeout is returned when the dialled transport does not accept a
// stream within the dial timeout. The error also reports Timeout() == true.
var ErrDialTimeout = errors.New("shoal/swarmtest: dial timed out")

// packetBacklog is how many packets a transport buffers before further
// arrivals are dropped (counted in NetworkStats.PacketsOverflowed), like a
// full UDP socket buffer.
const packetBacklog = 1024

// simPort is the port every simulated address uses; hosts differ instead.
const simPort = 7946

// FaultConfig describes the faults a Network injects. The zero value is a
// perfect network: every packet is delivered once, at once, in order.
//
// Drop, Delay, Jitter and Duplicate apply to packets (memberlist's UDP path)
// only. Streams (memberlist's TCP path) are reliable; they wait Delay before
// they are offered to the receiver but are never dropped, duplicated or
// reordered. Partitions (see Network.Partition) apply to both.
type FaultConfig struct {
	// Drop is the probability in [0, 1] that a packet is lost.
	Drop float64
	// Delay is the base one-way delay of every packet and of stream set-up.
	Delay time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter) to each
	// packet independently, so packets sent back to back may arrive out of
	// order.
	Jitter time.Duration
	// Duplicate is the probability in [0, 1] that a packet that was not
	// dropped is delivered twice; each copy draws its own jitter.
	Duplicate float64
	// Seed seeds the network's random source. Zero picks a time-based seed.
	// The same seed gives each transport the same sequence of fault
	// decisions, but memberlist's timing is up to the scheduler, so runs of
	// concurrent nodes are not reproducible packet for packet.
	//
	// Each transport draws from its own source, derived from Seed and the
	// order in which transports were created, so the decisions for one
	// sender do not depend on how other senders interleave with it.
	Seed int64
}

// validate reports whether every field of c is in range.
func (c FaultConfig) validate() error {
	if math.IsNaN(c.Drop) || c.Drop < 0 || c.Drop > 1 {
		return fmt.Errorf("%w: Drop %v is not in [0, 1]", ErrInvalidFaultConfig, c.Drop)
	}
	if math.IsNaN(c.Duplicate) || c.Duplicate < 0 || c.Duplicate > 1 {
		return fmt.Errorf("%w: Duplicate %v is not in [0, 1]", ErrInvalidFaultConfig, c.Duplicate)
	}
	if c.Delay < 0 {
		return fmt.Errorf("%w: Delay %v is negative", ErrInvalidFaultConfig, c.Delay)
	}
	if c.Jitter < 0 {
		return fmt.Errorf("%w: Jitter %v is negative", ErrInvalidFaultConfig, c.Jitter)
	}
	return nil
}

// NetworkStats counts what a Network did with the traffic it was given.
// Each counter is exact, but a snapshot taken while traffic flows is not
// atomic across counters. Once the network is idle (PacketsInFlight is 0 and
// no sender is mid-call),
//
//	PacketsSent + PacketsDuplicated == PacketsDelivered + PacketsDropped +
//	    PacketsPartitioned + PacketsUndeliverable + PacketsOverflowed
type NetworkStats struct {
	// PacketsSent counts WriteTo and WriteToAddress calls on live transports.
	PacketsSent uint64
	// PacketsDuplicated counts extra copies made by FaultConfig.Duplicate.
	PacketsDuplicated uint64
	// PacketsDelivered counts packets put on a receiver's PacketCh.
	PacketsDelivered uint64
	// PacketsDropped counts packets lost to FaultConfig.Drop.
	PacketsDropped uint64
	// PacketsPartitioned counts packets lost to a partition or isolation,
	// whether it was in place when the packet was sent or when it was due.
	PacketsPartitioned uint64
	// PacketsUndeliverable counts packets to an unknown or shut-down
	// address, and packets still in flight when the network closed.
	PacketsUndeliverable uint64
	// PacketsOverflowed counts packets lost because the receiver's PacketCh
	// buffer (1024 packets) was full.
	PacketsOverflowed uint64
	// PacketsInFlight is the number of packets waiting out their delay or
	// being handed to their receiver.
	PacketsInFlight int
	// StreamsOpened counts streams handed to a receiver.
	StreamsOpened uint64
	// StreamsRefused counts dials that failed for any reason.
	StreamsRefused uint64
}

// networkCounters are the atomic counters behind NetworkStats.
type networkCounters struct {
	sent, duplicated, delivered, dropped atomic.Uint64
	partitioned, undeliverable           atomic.Uint64
	overflowed, opened, refused          atomic.Uint64
	inFlight                             atomic.Int64 // queued or being delivered
}

// Network is an in-process simulated network connecting memberlist
// transports, with configurable packet loss, delay, jitter (and so
// reordering), duplication and partitions. It is meant for tests that run
// tens to hundreds of memberlist nodes in one process: delayed packets wait
// in one timer heap served by one goroutine per Network, not a goroutine or
// timer per packet, and a sender never blocks.
//
// Create one with NewNetwork, one Transport per node with NewTransport, and
// pass each transport as memberlist.Config.Transport. Faults can be changed
// at any time with SetFaults, Partition, Isolate and Heal. Close the Network
// when done; it stops its goroutine.
//
// A Network is safe for concurrent use.
type Network struct {
	wake chan struct{} // nudges the delivery loop when the queue head changes
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	stats  networkCounters
	faults atomic.Pointer[FaultConfig]
	seed   uint64 // seeds each transport's random source

	// mu guards the topology. Senders only read it, so they do not
	// serialise on one another.
	mu       sync.RWMutex
	byAddr   map[string]*Transport
	byName   map[string]*Transport
	group    map[string]int // partition group by node name; absent = unlisted
	isolated map[string]bool
	cut      map[link]bool // links cut by Cut, in both directions
	hosts    uint32        // addresses handed out so far
	closed   bool

	qmu     sync.Mutex // guards the fields below
	queue   deliveryQueue
	seq     uint64 // tie-breaker keeping equal-time packets in send order
	qclosed bool
}

// NewNetwork returns a running Network that injects the faults in cfg. It
// returns an error wrapping ErrInvalidFaultConfig if cfg is out of range.
// The caller must Close the Network.
func NewNetwork(cfg FaultConfig) (*Network, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	n := &Network{
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		seed:     uint64(seed),
		byAddr:   make(map[string]*Transport),
		byName:   make(map[string]*Transport),
		group:    make(map[string]int),
		isolated: make(map[string]bool),
		cut:      make(map[link]bool),
	}
	n.faults.Store(&cfg)
	n.wg.Add(1)
	go n.deliveryLoop()
	return n, nil
}

// SetFaults replaces the fault configuration; it applies to packets sent and
// streams dialled from then on (packets already in flight keep their delay).
// Seed is ignored: random sources are seeded once, by NewNetwork. It returns
// an error wrapping ErrInvalidFaultConfig, and changes nothing, if cfg is
// out of range.
func (n *Network) SetFaults(cfg FaultConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.Seed = n.faults.Load().Seed
	n.faults.Store(&cfg)
	return nil
}

// Faults returns the current fault configuration.
func (n *Network) Faults() FaultConfig {
	return *n.faults.Load()
}

// NewTransport returns a transport for the node called name, with an address
// of its own ("10.x.y.z:7946"). Names must be unique among live transports:
// it returns an error wrapping ErrDuplicateName if a transport with that
// name has not been shut down, ErrInvalidName for an empty name and
// ErrNetworkClosed after Close. A name becomes free again when its transport
// shuts down, so a node can restart under its old name; it gets a new
// address, as a restarted pod would, and keeps its place in any partition.
func (n *Network) NewTransport(name string) (*Transport, error) {
	if name == "" {
		return nil, ErrInvalidName
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("new transport %q: %w", name, ErrNetworkClosed)
	}
	if _, ok := n.byName[name]; ok {
		return nil, fmt.Errorf("new transport %q: %w", name, ErrDuplicateName)
	}
	// Host numbers 1 .. 2^24-2 map onto 10.0.0.1 .. 10.255.255.254.
	if n.hosts >= 1<<24-2 {
		return nil, fmt.Errorf("new transport %q: %w", name, ErrNetworkFull)
	}
	n.hosts++
	h := n.hosts
	ip := net.IPv4(10, byte(h>>16), byte(h>>8), byte(h)).To4()
	t := newTransport(n, name, ip, simPort, n.seed^uint64(h)*0x9e3779b97f4a7c15)
	n.byAddr[t.addr.String()] = t
	n.byName[name] = t
	return t, nil
}

// Partition splits the network into the given groups of node names,
// replacing any earlier partition (isolations stay). Two nodes listed in
// different groups can exchange no packets and open no streams; nodes in
// the same group, and nodes not listed at all, are unaffected: an unlisted
// node still reaches everyone. Names need not belong to a transport yet.
// Packets already in flight across the new cut are lost when due. Streams
// already open stay open, as established TCP connections outlive short
// partitions.
//
// It returns an error wrapping ErrInvalidPartition, and changes nothing, if a
// name is empty or appears in more than one group.
func (n *Network) Partition(groups ...[]string) error {
	group := make(map[string]int)
	for i, g := range groups {
		for _, name := range g {
			if name == "" {
				return fmt.Errorf("%w: empty node name in group %d", ErrInvalidPartition, i)
			}
			if j, ok := group[name]; ok && j != i {
				return fmt.Errorf("%w: node %q is in groups %d and %d", ErrInvalidPartition, name, j, i)
			}
			group[name] = i
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = group
	return nil
}

// Isolate cuts the named node off from every other node, in both
// directions, until Reconnect or Heal. The node need not exist yet.
func (n *Network) Isolate(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[name] = true
}

// Reconnect undoes Isolate for the named node; partitions stay.
func (n *Network) Reconnect(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.isolated, name)
}

// link names the link between two nodes, in either direction.
type link struct{ a, b string }

func linkOf(a, b string) link {
	if a > b {
		a, b = b, a
	}
	return link{a, b}
}

// Cut cuts the link between nodes a and b, in both directions (packets
// and new streams), until Uncut or Heal; each keeps reaching every other
// node. Unlike Partition, cuts need not be transitive: a and b can both
// reach c while they cannot reach each other, which forces what a sends to
// reach b through c (a relay). The nodes need not exist yet.
func (n *Network) Cut(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[linkOf(a, b)] = true
}

// Uncut restores the link Cut removed.
func (n *Network) Uncut(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, linkOf(a, b))
}

// Heal removes every partition, isolation and cut. It does not make memberlist
// nodes that declared each other dead rejoin: call memberlist's Join, or
// wait for its gossip to the dead and push/pull to do so.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = make(map[string]int)
	n.isolated = make(map[string]bool)
	n.cut = make(map[link]bool)
}

// reachableLocked reports whether node from may currently talk to node to.
// The caller holds n.mu.
func (n *Network) reachableLocked(from, to string) bool {
	if from == to {
		return true
	}
	if n.isolated[from] || n.isolated[to] || n.cut[linkOf(from, to)] {
		return false
	}
	gf, okf := n.group[from]
	gt, okt := n.group[to]
	return !okf || !okt || gf == gt
}

// Stats returns a snapshot of the network's counters.
func (n *Network) Stats() NetworkStats {
	s := &n.stats
	return NetworkStats{
		PacketsSent:          s.sent.Load(),
		PacketsDuplicated:    s.duplicated.Load(),
		PacketsDelivered:     s.delivered.Load(),
		PacketsDropped:       s.dropped.Load(),
		PacketsPartitioned:   s.partitioned.Load(),
		PacketsUndeliverable: s.undeliverable.Load(),
		PacketsOverflowed:    s.overflowed.Load(),
		PacketsInFlight:      int(s.inFlight.Load()),
		StreamsOpened:        s.opened.Load(),
		StreamsRefused:       s.refused.Load(),
	}
}

// Close stops the network: packets in flight are discarded (counted as
// undeliverable), pending dials fail with ErrNetworkClosed, and the delivery
// goroutine has exited when Close returns. Transports stay valid objects but
// can no longer send or dial; shutting them down afterwards is harmless.
// Close is idempotent and always returns nil.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.qmu.Lock()
	n.qclosed = true
	n.stats.undeliverable.Add(uint64(len(n.queue)))
	n.stats.inFlight.Add(-int64(len(n.queue)))
	n.queue = nil
	n.qmu.Unlock()
	close(n.done)
	n.wg.Wait()
	return nil
}

// remove forgets t so that packets to its address are undeliverable and its
// name can be reused.
func (n *Network) remove(t *Transport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr[t.addr.String()] == t {
		delete(n.byAddr, t.addr.String())
	}
	if n.byName[t.name] == t {
		delete(n.byName, t.name)
	}
}

// lookupLocked finds the live transport for a memberlist address: by
// address, or by name when the address is empty. The caller holds n.mu.
func (n *Network) lookupLocked(a memberlist.Address) *Transport {
	if a.Addr == "" {
		return n.byName[a.Name]
	}
	return n.byAddr[a.Addr]
}
