package swarmtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

func TestTestNodeKeepsThePredecessorsHelper(t *testing.T) {
	a, err := swarmtest.NewTestNode("a", "127.0.0.1", 0)
	require.NoError(t, err)
	defer a.ShutDown()
	b, err := swarmtest.NewTestNode("b", "127.0.0.1", 0)
	require.NoError(t, err)
	defer b.ShutDown()
	require.NoError(t, b.Join([]string{a.Addr()}))
	require.NoError(t, a.ListMembers())
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if m := a.Node().Stats().Members; m != 2 {
			return fmt.Errorf("%d members", m)
		}
		return nil
	})
	require.NoError(t, b.Exit())
	require.Error(t, b.Exit(), "a node exits once")
	require.Error(t, b.ListMembers())
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		m, ok := a.Node().Member("b")
		if !ok || m.State != swarm.MemberFailed {
			return fmt.Errorf("b is %v", m.State)
		}
		return nil
	})
}
