package ratelimit

import (
	"encoding/hex"
	"flag"
	"fmt"
	"strings"
)

// configFlags names the flag of each Config field RegisterFlags binds.
var configFlags = map[string]string{
	"Limit": "limit", "Window": "window", "Buckets": "buckets", "Lag": "lag",
	"Partition": "partition", "RateSpan": "rate-span", "SyncInterval": "sync-interval",
}

// RegisterFlags registers c's fields on fs as flags named prefix+name
// (with prefix "ratelimit.api.": -ratelimit.api.limit,
// -ratelimit.api.window, …), with c's current values as defaults. Parsing
// fs writes into c, which must stay at its address until then; New's
// validation errors then name the flag. swarm.SetFromEnv reads the same
// settings from SHOAL_* environment variables
// (SHOAL_RATELIMIT_API_LIMIT).
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	c.flagPrefix, c.flagsSet = prefix, true
	fs.IntVar(&c.Limit, prefix+"limit", c.Limit, "events the cluster admits per window")
	fs.DurationVar(&c.Window, prefix+"window", c.Window, "length of the sliding window")
	fs.IntVar(&c.Buckets, prefix+"buckets", c.Buckets, "buckets per window (0: the default)")
	fs.DurationVar(&c.Lag, prefix+"lag", c.Lag, "how far behind peers' counts are assumed to be (0: the default, negative: no extrapolation)")
	fs.Var((*partitionFlag)(&c.Partition), prefix+"partition", "what a node does when members disappear: keep-limit or scale-limit")
	fs.DurationVar(&c.RateSpan, prefix+"rate-span", c.RateSpan, "how far back a peer's rate is measured (0: a tenth of the window)")
	fs.DurationVar(&c.SyncInterval, prefix+"sync-interval", c.SyncInterval, "how often own admissions move into the shared counter (0: the default)")
}

// RegisterFlags registers c's fields on fs as flags named prefix+name
// (limit, window, buckets, max-keys, expire-interval, lag, reserve,
// hash-secret), with c's current values as defaults, as
// Config.RegisterFlags does. hash-secret is hex; prefer its SHOAL_*
// environment variable to the command line, which other users of the
// machine can read.
func (c *KeyedConfig) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.IntVar(&c.Limit, prefix+"limit", c.Limit, "events the cluster admits per key per window")
	fs.DurationVar(&c.Window, prefix+"window", c.Window, "length of the sliding window")
	fs.IntVar(&c.Buckets, prefix+"buckets", c.Buckets, "buckets per window (0: the default)")
	fs.IntVar(&c.MaxKeys, prefix+"max-keys", c.MaxKeys, "keys this node holds at most (0: the default)")
	fs.DurationVar(&c.ExpireInterval, prefix+"expire-interval", c.ExpireInterval, "how often idle keys are freed (0: the default)")
	fs.DurationVar(&c.Lag, prefix+"lag", c.Lag, "how far behind peers' counts are assumed to be (0: the default)")
	fs.DurationVar(&c.Reserve, prefix+"reserve", c.Reserve, "how long a place a peer's event frees stays that peer's (0: 4·lag, negative: none)")
	fs.Var((*hexFlag)(&c.HashSecret), prefix+"hash-secret", "hex secret keying the hash of every key (empty: derived from the gossip key)")
}

// hexFlag is a flag.Value for a secret given in hex; String never shows
// it.
type hexFlag []byte

func (h *hexFlag) String() string {
	if h == nil || len(*h) == 0 {
		return ""
	}
	return "(set)"
}

func (h *hexFlag) Set(v string) error {
	b, err := hex.DecodeString(v)
	if err != nil {
		return fmt.Errorf("not hex: %w", err)
	}
	*h = b
	return nil
}

// nameFlag adds the flag's name to a validation error about a field
// RegisterFlags bound. The error's text after ErrInvalidConfig starts
// with the field's name.
func (c Config) nameFlag(err error) error {
	if err == nil || !c.flagsSet {
		return err
	}
	rest := strings.TrimPrefix(err.Error(), ErrInvalidConfig.Error()+": ")
	field, _, _ := strings.Cut(rest, " ")
	if name, ok := configFlags[field]; ok {
		return fmt.Errorf("%w (flag -%s%s)", err, c.flagPrefix, name)
	}
	return err
}

// partitionFlag is a flag.Value for Partition.
type partitionFlag Partition

func (p *partitionFlag) String() string {
	if p != nil && Partition(*p) == PartitionScaleLimit {
		return "scale-limit"
	}
	return "keep-limit"
}

func (p *partitionFlag) Set(v string) error {
	switch v {
	case "keep-limit":
		*p = partitionFlag(PartitionKeepLimit)
	case "scale-limit":
		*p = partitionFlag(PartitionScaleLimit)
	default:
		return fmt.Errorf("%q is not keep-limit or scale-limit", v)
	}
	return nil
}
