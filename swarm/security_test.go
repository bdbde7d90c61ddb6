package swarm_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

func key(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

// Nodes sharing a key converge; a node with a wrong key or none can
// neither join nor inject a value, and its attempts are counted.
func TestEncryptionKeepsStrangersOut(t *testing.T) {
	k := key(t)
	c := swarmtest.Start(t, 3, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		cfg.SecretKeys = [][]byte{k}
	}})
	cs := counters(t, c, "secret")
	for _, ctr := range cs {
		require.NoError(t, ctr.Add(5))
	}
	waitCounters(t, cs, 15, 10*time.Second)

	for name, keys := range map[string][][]byte{"wrong-key": {key(t)}, "no-key": nil} {
		t.Run(name, func(t *testing.T) {
			cfg := c.Config(name, 9)
			cfg.SecretKeys = keys
			cfg.TCPTimeout = 500 * time.Millisecond
			intruder, err := swarm.New(cfg)
			require.NoError(t, err)
			defer intruder.Close()
			ic, err := swarm.NewCounter(intruder, "secret")
			require.NoError(t, err)
			require.NoError(t, ic.Add(1000))
			before := c.Node(0).Stats().TransportErrors
			_, err = intruder.Join(context.Background(), c.Node(0).Addr())
			require.Error(t, err, "a node without the key must not join")
			// The refused exchange is visible on the target...
			swarmtest.WaitFor(t, 5*time.Second, func() error {
				if c.Node(0).Stats().TransportErrors == before {
					return fmt.Errorf("no transport error counted yet")
				}
				return nil
			})
			// ...and nothing of the intruder's state got in.
			waitCounters(t, cs, 15, time.Second)
			require.Equal(t, 3, c.Node(0).Stats().Members)
		})
	}
}

// Rotating the primary key while every node keeps updating loses nothing.
func TestKeyRotationDuringUpdatesLosesNothing(t *testing.T) {
	k1, k2 := key(t), key(t)
	c := swarmtest.Start(t, 4, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		cfg.SecretKeys = [][]byte{k1}
	}})
	cs := counters(t, c, "rot")
	var total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, ctr := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if ctr.Add(1) == nil {
						total.Add(1)
					}
				}
			}
		}()
	}
	step := func(op func(*swarm.Node) error) {
		for _, nd := range c.Nodes() {
			require.NoError(t, op(nd))
		}
		// Let a few gossip rounds run between steps under load.
		swarmtest.WaitFor(t, 5*time.Second, func() error {
			if total.Load() < 50 {
				return fmt.Errorf("only %d adds so far", total.Load())
			}
			return nil
		})
	}
	step(func(n *swarm.Node) error { return n.InstallKey(k2) })
	step(func(n *swarm.Node) error { return n.UseKey(k2) })
	step(func(n *swarm.Node) error { return n.RemoveKey(k1) })
	close(stop)
	wg.Wait()
	waitCounters(t, cs, total.Load(), 15*time.Second)

	// A node holding only the old key is now a stranger.
	cfg := c.Config("old-key", 9)
	cfg.SecretKeys = [][]byte{k1}
	cfg.TCPTimeout = 500 * time.Millisecond
	old, err := swarm.New(cfg)
	require.NoError(t, err)
	defer old.Close()
	_, err = old.Join(context.Background(), c.Node(0).Addr())
	require.Error(t, err)
}

func TestKeyMethodsWithoutEncryption(t *testing.T) {
	n, err := swarm.New(swarm.DefaultLocalConfig("plain"))
	require.NoError(t, err)
	defer n.Close()
	require.ErrorIs(t, n.InstallKey(make([]byte, 16)), swarm.ErrNoEncryption)
}

// Two clusters with different labels on one network never merge.
func TestClusterLabelsNeverMix(t *testing.T) {
	a := swarmtest.Start(t, 2, swarmtest.Options{Config: func(i int, cfg *swarm.Config) { cfg.Label = "blue" }})
	b := swarmtest.Start(t, 2, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		cfg.Label = "green"
		cfg.Name = fmt.Sprintf("green-%d", i)
	}})
	ac, bc := counters(t, a, "c"), counters(t, b, "c")
	require.NoError(t, ac[0].Add(1))
	require.NoError(t, bc[0].Add(100))
	waitCounters(t, ac, 1, 10*time.Second)
	waitCounters(t, bc, 100, 10*time.Second)
	_, err := b.Node(0).Join(context.Background(), a.Node(0).Addr())
	require.Error(t, err, "a join across labels must fail")
	require.Equal(t, 2, a.Node(0).Stats().Members)
	waitCounters(t, ac, 1, time.Second)
}

// Garbage, truncated and oversized packets on UDP and TCP are rejected and
// counted; the node keeps working.
func TestBadInputIsRejectedAndCounted(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	cs := counters(t, c, "c")
	target := c.Node(0)
	addr := target.Addr()
	udp, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer udp.Close()
	const userMsg = 8 // memberlist's user-message type: the bytes reach shoal's decoder
	payloads := [][]byte{
		[]byte("garbage"),
		{userMsg, 0xff, 0x00, 0x13},                   // not CBOR
		{userMsg, 0xa3, 0x01},                         // truncated map
		{userMsg, 0x82, 0xa1, 0x01, 0x19, 0xff, 0xff}, // batch of a wrong version
		append([]byte{userMsg, 0x5a, 0xff, 0xff, 0xff, 0xff}, make([]byte, 60000)...), // oversized length
		{},
	}
	for _, p := range payloads {
		_, _ = udp.Write(p)
	}
	for _, p := range payloads {
		tcp, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, _ = tcp.Write(p)
		_ = tcp.Close()
	}
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		s := target.Stats()
		if s.DecodeErrors < 3 || s.TransportErrors < 1 {
			return fmt.Errorf("decode errors %d, transport errors %d", s.DecodeErrors, s.TransportErrors)
		}
		return nil
	})
	require.NoError(t, cs[0].Add(3))
	require.NoError(t, cs[1].Add(4))
	waitCounters(t, cs, 7, 10*time.Second)
}
