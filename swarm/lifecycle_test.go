package swarm_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// requireClosed fails unless ch is closed within a generous deadline.
func requireClosed[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s still open after the node stopped", what)
		}
	}
}

// Subscription channels, of values and of membership, are closed when the
// node stops, by Leave or Close; a subscription made after gets a closed
// channel.
func TestSubscribeChannelsCloseAtShutdown(t *testing.T) {
	for name, stop := range map[string]func(*swarm.Node) error{
		"Leave": (*swarm.Node).Leave,
		"Close": (*swarm.Node).Close,
	} {
		t.Run(name, func(t *testing.T) {
			c := swarmtest.Start(t, 2, swarmtest.Options{})
			n := c.Node(0)
			ctr, err := swarm.NewCounter(n, "c")
			require.NoError(t, err)
			m, err := swarm.NewMap[string, int](n, "m", crdt.LWWOptions{})
			require.NoError(t, err)
			values, cancelValues := ctr.Shared().Subscribe()
			defer cancelValues()
			keys, cancelKeys := m.Shared().Subscribe()
			defer cancelKeys()
			members, cancelMembers := n.SubscribeMembers(4)
			defer cancelMembers()

			require.NoError(t, stop(n))
			requireClosed(t, values, "Shared.Subscribe channel")
			requireClosed(t, keys, "second Shared.Subscribe channel")
			requireClosed(t, members, "SubscribeMembers channel")
			late, cancelLate := ctr.Shared().Subscribe()
			defer cancelLate()
			requireClosed(t, late, "a subscription made after the stop")
			lateMembers, cancelLateMembers := n.SubscribeMembers(1)
			defer cancelLateMembers()
			requireClosed(t, lateMembers, "a member subscription made after the stop")
		})
	}
}

// Every handle answers ErrClosed after its node stops: Counter, Map,
// Register, Window and Shared, for updates and reads.
func TestEveryHandleAnswersErrClosedAfterStop(t *testing.T) {
	n, err := swarm.New(swarm.DefaultLocalConfig("solo"))
	require.NoError(t, err)
	ctr, err := swarm.NewCounter(n, "c")
	require.NoError(t, err)
	m, err := swarm.NewMap[string, int](n, "m", crdt.LWWOptions{})
	require.NoError(t, err)
	reg, err := swarm.NewRegister[string](n, "r", crdt.LWWOptions{})
	require.NoError(t, err)
	w, err := swarm.NewWindow(n, "w", time.Minute, 6)
	require.NoError(t, err)
	sh, err := swarm.Share(n, "g", crdt.NewGCounter)
	require.NoError(t, err)
	require.NoError(t, n.Leave())

	calls := map[string]func() error{
		"Counter.Add":   func() error { return ctr.Add(1) },
		"Counter.Value": func() error { _, err := ctr.Value(); return err },
		"Map.Set":       func() error { return m.Set("k", 1) },
		"Map.Delete":    func() error { return m.Delete("k") },
		"Map.Get":       func() error { _, _, err := m.Get("k"); return err },
		"Map.Len":       func() error { _, err := m.Len(); return err },
		"Map.All":       func() error { _, err := m.All(); return err },
		"Register.Set":  func() error { return reg.Set("v") },
		"Register.Get":  func() error { _, _, err := reg.Get(); return err },
		"Window.Add":    func() error { return w.Add(1) },
		"Window.Value":  func() error { _, err := w.Value(); return err },
		"Shared.Update": func() error { return sh.Update(func(g *crdt.GCounter, _ time.Time) { g.Add(1) }) },
		"Shared.Read":   func() error { return sh.Read(func(*crdt.GCounter) {}) },
		"Shared.Snapshot": func() error {
			_, err := sh.Snapshot()
			return err
		},
		"NewCounter": func() error { _, err := swarm.NewCounter(n, "other"); return err },
	}
	for name, call := range calls {
		require.ErrorIs(t, call(), swarm.ErrClosed, name)
	}
}
