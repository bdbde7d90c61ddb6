package swarm_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// A healthy node scores 0; a node cut off from its peers misses its
// probes' acks and turns degraded; a closed node is not ready.
func TestHealthFollowsTheFailureDetector(t *testing.T) {
	net, err := swarmtest.NewNetwork(swarmtest.FaultConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = net.Close() })
	c := swarmtest.Start(t, 3, swarmtest.Options{
		Transport: func(name string) (memberlist.NodeAwareTransport, error) { return net.NewTransport(name) },
	})
	h := c.Node(0).Health()
	assert.Equal(t, 3, h.Members)
	assert.True(t, h.Ready)
	// An ack missed during the join on a busy machine raises the score;
	// good probes bring it back to 0.
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		if h := c.Node(0).Health(); h.Score != 0 || h.Degraded {
			return fmt.Errorf("a connected node-0 is not healthy: %+v", h)
		}
		return nil
	})

	net.Isolate("node-0")
	swarmtest.WaitFor(t, 30*time.Second, func() error {
		if h := c.Node(0).Health(); !h.Degraded || h.Score < 1 {
			return fmt.Errorf("isolated node-0 is not degraded yet: %+v", h)
		}
		return nil
	})
	net.Reconnect("node-0")

	require.NoError(t, c.Node(2).Close())
	assert.False(t, c.Node(2).Health().Ready, "a closed node is not ready")
}
