package swarm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// A node that listens on a network needs SecretKeys, or an explicit
// AllowPlaintext; loopback does not.
func TestNewRefusesPlaintextOnANetwork(t *testing.T) {
	cfg := swarm.DefaultLANConfig("open")
	cfg.BindPort = 0
	_, err := swarm.New(cfg)
	require.ErrorIs(t, err, swarm.ErrInvalidConfig)
	require.ErrorContains(t, err, "SecretKeys")
	require.ErrorContains(t, err, "AllowPlaintext")

	local := swarm.DefaultLocalConfig("loopback")
	n, err := swarm.New(local)
	require.NoError(t, err, "loopback may stay plaintext")
	require.NoError(t, n.Close())

	keyed := swarm.DefaultLANConfig("keyed")
	keyed.BindPort = 0
	keyed.SecretKeys = [][]byte{key(t)}
	n, err = swarm.New(keyed)
	require.NoError(t, err)
	require.NoError(t, n.Close())
}

// The plaintext opt-in works: a node on every interface that allows
// plaintext starts and joins a plaintext cluster.
func TestAllowPlaintextJoinsAPlaintextCluster(t *testing.T) {
	c := swarmtest.Start(t, 2, swarmtest.Options{})
	cfg := swarm.DefaultLANConfig("open")
	cfg.BindPort = 0
	cfg.AdvertiseAddr = "127.0.0.1"
	cfg.AllowPlaintext = true
	n, err := swarm.New(cfg)
	require.NoError(t, err)
	defer n.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = n.Join(ctx, c.Node(0).Addr())
	require.NoError(t, err)
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		if got := c.Node(1).Stats().Members; got != 3 {
			return errors.New("the plaintext node is not a member yet")
		}
		return nil
	})
}
