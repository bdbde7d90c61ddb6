package swarmtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Transport is one node's attachment to a Network. It implements
// memberlist.NodeAwareTransport; set it as memberlist.Config.Transport. It
// carries memberlist's bytes unchanged, so labels and encryption work as
// over real sockets.
//
// Packets (WriteTo) are best effort and subject to the Network's faults.
// Streams (DialTimeout) are net.Pipe pairs: synchronous, reliable and
// ordered. PacketCh and StreamCh are never closed, not even by Shutdown,
// because memberlist's listeners would read a nil packet from a closed
// channel before they notice their own shutdown. Once Shutdown has
// returned, nothing new is sent on them, except a packet whose delivery was
// already under way.
//
// A Transport is safe for concurrent use.
type Transport struct {
	net      *Network
	name     string
	addr     net.Addr // a simAddr, boxed once so that packets do not allocate it
	ip       net.IP
	port     int
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	shut     atomic.Bool
	done     chan struct{} // closed by Shutdown

	rngMu sync.Mutex // guards rng
	rng   *rand.Rand // fault decisions for packets this transport sends
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// newTransport returns a transport of n at ip:port.
func newTransport(n *Network, name string, ip net.IP, port int, seed uint64) *Transport {
	return &Transport{
		net:      n,
		name:     name,
		addr:     simAddr(net.JoinHostPort(ip.String(), strconv.Itoa(port))),
		ip:       ip,
		port:     port,
		packetCh: make(chan *memberlist.Packet, packetBacklog),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),
		rng:      rand.New(rand.NewPCG(seed, seed^0xda942042e4dd58b5)),
	}
}

// faultPlan is what the network does with one packet.
type faultPlan struct {
	drop   bool
	copies int              // 1, or 2 if duplicated
	delay  [2]time.Duration // per copy
}

// plan draws the fate of one packet under cfg from t's random source.
func (t *Transport) plan(cfg *FaultConfig) faultPlan {
	t.rngMu.Lock()
	defer t.rngMu.Unlock()
	if cfg.Drop > 0 && t.rng.Float64() < cfg.Drop {
		return faultPlan{drop: true}
	}
	p := faultPlan{copies: 1}
	if cfg.Duplicate > 0 && t.rng.Float64() < cfg.Duplicate {
		p.copies = 2
	}
	for i := range p.copies {
		p.delay[i] = cfg.Delay
		if cfg.Jitter > 0 {
			p.delay[i] += time.Duration(t.rng.Int64N(int64(cfg.Jitter)))
		}
	}
	return p
}

// Addr returns the transport's address, "host:port", as memberlist
// advertises it and as other nodes' Join calls expect it.
func (t *Transport) Addr() string { return t.addr.String() }

// Name returns the node name the transport was created for.
func (t *Transport) Name() string { return t.name }

// FinalAdvertiseAddr returns the transport's simulated IP and port. The
// configured values are ignored: the address is fixed by the Network.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return append(net.IP(nil), t.ip...), t.port, nil
}

// WriteTo sends b as one packet to addr. It copies b, never blocks, and
// returns the send time. A packet lost to faults, partitions, a full
// receiver or an unknown address is not an error, as with UDP; the error is
// ErrTransportShutdown or ErrNetworkClosed (wrapped). A write on a shut-down
// transport also wraps net.ErrClosed, as a write on a closed socket does, so
// that a node logs memberlist's probes failing during its own shutdown as
// it does on real sockets (at debug level).
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress is WriteTo for a memberlist.Address: it routes by Addr,
// or by Name if Addr is empty.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if t.isShutdown() {
		return now, fmt.Errorf("write to %s: %w: %w", a.String(), ErrTransportShutdown, net.ErrClosed)
	}
	return now, t.net.send(t, b, a)
}

// PacketCh returns the channel of packets arriving at this transport. It
// buffers 1024 packets; arrivals beyond that are dropped.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh returns the channel of streams dialled to this transport.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout opens a stream to addr. See DialAddressTimeout.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to the transport at a.Addr (or named
// a.Name if Addr is empty). After the Network's base Delay it offers the
// far end of a pipe on the receiver's StreamCh and returns the near end
// once the receiver takes it. The error wraps
//   - ErrUnreachable (Timeout() true, returned at once) across a partition,
//   - ErrNoRoute if no live transport holds the address or it shuts down,
//   - ErrDialTimeout (Timeout() true) if the receiver does not accept
//     within timeout (timeout <= 0 waits without limit),
//   - ErrTransportShutdown or ErrNetworkClosed if this side goes away.
//
// Both ends report the two transports' addresses as LocalAddr/RemoteAddr.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	conn, err := t.dial(a, timeout)
	if err != nil {
		t.net.stats.refused.Add(1)
		return nil, err
	}
	t.net.stats.opened.Add(1)
	return conn, nil
}

// dial does the work of DialAddressTimeout without the counting.
func (t *Transport) dial(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.isShutdown() {
		return nil, fmt.Errorf("dial %s: %w", a.String(), ErrTransportShutdown)
	}
	n := t.net
	n.mu.RLock()
	closed := n.closed
	dest := n.lookupLocked(a)
	reachable := dest != nil && n.reachableLocked(t.name, dest.name)
	n.mu.RUnlock()
	switch {
	case closed:
		return nil, fmt.Errorf("dial %s: %w", a.String(), ErrNetworkClosed)
	case dest == nil:
		return nil, fmt.Errorf("dial %s: %w", a.String(), ErrNoRoute)
	case !reachable:
		return nil, timeoutError{fmt.Errorf("dial %s: %w", a.String(), ErrUnreachable)}
	}
	delay := n.faults.Load().Delay

	var deadline <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	if delay > 0 {
		wait := time.NewTimer(delay)
		defer wait.Stop()
		select {
		case <-wait.C:
		case <-deadline:
			return nil, timeoutError{fmt.Errorf("dial %s: %w", a.String(), ErrDialTimeout)}
		case <-dest.done:
			return nil, fmt.Errorf("dial %s: %w", a.String(), ErrNoRoute)
		case <-t.done:
			return nil, fmt.Errorf("dial %s: %w", a.String(), ErrTransportShutdown)
		case <-n.done:
			return nil, fmt.Errorf("dial %s: %w", a.String(), ErrNetworkClosed)
		}
		// A partition made while the dial waited cuts it too.
		n.mu.RLock()
		reachable = n.reachableLocked(t.name, dest.name)
		n.mu.RUnlock()
		if !reachable {
			return nil, timeoutError{fmt.Errorf("dial %s: %w", a.String(), ErrUnreachable)}
		}
	}

	near, far := net.Pipe()
	local := &simConn{Conn: near, local: t.addr, remote: dest.addr}
	remote := &simConn{Conn: far, local: dest.addr, remote: t.addr}
	var err error
	select {
	case dest.streamCh <- remote:
		return local, nil
	case <-deadline:
		err = timeoutError{fmt.Errorf("dial %s: %w", a.String(), ErrDialTimeout)}
	case <-dest.done:
		err = fmt.Errorf("dial %s: %w", a.String(), ErrNoRoute)
	case <-t.done:
		err = fmt.Errorf("dial %s: %w", a.String(), ErrTransportShutdown)
	case <-n.done:
		err = fmt.Errorf("dial %s: %w", a.String(), ErrNetworkClosed)
	}
	_ = near.Close()
	_ = far.Close()
	return nil, err
}

// Shutdown detaches the transport from its Network: packets to its address
// become undeliverable, dials to it are refused, pending dials from and to
// it fail, and its name becomes free. It does not close PacketCh or
// StreamCh (see Transport). Shutdown is idempotent and returns nil.
func (t *Transport) Shutdown() error {
	if !t.shut.CompareAndSwap(false, true) {
		return nil
	}
	t.net.remove(t)
	close(t.done)
	return nil
}

// isShutdown reports whether Shutdown has been called.
func (t *Transport) isShutdown() bool { return t.shut.Load() }

// simAddr is a simulated "ip:port" address.
type simAddr string

// Network returns "sim", naming the simulated network.
func (simAddr) Network() string { return "sim" }

// String returns the address as "ip:port".
func (a simAddr) String() string { return string(a) }

// simConn is one end of a pipe that reports simulated addresses.
type simConn struct {
	net.Conn
	local, remote net.Addr
}

// LocalAddr returns the address of the transport holding this end.
func (c *simConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the address of the transport holding the other end.
func (c *simConn) RemoteAddr() net.Addr { return c.remote }

// timeoutError marks a dial error as a timeout, as net.Error callers expect
// of an unreachable peer.
type timeoutError struct{ err error }

// Error returns the wrapped error's message.
func (e timeoutError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error, so errors.Is sees the sentinel.
func (e timeoutError) Unwrap() error { return e.err }

// Timeout reports true: the dial failed the way a timed-out dial fails.
func (e timeoutError) Timeout() bool { return true }

// Temporary reports true: the condition may clear (for net.Error).
func (e timeoutError) Temporary() bool { return true }
