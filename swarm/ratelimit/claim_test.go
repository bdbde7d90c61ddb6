package ratelimit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// Two limiters of one name on one node would each be blind to the other's
// admissions: the second is refused until the first is closed.
func TestOneLimiterPerNamePerNode(t *testing.T) {
	n, err := swarm.New(swarm.DefaultLocalConfig("solo"))
	require.NoError(t, err)
	defer n.Close()
	cfg := ratelimit.Config{Limit: 10, Window: time.Second}
	a, err := ratelimit.New(n, "api", cfg)
	require.NoError(t, err)
	_, err = ratelimit.New(n, "api", cfg)
	require.ErrorIs(t, err, swarm.ErrClaimed)
	require.NoError(t, a.Close())
	b, err := ratelimit.New(n, "api", cfg)
	require.NoError(t, err, "a closed limiter's name is free again")
	require.NoError(t, b.Close())

	kcfg := ratelimit.KeyedConfig{Limit: 10, Window: time.Second}
	k, err := ratelimit.NewKeyed(n, "clients", kcfg)
	require.NoError(t, err)
	_, err = ratelimit.NewKeyed(n, "clients", kcfg)
	require.ErrorIs(t, err, swarm.ErrClaimed)
	k.Close()
}
