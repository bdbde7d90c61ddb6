package swarm_test

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// halfDeadTransport is a simulated transport whose node, once frozen,
// still answers probes (packets flow) but never reads a stream: a member
// that accepts a TCP connection and then stops reading.
type halfDeadTransport struct {
	*swarmtest.Transport
	frozen  atomic.Bool
	streams chan net.Conn
	done    chan struct{}
	mu      sync.Mutex
	held    []net.Conn
}

func newHalfDead(t *testing.T, tr *swarmtest.Transport) *halfDeadTransport {
	h := &halfDeadTransport{Transport: tr, streams: make(chan net.Conn), done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-h.done:
				return
			case c := <-tr.StreamCh():
				if h.frozen.Load() {
					h.mu.Lock()
					h.held = append(h.held, c)
					h.mu.Unlock()
					continue
				}
				select {
				case h.streams <- c:
				case <-h.done:
					_ = c.Close()
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(h.done)
		wg.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.held {
			_ = c.Close()
		}
	})
	return h
}

func (h *halfDeadTransport) StreamCh() <-chan net.Conn { return h.streams }

// A member that stops reading streams neither delays the flush of later
// updates to the others nor Close: large deltas go out on bounded
// workers, each send is cut at TCPTimeout, and Close ends the streams in
// flight. (The old flusher sent large deltas itself, one member after
// another, and stayed blocked on such a member with no deadline.)
func TestHalfDeadMemberBlocksNeitherFlushNorClose(t *testing.T) {
	simnet, err := swarmtest.NewNetwork(swarmtest.FaultConfig{Seed: 3})
	require.NoError(t, err)
	t.Cleanup(func() { _ = simnet.Close() })
	var zombie *halfDeadTransport
	c := swarmtest.Start(t, 3, swarmtest.Options{
		Config: func(i int, cfg *swarm.Config) {
			cfg.TCPTimeout = time.Minute // far beyond every wait below
			cfg.PushPullInterval = 0
		},
		Transport: func(name string) (memberlist.NodeAwareTransport, error) {
			tr, err := simnet.NewTransport(name)
			if err != nil || name != "node-2" {
				return tr, err
			}
			zombie = newHalfDead(t, tr)
			return zombie, nil
		},
	})
	sender := c.Node(0)
	var regs []*swarm.Register[[]byte]
	for _, nd := range c.Nodes() {
		r, err := swarm.NewRegister[[]byte](nd, "blob", crdt.LWWOptions{})
		require.NoError(t, err)
		regs = append(regs, r)
	}
	ctrs := counters(t, c, "after")
	zombie.frozen.Store(true)

	// Four large deltas in four flushes: the zombie holds two sends, the
	// others are dropped and counted; the healthy member gets them all.
	flushed, cancel := regs[0].Shared().Subscribe()
	defer cancel()
	var blob []byte
	for k := range 4 {
		blob = bytes.Repeat([]byte{byte(k)}, 64<<10)
		require.NoError(t, regs[0].Set(blob))
		select {
		case <-flushed:
		case <-time.After(20 * time.Second):
			t.Fatal("flush of a large delta never happened")
		}
	}
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		v, _, err := regs[1].Get()
		if err != nil || !bytes.Equal(v, blob) {
			return fmt.Errorf("the healthy member has %d bytes (%v)", len(v), err)
		}
		return nil
	})
	require.NoError(t, ctrs[0].Add(5))
	waitCounters(t, ctrs[:2], 5, 20*time.Second)
	require.Positive(t, sender.Stats().Drops["stream_member_slow"], "sends beyond the per-member bound are counted")

	closed := make(chan error, 1)
	go func() { closed <- sender.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Close waits on a member that stopped reading (TCPTimeout is a minute)")
	}
	st := sender.Stats()
	require.Positive(t, st.Drops["stream_send_failed"]+st.Drops["stream_send_stopped"], "the cut sends are counted")
}
