package ratelimit_test

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
)

func TestConfigFlagsAndEnvRoundTrip(t *testing.T) {
	var cfg ratelimit.Config
	var keyed ratelimit.KeyedConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs, "ratelimit.api.")
	keyed.RegisterFlags(fs, "ratelimit.clients.")
	require.NoError(t, fs.Parse([]string{
		"-ratelimit.api.limit=500", "-ratelimit.api.window=10s", "-ratelimit.api.buckets=100",
		"-ratelimit.api.partition=scale-limit", "-ratelimit.clients.max-keys=1000",
	}))
	env := map[string]string{
		"SHOAL_RATELIMIT_API_LAG":                 "-1ms",
		"SHOAL_RATELIMIT_API_RATE_SPAN":           "2s",
		"SHOAL_RATELIMIT_API_SYNC_INTERVAL":       "7ms",
		"SHOAL_RATELIMIT_API_LIMIT":               "1", // the command line wins
		"SHOAL_RATELIMIT_CLIENTS_LIMIT":           "50",
		"SHOAL_RATELIMIT_CLIENTS_WINDOW":          "1m",
		"SHOAL_RATELIMIT_CLIENTS_BUCKETS":         "30",
		"SHOAL_RATELIMIT_CLIENTS_EXPIRE_INTERVAL": "3s",
		"SHOAL_RATELIMIT_CLIENTS_LAG":             "20ms",
		"SHOAL_RATELIMIT_CLIENTS_RESERVE":         "50ms",
		"SHOAL_RATELIMIT_CLIENTS_HASH_SECRET":     "c0ffee",
	}
	require.NoError(t, swarm.SetFromEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	assert.Equal(t, 500, cfg.Limit)
	assert.Equal(t, 10*time.Second, cfg.Window)
	assert.Equal(t, 100, cfg.Buckets)
	assert.Equal(t, ratelimit.PartitionScaleLimit, cfg.Partition)
	assert.Equal(t, -time.Millisecond, cfg.Lag)
	assert.Equal(t, 2*time.Second, cfg.RateSpan)
	assert.Equal(t, 7*time.Millisecond, cfg.SyncInterval)
	assert.Equal(t, ratelimit.KeyedConfig{Limit: 50, Window: time.Minute, Buckets: 30, MaxKeys: 1000,
		ExpireInterval: 3 * time.Second, Lag: 20 * time.Millisecond, Reserve: 50 * time.Millisecond,
		HashSecret: []byte{0xc0, 0xff, 0xee}}, keyed)
	require.Error(t, fs.Set("ratelimit.clients.hash-secret", "not hex"))

	require.Error(t, fs.Set("ratelimit.api.partition", "sometimes"))

	bad := ratelimit.Config{Window: time.Second}
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	bad.RegisterFlags(fs, "rl.")
	_, err := ratelimit.New(newNode(t), "x", bad)
	require.ErrorIs(t, err, ratelimit.ErrInvalidConfig)
	assert.ErrorContains(t, err, "(flag -rl.limit)")
}
