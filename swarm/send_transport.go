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
	sent *atomic.Uint64
	// membership counts the bytes of memberlist's own messages in the
	// packets sent (Stats.MembershipBytesSent).
	membership    atomic.Uint64
	streamTimeout time.Duration

	mu      sync.Mutex
	streams map[*trackedConn]struct{}
	closed  bool
}

func newNodeTransport(tr memberlist.NodeAwareTransport, sent *atomic.Uint64, streamTimeout time.Duration) *nodeTransport {
	return &nodeTransport{NodeAwareTransport: tr, sent: sent, streamTimeout: streamTimeout, streams: make(map[*trackedConn]struct{})}
}

func (t *nodeTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.count(b)
	return t.NodeAwareTransport.WriteTo(b, addr)
}

func (t *nodeTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	t.count(b)
	return t.NodeAwareTransport.WriteToAddress(b, a)
}

func (t *nodeTransport) count(b []byte) {
	t.sent.Add(uint64(len(b)))
	if user, ok := userBytes(b); ok {
		t.membership.Add(uint64(len(b) - user))
	}
}

// memberlist's packet framing (net.go, label.go in memberlist v0.7).
const (
	mlCompound = 7
	mlUser     = 8
	mlCRC      = 12
	mlLabel    = 244
)

// userBytes reads memberlist's framing of a packet this node sends and
// returns the bytes of the user messages in it (shoal's own), so that the
// rest is memberlist's: probes, acks, and its membership gossip, alone or
// in a compound message with ours. ok is false for a packet it cannot
// read (compressed or encrypted): neither share is known.
func userBytes(b []byte) (user int, ok bool) {
	if len(b) >= 2 && b[0] == mlLabel {
		if len(b) < 2+int(b[1]) {
			return 0, false
		}
		b = b[2+int(b[1]):]
	}
	if len(b) >= 5 && b[0] == mlCRC {
		b = b[5:]
	}
	if len(b) == 0 {
		return 0, false
	}
	switch b[0] {
	case mlUser:
		return len(b), true
	case mlCompound:
		if len(b) < 2 {
			return 0, false
		}
		parts := int(b[1])
		lens, body := b[2:], 2+2*parts
		if len(b) < body {
			return 0, false
		}
		for i := range parts {
			l := int(lens[2*i])<<8 | int(lens[2*i+1])
			if body+l > len(b) {
				return 0, false
			}
			if b[body] == mlUser {
				user += l
			}
			body += l
		}
		return user, true
	case 9, 10: // compressed, encrypted
		return 0, false
	}
	return 0, true
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
