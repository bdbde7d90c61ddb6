package swarm

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"strings"
	"unicode"
)

// configFlags names the flag of each Config field RegisterFlags binds
// (without the prefix), so that validation errors can name the flag.
var configFlags = map[string]string{
	"Name":                   "nodename",
	"BindAddr":               "bind-addr",
	"BindPort":               "bind-port",
	"AdvertiseAddr":          "advertise-addr",
	"AdvertisePort":          "advertise-port",
	"GossipInterval":         "gossip-interval",
	"GossipNodes":            "gossip-nodes",
	"RetransmitMult":         "retransmit-factor",
	"PushPullInterval":       "pullpush-interval",
	"ProbeInterval":          "probe-interval",
	"ProbeTimeout":           "probe-timeout",
	"SuspicionMult":          "suspicion-multiplier",
	"TCPTimeout":             "stream-timeout",
	"FlushInterval":          "flush-interval",
	"DirectSendMaxMembers":   "direct-send-max-members",
	"TreeFanout":             "tree-fanout",
	"MaxStateBytes":          "max-state-bytes",
	"MaxPendingValues":       "max-pending-values",
	"MaxMessageBytes":        "max-message-bytes",
	"LeaveTimeout":           "leave-timeout",
	"SecretKeys":             "secret-keys",
	"AllowPlaintext":         "allow-plaintext",
	"Label":                  "cluster-label",
	"Compression":            "compression-enabled",
	"UDPBufferSize":          "udp-buffer-size",
	"RediscoverInterval":     "rediscover-interval",
	"DiscoveryFleetRate":     "discovery-fleet-rate",
	"MaxBroadcastQueueBytes": "max-broadcast-queue-bytes",
	"MaxPendingBytes":        "max-pending-bytes",
	"MaxEarlyBytes":          "max-early-bytes",
	"MaxCount":               "max-count",
	"MaxCountStep":           "max-count-step",
	"MaxReplicas":            "max-replicas",
	"StateDir":               "state-dir",
	"SnapshotInterval":       "snapshot-interval",
	"SnapshotMaxAge":         "snapshot-max-age",
	"RetireAfter":            "retire-after",
	"RetireHorizon":          "retire-horizon",
}

// RegisterFlags registers c's fields on fs as flags named prefix+name,
// in the style of dskit's memberlist flags (with prefix "memberlist.":
// -memberlist.bind-addr, -memberlist.gossip-interval,
// -memberlist.secret-keys, …), with c's current values as defaults: fill c
// (DefaultLANConfig) first. Parsing fs writes into c, which must stay at
// its address until then. After RegisterFlags, New's validation errors
// name the flag as well as the field. Logger, Discovery, Transport and Now
// have no flag. SetFromEnv reads the same settings from SHOAL_*
// environment variables.
//
// -<prefix>secret-keys takes comma-separated base64 keys, the primary
// first; prefer the environment (a Kubernetes Secret) to the command line,
// where keys show in the process list.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.flagPrefix, c.flagsSet = prefix, true
	f := func(field string) string { return prefix + configFlags[field] }
	fs.StringVar(&c.Name, f("Name"), c.Name, "node name, unique in the cluster")
	fs.StringVar(&c.BindAddr, f("BindAddr"), c.BindAddr, "IP address to listen on for gossip (UDP and TCP)")
	fs.IntVar(&c.BindPort, f("BindPort"), c.BindPort, "port to listen on for gossip (0 picks a free port)")
	fs.StringVar(&c.AdvertiseAddr, f("AdvertiseAddr"), c.AdvertiseAddr, "IP address peers are told to use (default the bound address)")
	fs.IntVar(&c.AdvertisePort, f("AdvertisePort"), c.AdvertisePort, "port peers are told to use (default the bound port)")
	fs.DurationVar(&c.GossipInterval, f("GossipInterval"), c.GossipInterval, "how often queued broadcasts are gossiped")
	fs.IntVar(&c.GossipNodes, f("GossipNodes"), c.GossipNodes, "peers each gossip round sends to")
	fs.IntVar(&c.RetransmitMult, f("RetransmitMult"), c.RetransmitMult, "each broadcast is sent this many times ⌈log10(N+1)⌉")
	fs.DurationVar(&c.PushPullInterval, f("PushPullInterval"), c.PushPullInterval, "how often a full state is exchanged with one peer (0 disables)")
	fs.DurationVar(&c.ProbeInterval, f("ProbeInterval"), c.ProbeInterval, "failure detection: interval between probes")
	fs.DurationVar(&c.ProbeTimeout, f("ProbeTimeout"), c.ProbeTimeout, "failure detection: how long to wait for a probe's ack")
	fs.IntVar(&c.SuspicionMult, f("SuspicionMult"), c.SuspicionMult, "failure detection: suspicion time multiplier")
	fs.DurationVar(&c.TCPTimeout, f("TCPTimeout"), c.TCPTimeout, "bound on stream operations (push/pull, joins, large values)")
	fs.DurationVar(&c.FlushInterval, f("FlushInterval"), c.FlushInterval, "how long local updates are batched into one delta")
	fs.IntVar(&c.DirectSendMaxMembers, f("DirectSendMaxMembers"), c.DirectSendMaxMembers, "fast path: send own deltas to every member while the cluster has at most this many (0 disables)")
	fs.IntVar(&c.TreeFanout, f("TreeFanout"), c.TreeFanout, "broadcast tree past the fast path: random members each node links to (0: gossip only)")
	fs.IntVar(&c.MaxStateBytes, f("MaxStateBytes"), c.MaxStateBytes, "largest full state sent in one anti-entropy exchange")
	fs.IntVar(&c.MaxPendingValues, f("MaxPendingValues"), c.MaxPendingValues, "values kept for names not yet registered")
	fs.IntVar(&c.MaxMessageBytes, f("MaxMessageBytes"), c.MaxMessageBytes, "largest message decoded")
	fs.DurationVar(&c.LeaveTimeout, f("LeaveTimeout"), c.LeaveTimeout, "bound on Leave")
	fs.Var((*secretKeysFlag)(&c.SecretKeys), f("SecretKeys"), "comma-separated base64 gossip encryption keys (16, 24 or 32 bytes), the primary first")
	fs.BoolVar(&c.AllowPlaintext, f("AllowPlaintext"), c.AllowPlaintext, "gossip in clear on a non-loopback address (only on a network nothing but the members reach)")
	fs.StringVar(&c.Label, f("Label"), c.Label, "cluster label: nodes with another label are ignored")
	fs.BoolVar(&c.Compression, f("Compression"), c.Compression, "compress gossip packets")
	fs.IntVar(&c.UDPBufferSize, f("UDPBufferSize"), c.UDPBufferSize, "largest UDP packet sent")
	fs.DurationVar(&c.RediscoverInterval, f("RediscoverInterval"), c.RediscoverInterval, "shortest period of re-discovery (a node alone or in a small group)")
	fs.Float64Var(&c.DiscoveryFleetRate, f("DiscoveryFleetRate"), c.DiscoveryFleetRate, "calls per second the whole cluster makes to Discovery in steady state")
	fs.IntVar(&c.MaxBroadcastQueueBytes, f("MaxBroadcastQueueBytes"), c.MaxBroadcastQueueBytes, "bytes of gossip messages queued at most")
	fs.IntVar(&c.MaxPendingBytes, f("MaxPendingBytes"), c.MaxPendingBytes, "bytes of values kept for names not yet registered")
	fs.IntVar(&c.MaxEarlyBytes, f("MaxEarlyBytes"), c.MaxEarlyBytes, "bytes of deltas held until their origin's announcement arrives")
	fs.Uint64Var(&c.MaxCount, f("MaxCount"), c.MaxCount, "largest count a peer's value may hold")
	fs.Uint64Var(&c.MaxCountStep, f("MaxCountStep"), c.MaxCountStep, "largest increase of a count one delta may carry")
	fs.IntVar(&c.MaxReplicas, f("MaxReplicas"), c.MaxReplicas, "replicas per value at most")
	fs.StringVar(&c.StateDir, f("StateDir"), c.StateDir, "directory for snapshots that survive a restart of every node (empty: none)")
	fs.DurationVar(&c.SnapshotInterval, f("SnapshotInterval"), c.SnapshotInterval, "how often a snapshot is written (with a state directory)")
	fs.DurationVar(&c.SnapshotMaxAge, f("SnapshotMaxAge"), c.SnapshotMaxAge, "refuse an older snapshot at start (0: the retire horizon)")
	fs.DurationVar(&c.RetireAfter, f("RetireAfter"), c.RetireAfter, "how long a failed member may stay away before its replica is retired")
	fs.DurationVar(&c.RetireHorizon, f("RetireHorizon"), c.RetireHorizon, "how long a retirement stays revocable, and is remembered after")
}

// flagNote returns " (flag -x)" for a field RegisterFlags bound, "" for
// others or when flags were not registered.
func (c *Config) flagNote(field string) string {
	if !c.flagsSet {
		return ""
	}
	if i := strings.IndexByte(field, '['); i >= 0 {
		field = field[:i]
	}
	if name, ok := configFlags[field]; ok {
		return " (flag -" + c.flagPrefix + name + ")"
	}
	return ""
}

// secretKeysFlag is a flag.Value of comma-separated base64 keys.
type secretKeysFlag [][]byte

func (s *secretKeysFlag) String() string {
	if s == nil || len(*s) == 0 {
		return ""
	}
	return fmt.Sprintf("(%d keys, not shown)", len(*s))
}

func (s *secretKeysFlag) Set(v string) error {
	var keys [][]byte
	for i, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(part)
		if err != nil {
			return fmt.Errorf("key %d is not base64: %w", i, err)
		}
		keys = append(keys, k)
	}
	*s = keys
	return nil
}

// EnvName returns the environment variable SetFromEnv reads for the flag
// named name: SHOAL_ and the name in upper case, every character that is
// not a letter or digit turned into '_' (-memberlist.bind-addr is
// SHOAL_MEMBERLIST_BIND_ADDR).
func EnvName(name string) string {
	return "SHOAL_" + strings.Map(func(r rune) rune {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return unicode.ToUpper(r)
		}
		return '_'
	}, name)
}

// SetFromEnv sets every flag of fs that the command line did not set from
// its environment variable (EnvName), when that is set: the command line
// wins over the environment, which wins over the defaults. Call it after
// fs.Parse. lookup is os.LookupEnv when nil. The error names the variable
// and the flag.
func SetFromEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		if v, ok := lookup(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("shoal/swarm: environment %s (flag -%s): %w", env, f.Name, e)
			}
		}
	})
	return err
}
