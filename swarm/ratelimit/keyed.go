package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
)

// Defaults for the zero fields of KeyedConfig.
const (
	// DefaultKeyedBuckets splits a keyed limiter's window into 20 buckets:
	// B+1 counts per key and replica bound the memory of a busy key.
	DefaultKeyedBuckets = 20
	// DefaultMaxKeys bounds the keys one node holds.
	DefaultMaxKeys = 100_000
	// DefaultExpireInterval is how often idle keys are freed and MaxKeys
	// enforced.
	DefaultExpireInterval = time.Second
)

// KeyedConfig configures a KeyedLimiter. Limit and Window are required.
type KeyedConfig struct {
	// Limit is how many events the cluster admits per key per Window
	// (Resize changes it for one key on this node).
	Limit  int
	Window time.Duration
	// Buckets per window (default DefaultKeyedBuckets); as Config.Buckets.
	Buckets int
	// MaxKeys bounds the keys this node holds (default DefaultMaxKeys).
	// Once per ExpireInterval, keys whose buckets all left the window are
	// freed and, if more than MaxKeys remain, the least recently counted
	// are evicted down to 90 % of MaxKeys. Between two runs the count can
	// exceed MaxKeys by the keys that arrived. An evicted key starts from
	// what peers send for it next, so eviction can only admit more for it,
	// never less: size MaxKeys above the active key count.
	MaxKeys int
	// ExpireInterval is how often expiry and eviction run (default
	// DefaultExpireInterval).
	ExpireInterval time.Duration
	// Lag is as in Config (default DefaultLag); a peer's rate for a key is
	// measured over the two buckets up to when it was last heard.
	Lag time.Duration
}

func (c KeyedConfig) withDefaults() (KeyedConfig, error) {
	if c.Buckets == 0 {
		c.Buckets = DefaultKeyedBuckets
	}
	base, err := Config{Limit: c.Limit, Window: c.Window, Buckets: c.Buckets, Lag: c.Lag}.withDefaults()
	if err != nil {
		return c, err
	}
	c.Lag = base.Lag
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.MaxKeys < 1 {
		return c, fmt.Errorf("%w: MaxKeys %d is less than 1", ErrInvalidConfig, c.MaxKeys)
	}
	if c.ExpireInterval == 0 {
		c.ExpireInterval = DefaultExpireInterval
	}
	if c.ExpireInterval < 0 {
		return c, fmt.Errorf("%w: ExpireInterval %v is negative", ErrInvalidConfig, c.ExpireInterval)
	}
	return c, nil
}

// KeyedLimiter is one cluster-wide limit per key (a client, an
// Authorization header, a path): Limit events per key per sliding Window,
// shared by every node that creates it under the same name. All keys live
// in one crdt.KeyedWindow value, so a node sends the keys it counted as
// one delta per flush. Decisions are local and follow the Limiter's model
// per key. Its methods are those skipper's cluster rate limit filters
// call. Safe for concurrent use; after Close every call denies.
type KeyedLimiter struct {
	cfg    KeyedConfig
	self   crdt.Replica
	shared *swarm.Shared[*crdt.KeyedWindow]
	model  keyModel
	// release ends this limiter's claim on the shared value.
	release func()

	resizeMu sync.RWMutex
	resized  map[string]int
	nResized atomic.Int32

	closed    atomic.Bool
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewKeyed registers the keyed limit name on node n and starts the
// goroutine that expires idle keys. Create one per name per node.
func NewKeyed(n *swarm.Node, name string, cfg KeyedConfig) (*KeyedLimiter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	shared, err := swarm.Share(n, namePrefix+"keyed/"+name, func(self crdt.Replica) *crdt.KeyedWindow {
		w, _ := crdt.NewKeyedWindow(self, cfg.Window, cfg.Buckets) // config checked above
		return w
	})
	if err != nil {
		return nil, fmt.Errorf("shoal/ratelimit: share %q: %w", name, err)
	}
	release, err := shared.Claim()
	if err != nil {
		return nil, fmt.Errorf("shoal/ratelimit: a keyed limiter named %q already runs on this node: %w", name, err)
	}
	k := &KeyedLimiter{
		cfg:     cfg,
		self:    n.Replica(),
		shared:  shared,
		release: release,
		model: keyModel{
			width: int64(cfg.Window) / int64(cfg.Buckets),
			nb:    int64(cfg.Buckets),
			lag:   int64(cfg.Lag),
		},
		resized: make(map[string]int),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go k.run()
	return k, nil
}

func (k *KeyedLimiter) limitOf(key string) int {
	if k.nResized.Load() == 0 {
		return k.cfg.Limit
	}
	k.resizeMu.RLock()
	l, ok := k.resized[key]
	k.resizeMu.RUnlock()
	if !ok {
		return k.cfg.Limit
	}
	return l
}

// Allow reports whether one event of key may happen now, and counts it if
// so. ctx is not used (the decision never waits); it is there for
// skipper's Limiter interface. False after Close.
func (k *KeyedLimiter) Allow(ctx context.Context, key string) bool {
	return k.AllowN(time.Now(), key, 1)
}

// AllowN reports whether n events of key may happen at now, and counts
// them if so. It allocates nothing for a key already held.
func (k *KeyedLimiter) AllowN(now time.Time, key string, n int) bool {
	if n <= 0 {
		return n == 0 && !k.closed.Load()
	}
	if k.closed.Load() {
		return false
	}
	limit := float64(k.limitOf(key))
	ns := now.UnixNano()
	ok := false
	err := k.shared.Update(func(v *crdt.KeyedWindow, _ time.Time) {
		est, competing := k.model.estimate(ns, k.self, v.Slots(key), v.HeardAtNanos)
		if admits(limit, est, float64(v.Unsent(key)), competing, float64(n)) {
			v.AddAt(now, key, uint64(n))
			ok = true
		}
	})
	return ok && err == nil
}

// DecideN is AllowN with the numbers an HTTP response reports.
func (k *KeyedLimiter) DecideN(now time.Time, key string, n int) Decision {
	limit := k.limitOf(key)
	d := Decision{Limit: limit, RetryAfter: InfDuration}
	if n < 0 || k.closed.Load() {
		return d
	}
	ns := now.UnixNano()
	_ = k.shared.Update(func(v *crdt.KeyedWindow, _ time.Time) {
		slots := v.Slots(key)
		est, competing := k.model.estimate(ns, k.self, slots, v.HeardAtNanos)
		switch {
		case admits(float64(limit), est, float64(v.Unsent(key)), competing, float64(n)):
			v.AddAt(now, key, uint64(n))
			d.Allowed, d.RetryAfter = true, 0
			est += float64(n)
			slots = v.Slots(key)
		case est+float64(n) <= float64(limit):
			d.RetryAfter = k.cfg.Lag // this node's share is taken until its next flush
		default:
			if retry, fits := k.model.retryAfter(ns, limit, n, est, slots); fits {
				d.RetryAfter = retry
			}
		}
		d.Remaining = max(0, int(math.Floor(float64(limit)-est)))
		d.ResetAt = time.Unix(0, k.newestEnd(ns, slots))
	})
	return d
}

// newestEnd returns when the key's newest bucket leaves the window.
func (k *KeyedLimiter) newestEnd(now int64, slots []crdt.WindowSlot) int64 {
	newest := int64(math.MinInt64)
	for _, s := range slots {
		if l := len(s.Buckets); l > 0 {
			newest = max(newest, s.Buckets[l-1].Index)
		}
	}
	if newest == math.MinInt64 {
		return now
	}
	return (newest + k.model.nb + 1) * k.model.width
}

// peek runs fn on the keyed window without counting anything; false
// after Close.
func (k *KeyedLimiter) peek(fn func(v *crdt.KeyedWindow)) bool {
	if k.closed.Load() {
		return false
	}
	return k.shared.Read(fn) == nil
}

// Delta returns how long until one more event of key would be allowed,
// assuming nothing else is admitted meanwhile: 0 when one is allowed now.
// After Close it returns InfDuration.
func (k *KeyedLimiter) Delta(key string) time.Duration {
	now := time.Now().UnixNano()
	limit := k.limitOf(key)
	d := InfDuration
	k.peek(func(v *crdt.KeyedWindow) {
		slots := v.Slots(key)
		est, _ := k.model.estimate(now, k.self, slots, v.HeardAtNanos)
		if retry, ok := k.model.retryAfter(now, limit, 1, est, slots); ok {
			d = retry
		}
	})
	return d
}

// RetryAfter returns Delta(key) in whole seconds, rounded up (0 when an
// event is allowed now), for the Retry-After header. After Close it
// returns math.MaxInt32.
func (k *KeyedLimiter) RetryAfter(key string) int {
	d := k.Delta(key)
	switch {
	case d == InfDuration:
		return math.MaxInt32
	case d <= 0:
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Oldest returns the start of the oldest bucket of key still in the
// window (bucket precision: W/Buckets), as seen by this node, or the zero
// time if key has no event in the window.
func (k *KeyedLimiter) Oldest(key string) time.Time {
	now := time.Now().UnixNano()
	var t time.Time
	k.peek(func(v *crdt.KeyedWindow) {
		if first, ok := k.model.oldest(now, v.Slots(key)); ok {
			t = time.Unix(0, first)
		}
	})
	return t
}

// Resize sets the limit of key to n on this node (n < 1 restores the
// configured Limit). It is local: set it on every node for a cluster-wide
// change. It does not forget what was counted.
func (k *KeyedLimiter) Resize(key string, n int) {
	k.resizeMu.Lock()
	defer k.resizeMu.Unlock()
	if n < 1 {
		delete(k.resized, key)
	} else {
		k.resized[key] = n
	}
	k.nResized.Store(int32(len(k.resized)))
}

// Len returns how many keys this node holds.
func (k *KeyedLimiter) Len() int {
	n := 0
	_ = k.shared.Read(func(v *crdt.KeyedWindow) { n = v.Len() })
	return n
}

// Close stops the expiry goroutine. Later calls deny (Allow false, Delta
// InfDuration). It is idempotent and does not close the node.
func (k *KeyedLimiter) Close() {
	k.closeOnce.Do(func() {
		k.closed.Store(true)
		close(k.stop)
	})
	<-k.done
	k.release()
}

// run expires idle keys and enforces MaxKeys every ExpireInterval.
func (k *KeyedLimiter) run() {
	defer close(k.done)
	tick := time.NewTicker(k.cfg.ExpireInterval)
	defer tick.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-tick.C:
			k.expire()
		}
	}
}

func (k *KeyedLimiter) expire() {
	_ = k.shared.Update(func(v *crdt.KeyedWindow, now time.Time) {
		v.Expire(now)
		if over := v.Len() - k.cfg.MaxKeys; over > 0 {
			v.Evict(over + k.cfg.MaxKeys/10)
		}
	})
}
