package swarm_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/discovery"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// A node holds at most Options.MaxKeys classic keys: a peer's values for
// further keys are dropped and counted (not parked in the pending store),
// and ShareValue of a further key fails; keys it holds keep working.
func TestClassicKeyBudget(t *testing.T) {
	reg := discovery.NewFakeRegistry()
	a, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "a", FakeRegistry: reg, Tune: fastTune})
	require.NoError(t, err)
	t.Cleanup(a.Leave)
	b, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeSwarmLocalNode: "b", FakeRegistry: reg, MaxKeys: 5, Tune: fastTune})
	require.NoError(t, err)
	t.Cleanup(b.Leave)
	waitSees(t, []*swarm.Swarm{a, b}, "a", "b")

	const keys = 500 // more waits on the flush's packing (issue 11), not on the budget
	for k := range keys {
		require.NoError(t, a.ShareValue(fmt.Sprint("k", k), int64(k)))
	}
	require.Equal(t, keys, a.Len())
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		st := b.Node().Stats()
		if st.Drops["classic_keys_full"] < keys-5 {
			return fmt.Errorf("b dropped %d keys", st.Drops["classic_keys_full"])
		}
		return nil
	})
	require.Equal(t, 5, b.Len())
	require.Zero(t, b.Node().Stats().PendingValues, "refused keys are not parked")
	require.Zero(t, b.Node().Stats().Drops["pending_full"])

	err = b.ShareValue("one-too-many", 1)
	require.ErrorIs(t, err, swarm.ErrTooManyKeys)
	held := ""
	for k := range keys {
		if len(b.Values(fmt.Sprint("k", k))) > 0 {
			held = fmt.Sprint("k", k)
			break
		}
	}
	require.NotEmpty(t, held)
	require.NoError(t, b.ShareValue(held, "b's"))
	waitValues(t, []*swarm.Swarm{a}, held, map[string]interface{}{"a": a.Values(held)["a"], "b": "b's"})
}

// Reading a key registers nothing: a program (or a hostile caller) that
// reads many keys nobody shares leaves no trace.
func TestClassicValuesOfUnknownKeysRegisterNothing(t *testing.T) {
	s, err := swarm.NewSwarm(&swarm.Options{FakeSwarm: true, FakeRegistry: discovery.NewFakeRegistry(), Tune: fastTune})
	require.NoError(t, err)
	defer s.Leave()
	for k := range 10000 {
		require.Empty(t, s.Values(fmt.Sprint("nobody-", k)))
	}
	require.Zero(t, s.Len())
	require.Empty(t, s.Node().Values(), "no value registered on the node")
}

// A node carries one classic Swarm: a second would split its messages.
func TestNewSwarmOnNodeTwiceFails(t *testing.T) {
	n, err := swarm.New(swarm.DefaultLocalConfig("twice"))
	require.NoError(t, err)
	defer n.Close()
	s, err := swarm.NewSwarmOnNode(n, swarm.Options{})
	require.NoError(t, err)
	_, err = swarm.NewSwarmOnNode(n, swarm.Options{})
	require.ErrorIs(t, err, swarm.ErrSwarmExists)
	require.NoError(t, s.ShareValue("k", 1), "the first Swarm still works")
	require.Equal(t, map[string]interface{}{"twice": 1}, s.Values("k"))
}
