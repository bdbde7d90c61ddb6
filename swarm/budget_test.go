package swarm_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// Values for names a node has not registered are held within
// MaxPendingBytes, whatever their number and size; the drops are counted,
// and a name registered later still gets its value.
func TestPendingValuesStayWithinBytes(t *testing.T) {
	const bound = 100 << 10
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		if i == 1 {
			cfg.MaxPendingBytes = bound
		}
	}})
	sender, receiver := c.Node(0), c.Node(1)
	big := strings.Repeat("x", 20<<10)
	const values = 20 // 400 KiB in all, four times the bound
	for i := range values {
		m, err := swarm.NewMap[string, string](sender, fmt.Sprintf("big-%d", i), crdt.LWWOptions{})
		require.NoError(t, err)
		require.NoError(t, m.Set("k", big))
	}
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		s := receiver.Stats()
		if s.PendingBytes > bound {
			t.Fatalf("the receiver holds %d pending bytes, bound %d", s.PendingBytes, bound)
		}
		if s.Drops["pending_bytes"] == 0 {
			return fmt.Errorf("no pending_bytes drop yet (held %d values, %d bytes)", s.PendingValues, s.PendingBytes)
		}
		return nil
	})
	m, err := swarm.NewMap[string, string](receiver, "big-7", crdt.LWWOptions{})
	require.NoError(t, err)
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		if v, ok, _ := m.Get("k"); !ok || v != big {
			return fmt.Errorf("big-7 not there yet")
		}
		return nil
	})
}

// A peer's map entry stamped at the end of time is refused at merge and
// counted: on main the receiver stored it, and its own later Set and
// Delete returned nil and were reverted. A third node sees the writer's
// value, and anti-entropy re-offering the forged entry changes nothing.
func TestForgedFutureLWWEntryIsRefused(t *testing.T) {
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	maps := make([]*swarm.Map[string, int], 3)
	regs := make([]*swarm.Register[int], 3)
	for i, nd := range c.Nodes() {
		var err error
		maps[i], err = swarm.NewMap[string, int](nd, "owners", crdt.LWWOptions{})
		require.NoError(t, err)
		regs[i], err = swarm.NewRegister[int](nd, "leader", crdt.LWWOptions{})
		require.NoError(t, err)
	}
	endOfTime := time.Unix(0, math.MaxInt64)
	evil := c.Node(2)
	require.NoError(t, maps[2].Shared().Update(func(m *crdt.LWWMap[string, int], _ time.Time) { m.SetAt(endOfTime, "k", 666) }))
	require.NoError(t, regs[2].Shared().Update(func(r *crdt.LWWRegister[int], _ time.Time) { r.SetAt(endOfTime, 666) }))
	victim := c.Node(0)
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		for _, nd := range c.Nodes()[:2] {
			if r := nd.Stats().Rejected["lww_clock_skew"]; r < 2 {
				return fmt.Errorf("%s refused %d skewed entries, want the map's and the register's", nd.Name(), r)
			}
		}
		return nil
	})
	require.NoError(t, maps[0].Set("k", 1))
	require.NoError(t, regs[0].Set(1))
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		for i := range 2 {
			if v, ok, _ := maps[i].Get("k"); !ok || v != 1 {
				return fmt.Errorf("node %d: map k = %d, %v; want the writer's 1", i, v, ok)
			}
			if v, _, _ := regs[i].Get(); v != 1 {
				return fmt.Errorf("node %d: register = %d; want the writer's 1", i, v)
			}
		}
		return nil
	})
	// Anti-entropy offers the forged entries again; they stay refused.
	before := victim.Stats().Rejected["lww_clock_skew"]
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		if r := victim.Stats().Rejected["lww_clock_skew"]; r < before+2 {
			return fmt.Errorf("no new refusal yet (%d)", r)
		}
		return nil
	})
	require.NoError(t, maps[0].Delete("k"))
	v, ok, err := maps[0].Get("k")
	require.NoError(t, err)
	require.False(t, ok, "a local delete must take, got %d", v)
	_ = evil
}

// The node drops tombstones once they are older than the map's
// TombstoneTTL, with no call from the program: on main every deleted key
// stayed (91 % of a 100k-key map after deleting every key).
func TestTombstonesExpireByTheNode(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	n := c.Node(0)
	m, err := swarm.NewMap[string, int](n, "sessions", crdt.LWWOptions{TombstoneTTL: 200 * time.Millisecond})
	require.NoError(t, err)
	const keys = 10_000
	require.NoError(t, m.Shared().Update(func(mp *crdt.LWWMap[string, int], now time.Time) {
		for i := range keys {
			mp.SetAt(now, fmt.Sprintf("s-%05d", i), i)
		}
		for i := range keys {
			mp.DeleteAt(now, fmt.Sprintf("s-%05d", i))
		}
	}))
	require.NoError(t, m.Set("kept", 1))
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		var tomb int
		require.NoError(t, m.Shared().Read(func(mp *crdt.LWWMap[string, int]) { tomb = mp.Tombstones() }))
		if tomb != 0 {
			return fmt.Errorf("%d tombstones left", tomb)
		}
		return nil
	})
	require.GreaterOrEqual(t, n.Stats().TombstonesExpired, uint64(keys))
	l, err := m.Len()
	require.NoError(t, err)
	require.Equal(t, 1, l)
}

// Registering a name again with another configuration is an error naming
// both; the same configuration (or an equivalent one) returns the same
// handle. On main the second call silently returned the first handle.
func TestRegisteringAgainWithAnotherConfigFails(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{NoJoin: true})
	n := c.Node(0)

	w, err := swarm.NewWindow(n, "rate", time.Second, 10)
	require.NoError(t, err)
	again, err := swarm.NewWindow(n, "rate", time.Second, 10)
	require.NoError(t, err)
	require.Same(t, w, again)
	_, err = swarm.NewWindow(n, "rate", 2*time.Second, 10)
	require.True(t, errors.Is(err, swarm.ErrConfigMismatch), "%v", err)
	require.ErrorContains(t, err, "window 1s in 10 buckets")
	require.ErrorContains(t, err, "window 2s in 10 buckets")

	mp, err := swarm.NewMap[string, int](n, "m", crdt.LWWOptions{})
	require.NoError(t, err)
	same, err := swarm.NewMap[string, int](n, "m", crdt.LWWOptions{MaxSkew: crdt.DefaultMaxSkew, TombstoneTTL: crdt.DefaultTombstoneTTL})
	require.NoError(t, err, "the defaults spelled out are the same configuration")
	require.Same(t, mp, same)
	_, err = swarm.NewMap[string, int](n, "m", crdt.LWWOptions{TombstoneTTL: time.Minute})
	require.True(t, errors.Is(err, swarm.ErrConfigMismatch), "%v", err)
	require.ErrorContains(t, err, "TombstoneTTL 1h0m0s")
	require.ErrorContains(t, err, "TombstoneTTL 1m0s")

	_, err = swarm.NewRegister[int](n, "r", crdt.LWWOptions{MaxSkew: time.Second})
	require.NoError(t, err)
	_, err = swarm.NewRegister[int](n, "r", crdt.LWWOptions{MaxSkew: time.Second, TombstoneTTL: time.Minute})
	require.NoError(t, err, "a register ignores TombstoneTTL")
	_, err = swarm.NewRegister[int](n, "r", crdt.LWWOptions{})
	require.True(t, errors.Is(err, swarm.ErrConfigMismatch), "%v", err)

	// ShareConfig is the mechanism the helpers use; plain Share does not
	// compare.
	type limit struct{ PerSecond int }
	_, err = swarm.ShareConfig(n, "g", limit{10}, crdt.NewGCounter)
	require.NoError(t, err)
	_, err = swarm.Share(n, "g", crdt.NewGCounter)
	require.NoError(t, err)
	_, err = swarm.ShareConfig(n, "g", limit{20}, crdt.NewGCounter)
	require.True(t, errors.Is(err, swarm.ErrConfigMismatch), "%v", err)
	_, err = swarm.ShareConfig(n, "h", []int{1}, crdt.NewGCounter)
	require.True(t, errors.Is(err, swarm.ErrInvalidConfig), "%v", err)
}
