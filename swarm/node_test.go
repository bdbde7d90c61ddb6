package swarm_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

func counters(t *testing.T, c *swarmtest.Cluster, name string) []*swarm.Counter {
	t.Helper()
	var out []*swarm.Counter
	for _, nd := range c.Nodes() {
		ctr, err := swarm.NewCounter(nd, name)
		require.NoError(t, err)
		out = append(out, ctr)
	}
	return out
}

func waitCounters(t *testing.T, cs []*swarm.Counter, want int64, timeout time.Duration) {
	t.Helper()
	swarmtest.WaitFor(t, timeout, func() error {
		for i, c := range cs {
			v, err := c.Value()
			if err != nil {
				return err
			}
			if v != want {
				return fmt.Errorf("counter %d reads %d, want %d", i, v, want)
			}
		}
		return nil
	})
}

// Ten real loopback nodes add concurrently; every node ends with the exact
// sum.
func TestCounterConvergesOnTenNodes(t *testing.T) {
	c := swarmtest.Start(t, 10, swarmtest.Options{})
	cs := counters(t, c, "requests")
	var wg sync.WaitGroup
	var want int64
	for i, ctr := range cs {
		want += int64(i+1) * 500
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 500; k++ {
				if err := ctr.Add(int64(i + 1)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitCounters(t, cs, want, 20*time.Second)
}

// A node that joins after the updates converges with no further update:
// the join's state exchange carries everything.
func TestLateJoinerConvergesWithoutNewUpdates(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	cs := counters(t, c, "hits")
	for i, ctr := range cs {
		require.NoError(t, ctr.Add(int64(10*(i+1))))
	}
	waitCounters(t, cs, 60, 10*time.Second)

	late, err := c.Add("late", 3)
	require.NoError(t, err)
	_, err = late.Join(context.Background(), c.Node(0).Addr())
	require.NoError(t, err)
	lc, err := swarm.NewCounter(late, "hits")
	require.NoError(t, err)
	waitCounters(t, []*swarm.Counter{lc}, 60, 10*time.Second)
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cases := map[string]func(*swarm.Config){
		"Name":                 func(c *swarm.Config) { c.Name = "" },
		"BindAddr":             func(c *swarm.Config) { c.BindAddr = "localhost:1" },
		"BindPort":             func(c *swarm.Config) { c.BindPort = 70000 },
		"GossipInterval":       func(c *swarm.Config) { c.GossipInterval = 0 },
		"RetransmitMult":       func(c *swarm.Config) { c.RetransmitMult = 0 },
		"ProbeTimeout":         func(c *swarm.Config) { c.ProbeTimeout = 2 * c.ProbeInterval },
		"DirectSendMaxMembers": func(c *swarm.Config) { c.DirectSendMaxMembers = -1 },
		"TreeFanout":           func(c *swarm.Config) { c.TreeFanout = -1 },
		"MaxStateBytes":        func(c *swarm.Config) { c.MaxStateBytes = 21 << 20 },
		"SecretKeys[0]":        func(c *swarm.Config) { c.SecretKeys = [][]byte{[]byte("short")} },
		"FlushInterval":        func(c *swarm.Config) { c.FlushInterval = -time.Millisecond },
		"MaxEarlyBytes":        func(c *swarm.Config) { c.MaxEarlyBytes = -1 },
	}
	for field, mutate := range cases {
		t.Run(field, func(t *testing.T) {
			cfg := swarm.DefaultLocalConfig("n")
			mutate(&cfg)
			n, err := swarm.New(cfg)
			require.Nil(t, n)
			require.ErrorIs(t, err, swarm.ErrInvalidConfig)
			require.Contains(t, err.Error(), field)
		})
	}
}

func TestPortInUseIsAnError(t *testing.T) {
	a, err := swarm.New(swarm.DefaultLocalConfig("a"))
	require.NoError(t, err)
	defer a.Close()
	cfg := swarm.DefaultLocalConfig("b")
	_, port := splitPort(t, a.Addr())
	cfg.BindPort = port
	_, err = swarm.New(cfg)
	require.Error(t, err)
	require.Contains(t, err.Error(), "listen")
}

func splitPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	var host string
	var port int
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			host = addr[:i]
			_, err := fmt.Sscanf(addr[i+1:], "%d", &port)
			require.NoError(t, err)
			break
		}
	}
	return host, port
}

func TestEveryCallAfterCloseFails(t *testing.T) {
	n, err := swarm.New(swarm.DefaultLocalConfig("solo"))
	require.NoError(t, err)
	ctr, err := swarm.NewCounter(n, "c")
	require.NoError(t, err)
	require.NoError(t, ctr.Add(1))
	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "Close is idempotent")
	require.NoError(t, n.Leave(), "Leave after Close is a no-op")

	require.ErrorIs(t, ctr.Add(1), swarm.ErrClosed)
	_, err = ctr.Value()
	require.ErrorIs(t, err, swarm.ErrClosed)
	_, err = swarm.NewCounter(n, "d")
	require.ErrorIs(t, err, swarm.ErrClosed)
	_, err = n.Join(context.Background(), "127.0.0.1:1")
	require.ErrorIs(t, err, swarm.ErrClosed)
	require.ErrorIs(t, n.InstallKey(make([]byte, 16)), swarm.ErrClosed)
}

func TestSameNameDifferentTypeIsAnError(t *testing.T) {
	n, err := swarm.New(swarm.DefaultLocalConfig("solo"))
	require.NoError(t, err)
	defer n.Close()
	_, err = swarm.NewCounter(n, "x")
	require.NoError(t, err)
	_, err = swarm.Share(n, "x", crdt.NewGCounter)
	require.ErrorIs(t, err, swarm.ErrTypeMismatch)
	again, err := swarm.NewCounter(n, "x")
	require.NoError(t, err)
	first, _ := swarm.NewCounter(n, "x")
	require.Same(t, first, again, "one handle per name")
	_, err = swarm.NewCounter(n, "")
	require.True(t, errors.Is(err, swarm.ErrInvalidName))
}

// A value that arrives before its name is registered is kept and merged at
// registration.
func TestValueForUnregisteredNameIsKept(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	a, err := swarm.NewCounter(c.Node(0), "early")
	require.NoError(t, err)
	require.NoError(t, a.Add(7))
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if c.Node(1).Stats().PendingValues == 0 {
			return errors.New("node-1 holds no pending value yet")
		}
		return nil
	})
	b, err := swarm.NewCounter(c.Node(1), "early")
	require.NoError(t, err)
	v, err := b.Value()
	require.NoError(t, err)
	require.EqualValues(t, 7, v)
}

func TestWindowCountsAcrossNodes(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	var ws []*swarm.Window
	for _, nd := range c.Nodes() {
		w, err := swarm.NewWindow(nd, "events", time.Minute, 6)
		require.NoError(t, err)
		ws = append(ws, w)
	}
	for i, w := range ws {
		require.NoError(t, w.Add(uint64(i+1)))
	}
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		for i, w := range ws {
			if v, err := w.Value(); err != nil || v != 6 {
				return fmt.Errorf("node %d window = %v (%v), want 6", i, v, err)
			}
		}
		return nil
	})
	_, err := swarm.NewWindow(c.Node(0), "bad", 0, 6)
	require.Error(t, err)
}
