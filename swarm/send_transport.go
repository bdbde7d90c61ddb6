package swarm

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// nodeTransport is the transport memberlist sees: the configured one (real
// sockets, or a test network) plus what shoal needs around it.
//
//   - It counts every byte the node writes (Stats.WireBytesSent).
//   - Every stream this node dials gets a deadline of TCPTimeout. memberlist
//     sets its own deadline for push/pull and pings, but none for
//     SendReliable, whose write to a member that stopped reading would
//     otherwise wait for the kernel's TCP timeout (minutes).
//   - It tracks the streams it dialled that are still open, so that Close
//     ends them at once instead of waiting for their deadline.
type nodeTransport struct {
	memberlist.NodeAwareTransport
	sent          *atomic.Uint64
	streamTimeout time.Duration

	mu      sync.Mutex
	streams map[*trackedConn]struct{}
	closed  bool
}

func newNodeTransport(tr memberlist.NodeAwareTransport, sent *atomic.Uint64, streamTimeout time.Duration) *nodeTransport {
	return &nodeTransport{NodeAwareTransport: tr, sent: sent, streamTimeout: streamTimeout, streams: make(map[*trackedConn]struct{})}
}

func (t *nodeTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.sent.Add(uint64(len(b)))
	return t.NodeAwareTransport.WriteTo(b, addr)
}

func (t *nodeTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.sent.Add(uint64(len(b)))
	return t.NodeAwareTransport.WriteToAddress(b, a)
}

func (t *nodeTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.track(t.NodeAwareTransport.DialTimeout(addr, timeout))
}

func (t *nodeTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.track(t.NodeAwareTransport.DialAddressTimeout(a, timeout))
}

func (t *nodeTransport) track(c net.Conn, err error) (net.Conn, error) {
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(t.streamTimeout))
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return nil, ErrClosed
	}
	t.streams[tc] = struct{}{}
	return tc, nil
}

// closeStreams ends every stream still open and refuses new ones: a send
// in flight returns at once with an error.
func (t *nodeTransport) closeStreams() {
	t.mu.Lock()
	t.closed = true
	open := t.streams
	t.streams = nil
	t.mu.Unlock()
	for c := range open {
		_ = c.Conn.Close()
	}
}

// trackedConn is a dialled stream that leaves its transport's set when
// closed.
type trackedConn struct {
	net.Conn
	t    *nodeTransport
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.streams, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}
