package promshoal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shoal-go/shoal/swarm/promshoal"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyedCollector(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	k, err := ratelimit.NewKeyed(c.Node(0), "clients", ratelimit.KeyedConfig{Limit: 1, Window: time.Minute, HashSecret: []byte("s")})
	require.NoError(t, err)
	defer k.Close()
	ctx := context.Background()
	require.True(t, k.Allow(ctx, "Bearer alice-secret"))
	for range 4 { // one denial in 4 is sampled for the top list
		require.False(t, k.Allow(ctx, "Bearer alice-secret"))
	}
	require.True(t, k.Allow(ctx, "bob"))

	reg := prometheus.NewRegistry()
	reg.MustRegister(promshoal.NewKeyedCollector("clients", k, promshoal.Options{}))
	want := `
# HELP shoal_keyed_decisions_total Keyed rate-limit decisions by result (allowed or denied).
# TYPE shoal_keyed_decisions_total counter
shoal_keyed_decisions_total{limit="clients",result="allowed"} 2
shoal_keyed_decisions_total{limit="clients",result="denied"} 4
# HELP shoal_keyed_hash_keyed 1 if keys are hashed with a secret, 0 if the hash is unkeyed.
# TYPE shoal_keyed_hash_keyed gauge
shoal_keyed_hash_keyed{limit="clients"} 1
# HELP shoal_keyed_keys Keys this node's keyed limiter holds.
# TYPE shoal_keyed_keys gauge
shoal_keyed_keys{limit="clients"} 2
# HELP shoal_keyed_throttled Recent denials of the most denied key hashes.
# TYPE shoal_keyed_throttled gauge
shoal_keyed_throttled{hash="` + k.HashOf("Bearer alice-secret") + `",limit="clients"} 4
`
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"shoal_keyed_decisions_total", "shoal_keyed_hash_keyed", "shoal_keyed_keys", "shoal_keyed_throttled"))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		assert.NotContains(t, mf.String(), "alice", "keys appear only as hashes")
	}
}
