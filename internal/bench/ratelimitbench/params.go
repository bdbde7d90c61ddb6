// Package ratelimitbench measures how accurately a cluster of rate
// limiters admits a load: N real shoal nodes on loopback in one process
// (or a local redis-server as the baseline), a paced load offered to each
// node, and every admission time recorded, so the admitted count of every
// sliding window can be compared with the limit. The benchmark program
// (internal/cmd/shoalbench) calls Run; tests call it with short durations.
package ratelimitbench

import (
	"fmt"
	"time"
)

// Backends Run can measure.
const (
	BackendShoal = "shoal"
	// BackendRedis is skipper's sliding-window log over Redis: two round
	// trips per admitted request.
	BackendRedis = "redis"
	// BackendRedisLua is the same sliding-window log in one Lua script:
	// one round trip per request, what a careful Redis user runs.
	BackendRedisLua = "redis-lua"
)

// Key distributions of the keyed scenario.
const (
	// DistZipf draws each request's key from a Zipf distribution.
	DistZipf = "zipf"
	// DistEven offers every key in turn, each at the same steady pace, the
	// nodes' requests for a key interleaved (round-robin).
	DistEven = "even"
)

// Params describe one scenario. The zero value of a field means the
// default named in its comment.
type Params struct {
	// Backend is BackendShoal (default), BackendRedis, BackendRedisLua or
	// BackendSkipperClassic.
	Backend string
	// Nodes is how many limiter instances share the limit (default 3).
	Nodes int
	// Limit events per Window, cluster-wide (default 1000 per 10 s).
	Limit  int
	Window time.Duration
	// Buckets and Lag of the shoal limiter (0: the package defaults).
	Buckets int
	Lag     time.Duration
	// Duration of the measured run (default 60 s).
	Duration time.Duration
	// Offered is the load as a multiple of Limit per Window (default 2),
	// each node's requests evenly spaced and node i's a 1/N turn after
	// node i−1's.
	Offered float64
	// Skew is the share of the load offered to node 0 (0: even; 0.8 puts
	// 80 % on one node and spreads the rest evenly).
	Skew float64
	// Churn kills the last node (Close, as a crash) at a third of the run
	// and adds a new node at half of it, which takes over its load.
	Churn bool
	// Keyed runs the keyed limiter instead (see KeyedParams).
	Keyed *KeyedParams
	// RedisServer is the redis-server binary (default "redis-server" on
	// PATH). Without it the redis backend is skipped with a message.
	RedisServer string
	// SeriesStep is the spacing of the time series (default Window/10).
	SeriesStep time.Duration
}

// KeyedParams describe the keyed scenario: Keys active client keys, each
// limited to Limit per Window, Rate requests per second per node spread
// over the keys with a Zipf distribution (so some keys are overloaded and
// most are not), or every key offered Params.Offered times its limit in
// turn (Dist DistEven).
type KeyedParams struct {
	Keys   int           // default 10,000
	Limit  int           // per key, default 100
	Window time.Duration // default 1 minute
	// Rate is requests per second per node (default 1000 for DistZipf;
	// for DistEven, Offered·Limit·Keys/Window spread over the nodes).
	Rate float64
	// Dist is DistZipf (default) or DistEven.
	Dist string
	// ZipfS is the Zipf exponent (default 1.1).
	ZipfS float64
	// MaxKeys bounds each node's keyed limiter (0: its default).
	MaxKeys int
}

// Point is one sample of the time series.
type Point struct {
	// T is the end of the window, in seconds since the run began.
	T float64 `json:"t"`
	// Admitted and Offered are the cluster's counts in the window (t−W, t].
	Admitted int `json:"admitted"`
	Offered  int `json:"offered"`
}

// Result is what one run measured.
// TreeSummary is the broadcast tree's work during a run, summed over the
// nodes; EagerMean is the mean number of tree links at the end.
type TreeSummary struct {
	Broadcasts  uint64  `json:"broadcasts"`
	Delivered   uint64  `json:"delivered"`
	Duplicates  uint64  `json:"duplicates"`
	Grafts      uint64  `json:"grafts"`
	GiveUps     uint64  `json:"give_ups"`
	Reannounced uint64  `json:"reannounced"`
	EagerMean   float64 `json:"eager_mean"`
	LazyMean    float64 `json:"lazy_mean"`
	MembersMin  int     `json:"members_min"`
}

type Result struct {
	Backend string `json:"backend"`
	Params  Params `json:"params"`
	// Skipped is set (and nothing else measured) when the backend is not
	// available, with the reason.
	Skipped string `json:"skipped,omitempty"`

	// AdmittedRatioMean is the mean of admitted/L over sliding windows
	// sampled every Window/200 from the end of the first window on;
	// Worst the maximum over every window ending at an admission; Min the
	// minimum over the sampled windows in which at least 1.2·L was
	// offered. For the keyed scenario they are over the keys that were
	// offered at least 1.2 times their limit in some window, and the mean
	// too is over the windows offered at least 1.2·L.
	AdmittedRatioMean  float64 `json:"admitted_ratio_mean"`
	AdmittedRatioWorst float64 `json:"admitted_ratio_worst"`
	AdmittedRatioMin   float64 `json:"admitted_ratio_min"`
	// AllowNsP50 and AllowNsP99 are the cost of one decision alone: the
	// load generator draws a batch's keys first, then times only the
	// calls (for Redis, the round trips), the same way for every backend;
	// percentiles over the batches' means.
	AllowNsP50 float64 `json:"allow_ns_p50"`
	AllowNsP99 float64 `json:"allow_ns_p99"`

	Offered  int `json:"offered"`
	Admitted int `json:"admitted"`
	// WireBytesPerSecPerNode is the mean of Stats().WireBytesSent per
	// second per node (shoal only).
	WireBytesPerSecPerNode float64 `json:"wire_bytes_per_sec_per_node"`
	// CPUPerNode is the process's CPU time (user+system) during the run
	// divided by the node count and the run's length: the share of one
	// core a node used, load generation included.
	CPUPerNode float64 `json:"cpu_per_node"`
	// MaxStallMs is the longest gap between two ticks (2 ms apart) of any
	// load generator: how starved of CPU the process was. The requests of
	// a gap are offered at once when it ends.
	MaxStallMs float64 `json:"max_stall_ms"`
	// SentBytesByKind is shoal's own bytes sent during the run by message
	// kind (Stats.Sent), summed over the nodes, per second per node; Tree
	// sums the broadcast tree's counters over the run (shoal only).
	SentBytesByKind map[string]float64 `json:"sent_bytes_by_kind_per_sec_per_node,omitempty"`
	// SentMessageBytes is the mean size of one such message, by kind.
	SentMessageBytes map[string]float64 `json:"sent_message_bytes,omitempty"`
	Tree             *TreeSummary       `json:"tree,omitempty"`
	// Drops sums Stats.Drops over the nodes, during the run.
	Drops map[string]uint64 `json:"drops,omitempty"`
	// KeysOverloaded is how many keys the keyed ratios cover.
	KeysOverloaded int `json:"keys_overloaded,omitempty"`
	// BytesPerKey is the heap growth per active key of one node's keyed
	// limiter (runtime.MemStats), keyed scenario only.
	BytesPerKey float64 `json:"bytes_per_key,omitempty"`

	Series []Point `json:"series,omitempty"`
}

func (p Params) withDefaults() (Params, error) {
	if p.Backend == "" {
		p.Backend = BackendShoal
	}
	if p.Backend != BackendShoal && p.Backend != BackendRedis && p.Backend != BackendRedisLua && p.Backend != BackendSkipperClassic {
		return p, fmt.Errorf("ratelimitbench: unknown backend %q", p.Backend)
	}
	if p.Nodes == 0 {
		p.Nodes = 3
	}
	if p.Limit == 0 {
		p.Limit = 1000
	}
	if p.Window == 0 {
		p.Window = 10 * time.Second
	}
	if p.Duration == 0 {
		p.Duration = 60 * time.Second
	}
	if p.Offered == 0 {
		p.Offered = 2
	}
	if p.SeriesStep == 0 {
		p.SeriesStep = p.Window / 10
	}
	if p.RedisServer == "" {
		p.RedisServer = "redis-server"
	}
	if p.Nodes < 1 || p.Limit < 1 || p.Window <= 0 || p.Duration <= 0 || p.Offered <= 0 || p.Skew < 0 || p.Skew > 1 {
		return p, fmt.Errorf("ratelimitbench: invalid params %+v", p)
	}
	if p.Churn && p.Nodes < 2 {
		return p, fmt.Errorf("ratelimitbench: churn needs at least 2 nodes")
	}
	if k := p.Keyed; k != nil {
		kp := *k
		if kp.Keys == 0 {
			kp.Keys = 10000
		}
		if kp.Limit == 0 {
			kp.Limit = 100
		}
		if kp.Window == 0 {
			kp.Window = time.Minute
		}
		if kp.Dist == "" {
			kp.Dist = DistZipf
		}
		if kp.Rate == 0 {
			kp.Rate = 1000
			if kp.Dist == DistEven {
				kp.Rate = p.Offered * float64(kp.Limit) * float64(kp.Keys) / kp.Window.Seconds() / float64(p.Nodes)
			}
		}
		if kp.ZipfS == 0 {
			kp.ZipfS = 1.1
		}
		if kp.ZipfS <= 1 || kp.Keys < 1 || kp.Limit < 1 || kp.Rate <= 0 || (kp.Dist != DistZipf && kp.Dist != DistEven) {
			return p, fmt.Errorf("ratelimitbench: invalid keyed params %+v", kp)
		}
		p.Keyed = &kp
		p.Window, p.Limit = kp.Window, kp.Limit
	}
	return p, nil
}

// share returns the fraction of the load offered to node i of n.
func (p Params) share(i, n int) float64 {
	if p.Skew == 0 || n == 1 {
		return 1 / float64(n)
	}
	if i == 0 {
		return p.Skew
	}
	return (1 - p.Skew) / float64(n-1)
}
