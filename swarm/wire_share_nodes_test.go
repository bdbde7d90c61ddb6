package swarm_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// TestMembershipBytesAreMemberlistsShare, on real sockets: an idle pair
// sends only memberlist's messages, and deltas add bytes that are not
// counted as membership.
func TestMembershipBytesAreMemberlistsShare(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{Config: func(_ int, cfg *swarm.Config) {
		cfg.ProbeInterval, cfg.ProbeTimeout = 100*time.Millisecond, 50*time.Millisecond
		cfg.PushPullInterval = 0
	}})
	a := c.Node(0)
	last := a.Stats()
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		time.Sleep(500 * time.Millisecond)
		st := a.Stats()
		wire, membership := st.WireBytesSent-last.WireBytesSent, st.MembershipBytesSent-last.MembershipBytesSent
		last = st
		if membership == 0 || membership != wire {
			return fmt.Errorf("membership %d of %d bytes sent in half a second", membership, wire)
		}
		return nil
	})
	ctr, err := swarm.NewCounter(a, "c")
	require.NoError(t, err)
	peer, err := swarm.NewCounter(c.Node(1), "c")
	require.NoError(t, err)
	before := a.Stats()
	require.NoError(t, ctr.Add(1))
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		if v, _ := peer.Value(); v != 1 {
			return errors.New("the delta has not arrived")
		}
		return nil
	})
	after := a.Stats()
	wire := after.WireBytesSent - before.WireBytesSent
	membership := after.MembershipBytesSent - before.MembershipBytesSent
	require.Greater(t, wire-membership, uint64(0), "the delta counted as memberlist's")
}
