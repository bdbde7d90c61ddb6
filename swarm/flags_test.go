package swarm_test

import (
	"encoding/base64"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
)

// Every flag, set once on the command line and once from the
// environment, lands in its Config field; the command line wins.
func TestFlagsAndEnvRoundTripToConfig(t *testing.T) {
	k1, k2 := make([]byte, 32), make([]byte, 16)
	k1[0], k2[0] = 1, 2
	keys := base64.StdEncoding.EncodeToString(k1) + "," + base64.StdEncoding.EncodeToString(k2)
	values := map[string]string{
		"nodename": "pod-7", "bind-addr": "10.1.2.3", "bind-port": "7946",
		"advertise-addr": "10.9.9.9", "advertise-port": "8000",
		"gossip-interval": "150ms", "gossip-nodes": "4", "retransmit-factor": "5",
		"pullpush-interval": "45s", "probe-interval": "2s", "probe-timeout": "700ms",
		"suspicion-multiplier": "6", "stream-timeout": "12s", "flush-interval": "20ms",
		"direct-send-max-members": "32", "tree-fanout": "4", "max-state-bytes": "1048576",
		"max-pending-values": "99", "max-message-bytes": "2097152", "leave-timeout": "9s",
		"secret-keys": keys, "allow-plaintext": "true", "cluster-label": "prod",
		"compression-enabled": "true", "udp-buffer-size": "1200", "rediscover-interval": "15s",
		"discovery-fleet-rate": "2.5", "max-broadcast-queue-bytes": "4194304", "max-pending-bytes": "8388608",
		"max-early-bytes": "2097152",
		"max-count":       "1000000", "max-count-step": "5000", "max-replicas": "100",
		"state-dir": "/var/lib/shoal", "snapshot-interval": "5s", "snapshot-max-age": "12h",
		"retire-after": "2h", "retire-horizon": "48h",
	}
	want := swarm.DefaultLANConfig("default")
	want.Name, want.BindAddr, want.BindPort = "pod-7", "10.1.2.3", 7946
	want.AdvertiseAddr, want.AdvertisePort = "10.9.9.9", 8000
	want.GossipInterval, want.GossipNodes, want.RetransmitMult = 150*time.Millisecond, 4, 5
	want.PushPullInterval, want.ProbeInterval, want.ProbeTimeout = 45*time.Second, 2*time.Second, 700*time.Millisecond
	want.SuspicionMult, want.TCPTimeout, want.FlushInterval = 6, 12*time.Second, 20*time.Millisecond
	want.DirectSendMaxMembers, want.TreeFanout, want.MaxStateBytes = 32, 4, 1<<20
	want.MaxPendingValues, want.MaxMessageBytes, want.LeaveTimeout = 99, 2<<20, 9*time.Second
	want.SecretKeys, want.AllowPlaintext, want.Label = [][]byte{k1, k2}, true, "prod"
	want.Compression, want.UDPBufferSize, want.RediscoverInterval = true, 1200, 15*time.Second
	want.DiscoveryFleetRate, want.MaxBroadcastQueueBytes, want.MaxPendingBytes = 2.5, 4<<20, 8<<20
	want.MaxEarlyBytes = 2 << 20
	want.MaxCount, want.MaxCountStep, want.MaxReplicas = 1_000_000, 5000, 100
	want.StateDir, want.SnapshotInterval, want.SnapshotMaxAge = "/var/lib/shoal", 5*time.Second, 12*time.Hour
	want.RetireAfter, want.RetireHorizon = 2*time.Hour, 48*time.Hour

	parse := func(t *testing.T, args []string, env map[string]string) swarm.Config {
		t.Helper()
		cfg := swarm.DefaultLANConfig("default")
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.RegisterFlags(fs, "memberlist.")
		require.NoError(t, fs.Parse(args))
		require.NoError(t, swarm.SetFromEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		require.Equal(t, len(values), n, "a flag without a round-trip value, or a value without a flag")
		return cfg
	}
	check := func(t *testing.T, got swarm.Config) {
		t.Helper()
		// Field by field: Config also holds RegisterFlags' bookkeeping.
		assert.Equal(t, want.Name, got.Name)
		assert.Equal(t, want.BindAddr, got.BindAddr)
		assert.Equal(t, want.BindPort, got.BindPort)
		assert.Equal(t, want.AdvertiseAddr, got.AdvertiseAddr)
		assert.Equal(t, want.AdvertisePort, got.AdvertisePort)
		assert.Equal(t, want.GossipInterval, got.GossipInterval)
		assert.Equal(t, want.GossipNodes, got.GossipNodes)
		assert.Equal(t, want.RetransmitMult, got.RetransmitMult)
		assert.Equal(t, want.PushPullInterval, got.PushPullInterval)
		assert.Equal(t, want.ProbeInterval, got.ProbeInterval)
		assert.Equal(t, want.ProbeTimeout, got.ProbeTimeout)
		assert.Equal(t, want.SuspicionMult, got.SuspicionMult)
		assert.Equal(t, want.TCPTimeout, got.TCPTimeout)
		assert.Equal(t, want.FlushInterval, got.FlushInterval)
		assert.Equal(t, want.DirectSendMaxMembers, got.DirectSendMaxMembers)
		assert.Equal(t, want.MaxStateBytes, got.MaxStateBytes)
		assert.Equal(t, want.MaxPendingValues, got.MaxPendingValues)
		assert.Equal(t, want.MaxMessageBytes, got.MaxMessageBytes)
		assert.Equal(t, want.LeaveTimeout, got.LeaveTimeout)
		assert.Equal(t, want.SecretKeys, got.SecretKeys)
		assert.Equal(t, want.AllowPlaintext, got.AllowPlaintext)
		assert.Equal(t, want.DiscoveryFleetRate, got.DiscoveryFleetRate)
		assert.Equal(t, want.MaxBroadcastQueueBytes, got.MaxBroadcastQueueBytes)
		assert.Equal(t, want.MaxPendingBytes, got.MaxPendingBytes)
		assert.Equal(t, want.MaxEarlyBytes, got.MaxEarlyBytes)
		assert.Equal(t, want.MaxCount, got.MaxCount)
		assert.Equal(t, want.MaxCountStep, got.MaxCountStep)
		assert.Equal(t, want.MaxReplicas, got.MaxReplicas)
		assert.Equal(t, want.StateDir, got.StateDir)
		assert.Equal(t, want.SnapshotInterval, got.SnapshotInterval)
		assert.Equal(t, want.SnapshotMaxAge, got.SnapshotMaxAge)
		assert.Equal(t, want.RetireAfter, got.RetireAfter)
		assert.Equal(t, want.RetireHorizon, got.RetireHorizon)
		assert.Equal(t, want.Label, got.Label)
		assert.Equal(t, want.Compression, got.Compression)
		assert.Equal(t, want.UDPBufferSize, got.UDPBufferSize)
		assert.Equal(t, want.RediscoverInterval, got.RediscoverInterval)
	}
	t.Run("flags", func(t *testing.T) {
		var args []string
		for name, v := range values {
			args = append(args, "-memberlist."+name+"="+v)
		}
		check(t, parse(t, args, nil))
	})
	t.Run("env", func(t *testing.T) {
		env := make(map[string]string)
		for name, v := range values {
			env[swarm.EnvName("memberlist."+name)] = v
		}
		require.Equal(t, "10.1.2.3", env["SHOAL_MEMBERLIST_BIND_ADDR"])
		check(t, parse(t, nil, env))
	})
	t.Run("the command line wins", func(t *testing.T) {
		cfg := parse(t, []string{"-memberlist.gossip-nodes=7"}, map[string]string{"SHOAL_MEMBERLIST_GOSSIP_NODES": "9"})
		assert.Equal(t, 7, cfg.GossipNodes)
	})
}

// After RegisterFlags, validation errors name the flag; a bad environment
// value names the variable.
func TestFlagValidationNamesTheFlag(t *testing.T) {
	cfg := swarm.DefaultLocalConfig("n")
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs, "memberlist.")
	require.NoError(t, fs.Parse([]string{"-memberlist.gossip-nodes=0"}))
	_, err := swarm.New(cfg)
	require.ErrorIs(t, err, swarm.ErrInvalidConfig)
	assert.ErrorContains(t, err, "GossipNodes (flag -memberlist.gossip-nodes)")

	lan := swarm.DefaultLANConfig("n")
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	lan.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse([]string{"-bind-port=0"}))
	_, err = swarm.New(lan)
	assert.ErrorContains(t, err, "SecretKeys (flag -secret-keys)")

	err = swarm.SetFromEnv(fs, func(k string) (string, bool) {
		return "not-base64!", k == "SHOAL_SECRET_KEYS"
	})
	assert.ErrorContains(t, err, "SHOAL_SECRET_KEYS")
	assert.ErrorContains(t, err, "-secret-keys")
}
