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

// expireChunk is how many keys one expiry step looks at under the value's
// lock: about 0.1–0.3 ms (BenchmarkKeyedExpireChunk), whatever the key
// count.
const expireChunk = 2048

// topRotate is how often the top-throttled sketch starts a generation.
const topRotate = time.Minute

// KeyedLimiter is one cluster-wide limit per key (a client, an
// Authorization header, a path): Limit events per key per sliding Window,
// shared by every node that creates it under the same name. All keys live
// in one crdt.KeyedWindow value, so a node sends the keys it counted as
// one delta per flush. Keys never leave the process: each is replaced by
// its 128-bit keyed hash (see KeyedConfig.HashSecret) before it reaches
// the shared state. Decisions are local; see the package documentation
// for the model. Its methods are those skipper's cluster rate limit
// filters call. Safe for concurrent use. After Close, or once the node
// has stopped, every call denies (Allow false, Delta InfDuration), as a
// Limiter's do.
type KeyedLimiter struct {
	cfg     KeyedConfig
	node    *swarm.Node
	shared  *swarm.Shared[*crdt.KeyedWindow]
	model   keyModel
	hasher  keyHasher
	release func() // ends this limiter's claim on the shared value

	resizeMu sync.RWMutex
	resized  map[string]int
	nResized atomic.Int32

	allowed, denied  atomic.Uint64
	expired, evicted atomic.Uint64
	top              topDenied

	closed    atomic.Bool
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewKeyed registers the keyed limit name on node n and starts the
// goroutine that expires idle keys. One KeyedLimiter per name per node:
// NewKeyed for a name whose limiter is still open fails with an error
// that wraps swarm.ErrClaimed.
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
	secret := cfg.HashSecret
	if len(secret) == 0 {
		secret = n.DeriveSecret("ratelimit/keyed-hash")
	}
	k := &KeyedLimiter{
		cfg:     cfg,
		node:    n,
		shared:  shared,
		release: release,
		hasher:  newKeyHasher(name, secret),
		model: keyModel{
			window:  int64(cfg.Window),
			width:   int64(cfg.Window) / int64(cfg.Buckets),
			reserve: int64(cfg.Reserve),
		},
		resized: make(map[string]int),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if !k.hasher.keyed {
		n.Logger().Warn("keyed rate limiter hashes its keys WITHOUT a secret: anyone who reads the gossip or the debug page can test guesses of a key; set KeyedConfig.HashSecret or swarm.Config.SecretKeys",
			"limiter", name)
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

// HashOf returns the hash that stands for key in Values, on the debug
// page, in metrics and in KeyedStats.TopThrottled (32 hex digits), so that
// an operator who knows a key can find it there.
func (k *KeyedLimiter) HashOf(key string) string { return hashString(k.hasher.hash(key)) }

// Allow reports whether one event of key may happen now, and counts it if
// so. ctx is not used (the decision never waits); it is there for
// skipper's Limiter interface. False after Close.
func (k *KeyedLimiter) Allow(ctx context.Context, key string) bool {
	return k.AllowN(time.Now(), key, 1)
}

// AllowN reports whether n events of key may happen at now, and counts
// them if so. It hashes the key (about 20 ns), then decides under the
// value's lock in O(events of the key in the window); it allocates
// nothing for a key already held.
func (k *KeyedLimiter) AllowN(now time.Time, key string, n int) bool {
	if n <= 0 {
		return n == 0 && !k.stopped()
	}
	if k.closed.Load() {
		return false
	}
	h := k.hasher.hash(key)
	limit := float64(k.limitOf(key))
	ok := false
	err := k.shared.Update(func(v *crdt.KeyedWindow, _ time.Time) {
		ok = k.model.allow(v, now, h, limit, n)
	})
	k.count(h, ok && err == nil)
	return ok && err == nil
}

// stopped reports whether the limiter was closed or its node stopped.
func (k *KeyedLimiter) stopped() bool { return k.closed.Load() || k.node.Closed() }

func (k *KeyedLimiter) count(h crdt.KeyHash, allowed bool) {
	if allowed {
		k.allowed.Add(1)
		return
	}
	// One denial in topSample feeds the sketch: a denied request stays
	// cheap, and a key denied often is still seen.
	if k.denied.Add(1)%topSample == 0 {
		k.top.add(h)
	}
}

// DecideN is AllowN with the numbers an HTTP response reports: Remaining
// is what this node believes is left for the key after the decision,
// RetryAfter (when denied) the earliest instant this node would admit if
// nothing else were admitted meanwhile, never more than Window.
func (k *KeyedLimiter) DecideN(now time.Time, key string, n int) Decision {
	limit := k.limitOf(key)
	d := Decision{Limit: limit, RetryAfter: InfDuration}
	if n < 0 || k.closed.Load() {
		return d
	}
	h := k.hasher.hash(key)
	ns := now.UnixNano()
	err := k.shared.Update(func(v *crdt.KeyedWindow, _ time.Time) {
		events := v.Events(h)
		view := k.model.view(ns, events, v.Total(h), v.BeforeSelf)
		switch {
		case admits(float64(limit), view, float64(v.Unsent(h)), float64(n)):
			if n > 0 {
				v.AddAt(now, h, uint64(n))
			}
			d.Allowed, d.RetryAfter = true, 0
			view.count += uint64(n)
			events = v.Events(h)
		case view.count+view.reserved+uint64(n) <= uint64(limit):
			d.RetryAfter = k.cfg.Lag // this node's share is taken until its next flush
		default:
			if retry, fits := k.model.retryAfter(ns, limit, n, view, events); fits {
				d.RetryAfter = retry
			}
		}
		d.Remaining = max(0, limit-int(min(view.count+view.reserved, math.MaxInt32)))
		d.ResetAt = time.Unix(0, k.model.newestEnd(ns, events))
	})
	if err != nil {
		return Decision{Limit: limit, RetryAfter: InfDuration}
	}
	if n > 0 {
		k.count(h, d.Allowed)
	}
	return d
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
// assuming nothing else is admitted meanwhile: 0 when one is allowed now,
// never more than Window. After Close it returns InfDuration.
func (k *KeyedLimiter) Delta(key string) time.Duration {
	now := time.Now().UnixNano()
	limit := k.limitOf(key)
	h := k.hasher.hash(key)
	d := InfDuration
	k.peek(func(v *crdt.KeyedWindow) {
		events := v.Events(h)
		if retry, ok := k.model.retryAfter(now, limit, 1, k.model.view(now, events, v.Total(h), v.BeforeSelf), events); ok {
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

// Oldest returns the start of the oldest tick of key still in the window
// (tick precision: Window/Buckets), as seen by this node, or the zero
// time if key has no event in the window.
func (k *KeyedLimiter) Oldest(key string) time.Time {
	now := time.Now().UnixNano()
	h := k.hasher.hash(key)
	var t time.Time
	k.peek(func(v *crdt.KeyedWindow) {
		if first, ok := k.model.oldest(now, v.Events(h)); ok {
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

// Stats returns the limiter's counters, its key count and the key hashes
// it denied most. It takes the value's lock once, briefly.
func (k *KeyedLimiter) Stats() KeyedStats {
	s := KeyedStats{
		Allowed:      k.allowed.Load(),
		Denied:       k.denied.Load(),
		Expired:      k.expired.Load(),
		Evicted:      k.evicted.Load(),
		HashKeyed:    k.hasher.keyed,
		TopThrottled: k.top.top(),
	}
	_ = k.shared.Read(func(v *crdt.KeyedWindow) { s.Keys, s.Rejected = v.Len(), v.Rejected() })
	return s
}

// Close stops the expiry goroutine. Later calls deny (Allow false, Delta
// InfDuration). It is idempotent and does not close the node. It has no
// error result, unlike Limiter.Close, because skipper's limiter interface
// has none.
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
	rotate := time.NewTicker(topRotate)
	defer rotate.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-rotate.C:
			k.top.rotate()
		case <-tick.C:
			k.expire()
		}
	}
}

// expire makes one pass over the keys, expireChunk at a time with the
// value's lock released in between, then evicts down to 90 % of MaxKeys
// if there are more.
func (k *KeyedLimiter) expire() {
	for {
		wrapped := true
		err := k.shared.Update(func(v *crdt.KeyedWindow, now time.Time) {
			var dropped int
			dropped, wrapped = v.Expire(now, expireChunk)
			k.expired.Add(uint64(dropped))
		})
		if err != nil || wrapped || k.closed.Load() {
			break
		}
	}
	target := k.cfg.MaxKeys - k.cfg.MaxKeys/10
	for !k.closed.Load() {
		over := 0
		err := k.shared.Update(func(v *crdt.KeyedWindow, _ time.Time) {
			if v.Len() <= k.cfg.MaxKeys {
				return
			}
			over = v.Len() - target
			k.evicted.Add(uint64(v.Evict(min(over, expireChunk/2), expireChunk)))
		})
		if err != nil || over <= expireChunk/2 {
			return
		}
	}
}
