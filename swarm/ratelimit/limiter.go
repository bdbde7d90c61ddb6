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

// namePrefix keeps limiter values apart from the node's other values.
const namePrefix = "ratelimit/"

// Limiter admits events against one cluster-wide limit of Limit events per
// sliding Window, shared by every node that creates a Limiter with the
// same name. Each decision is local (a mutex, a few additions; no network
// round trip): the node counts its own admissions, learns its peers'
// through a crdt.WindowCounter gossiped by the node, and adds what each
// peer has probably admitted since it last heard from it.
//
// Prefer Allow for a yes/no answer, Decide when the response carries
// rate-limit headers, and Wait for a client that should block. The …N
// variants take the instant as a parameter, like golang.org/x/time/rate.
// A Limiter is safe for concurrent use. After Close, or once its node has
// stopped (Leave or Close), it denies everything, as a KeyedLimiter does:
// Allow and Reserve fail, Decide reports RetryAfter InfDuration and Wait
// returns ErrClosed.
type Limiter struct {
	cfg    Config
	node   *swarm.Node
	self   crdt.Replica
	shared *swarm.Shared[*crdt.WindowCounter]
	// release ends this limiter's claim on the shared value.
	release func()

	mu      sync.Mutex
	est     *estimator
	pending []crdt.Bucket // own admissions not yet in the shared counter

	closed    atomic.Bool
	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// used by the sync goroutine only
	pushBuf []crdt.Bucket
	slots   []crdt.WindowSlot
	view    peerView
}

// New registers the limit name on node n and starts the goroutine that
// moves admissions between the limiter and the node. Every node of the
// cluster that calls New with the same name and Config shares the limit.
// One Limiter per name per node: New for a name whose limiter is still
// open fails with an error that wraps swarm.ErrClaimed. Close it when done.
func New(n *swarm.Node, name string, cfg Config) (*Limiter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	shared, err := swarm.Share(n, namePrefix+name, func(self crdt.Replica) *crdt.WindowCounter {
		w, _ := crdt.NewWindowCounter(self, cfg.Window, cfg.Buckets) // config checked above
		return w
	})
	if err != nil {
		return nil, fmt.Errorf("shoal/ratelimit: share %q: %w", name, err)
	}
	release, err := shared.Claim()
	if err != nil {
		return nil, fmt.Errorf("shoal/ratelimit: a limiter named %q already runs on this node: %w", name, err)
	}
	l := &Limiter{
		cfg:     cfg,
		node:    n,
		self:    n.Replica(),
		shared:  shared,
		release: release,
		est:     newEstimator(cfg.Limit, cfg.Window, cfg.Buckets, cfg.Lag, cfg.RateSpan),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	notify, cancel := shared.Subscribe()
	l.refresh(time.Now())
	go l.run(notify, cancel)
	return l, nil
}

// Limit returns the cluster-wide limit per window.
func (l *Limiter) Limit() int { return l.cfg.Limit }

// Window returns the window length.
func (l *Limiter) Window() time.Duration { return l.cfg.Window }

// Allow is shorthand for AllowN(time.Now(), 1).
func (l *Limiter) Allow() bool { return l.AllowN(time.Now(), 1) }

// AllowN reports whether n events may happen at now, and counts them if
// so. It costs tens of nanoseconds and allocates nothing.
func (l *Limiter) AllowN(now time.Time, n int) bool {
	if n <= 0 {
		return n == 0 && !l.stopped()
	}
	if l.stopped() {
		return false
	}
	l.mu.Lock()
	ok, _ := l.est.take(now.UnixNano(), uint64(n))
	wake := false
	if ok {
		wake = l.addPending(uint64(n))
	}
	l.mu.Unlock()
	if wake {
		l.signal()
	}
	return ok
}

// Decide is shorthand for DecideN(time.Now(), 1).
func (l *Limiter) Decide() Decision { return l.DecideN(time.Now(), 1) }

// DecideN is AllowN with the numbers an HTTP response reports. It
// allocates nothing.
func (l *Limiter) DecideN(now time.Time, n int) Decision {
	d := Decision{Limit: l.cfg.Limit}
	if n < 0 || l.stopped() {
		d.RetryAfter = InfDuration
		return d
	}
	ns := now.UnixNano()
	l.mu.Lock()
	ok, est := l.est.take(ns, uint64(n))
	wake := false
	used := est
	if ok {
		if n > 0 {
			wake = l.addPending(uint64(n))
		}
		used += float64(n)
	} else {
		retry, fits := l.est.retryAfter(ns, uint64(n), est)
		d.RetryAfter = retry
		if !fits {
			d.RetryAfter = InfDuration
		}
	}
	reset := l.est.resetAt(ns)
	l.mu.Unlock()
	if wake {
		l.signal()
	}
	d.Allowed = ok
	d.Remaining = max(0, int(math.Floor(float64(l.cfg.Limit)-used)))
	d.ResetAt = time.Unix(0, reset)
	return d
}

// Reservation is the outcome of ReserveN: whether the events were
// reserved, and how long the caller must wait before they happen.
type Reservation struct {
	OK    bool
	Delay time.Duration
}

// ReserveN reserves n events at the earliest instant from now at which they
// fit if nothing else were admitted meanwhile, counts them at that instant,
// and returns how long to wait for it. It fails (OK false, nothing counted)
// after Close, when n exceeds the limit, or when the wait would be longer
// than a window. A reservation cannot be cancelled: the events count
// whether or not they happen. Peers learn of a reservation only when its
// instant's bucket is sent, so reservations race with peers like Allow.
func (l *Limiter) ReserveN(now time.Time, n int) Reservation {
	if n <= 0 || l.stopped() {
		return Reservation{OK: n == 0 && !l.stopped()}
	}
	ns := now.UnixNano()
	l.mu.Lock()
	d, ok := l.est.reserve(ns, uint64(n))
	wake := false
	if ok {
		wake = l.addPendingAt(l.est.bucket(ns+int64(d)), uint64(n))
	}
	l.mu.Unlock()
	if wake {
		l.signal()
	}
	return Reservation{OK: ok, Delay: d}
}

// Estimate returns the number of events this node believes the cluster
// admitted in the window ending at now, extrapolation included.
func (l *Limiter) Estimate(now time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.est.estimate(now.UnixNano())
}

// Wait is shorthand for WaitN(ctx, 1).
func (l *Limiter) Wait(ctx context.Context) error { return l.WaitN(ctx, 1) }

// WaitN blocks until n events are admitted (and counted), ctx is done, or
// the wait would outlast ctx's deadline. It returns ErrExceedsLimit when n
// is larger than the limit and ErrClosed after Close. Admissions are not
// queued: waiters retry when the estimate says room has appeared, so under
// contention a waiter may wait longer than the first RetryAfter.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if n > l.cfg.Limit {
		return fmt.Errorf("%w: WaitN(%d) with limit %d", ErrExceedsLimit, n, l.cfg.Limit)
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if l.stopped() {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		d := l.DecideN(now, n)
		if d.Allowed {
			return nil
		}
		delay := max(d.RetryAfter, time.Millisecond)
		if dl, ok := ctx.Deadline(); ok && now.Add(delay).After(dl) {
			return fmt.Errorf("shoal/ratelimit: WaitN(%d) would outlast the context deadline: %w", n, context.DeadlineExceeded)
		}
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.stop:
			return ErrClosed
		case <-timer.C:
		}
	}
}

// Close stops the limiter's goroutine after moving its last admissions
// into the shared counter. Later calls deny. It is idempotent and does not
// close the node.
func (l *Limiter) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.stop)
	})
	<-l.done
	l.release()
	return nil
}

// stopped reports whether the limiter was closed or its node has stopped:
// either way it denies, as a KeyedLimiter does, since its admissions
// could no longer reach the cluster.
func (l *Limiter) stopped() bool { return l.closed.Load() || l.node.Closed() }

// addPending records n own admissions in the current bucket for the sync
// goroutine; it reports whether the goroutine must be woken. Called with
// mu held.
func (l *Limiter) addPending(n uint64) bool {
	return l.addPendingAt(l.est.cur, n)
}

func (l *Limiter) addPendingAt(idx int64, n uint64) bool {
	if k := len(l.pending); k > 0 && l.pending[k-1].Index == idx {
		l.pending[k-1].N += n
		return false
	}
	l.pending = append(l.pending, crdt.Bucket{Index: idx, N: n})
	return len(l.pending) == 1
}

func (l *Limiter) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run is the sync goroutine: it moves own admissions into the shared
// counter (at most once per SyncInterval) and refreshes the estimator when
// peers' counts change.
func (l *Limiter) run(notify <-chan struct{}, cancel func()) {
	defer close(l.done)
	defer cancel()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	cooling := false
	var scale <-chan time.Time
	if l.cfg.Partition == PartitionScaleLimit {
		t := time.NewTicker(scaleInterval)
		defer t.Stop()
		scale = t.C
	}
	for {
		select {
		case <-l.stop:
			timer.Stop()
			l.push()
			return
		case now := <-scale:
			limit := scaledLimit(now, l.cfg.Limit, l.cfg.Window, l.node.Members())
			l.mu.Lock()
			l.est.limit = limit
			l.mu.Unlock()
		case <-notify:
			l.refresh(time.Now())
		case <-l.wake:
			if !cooling {
				l.push()
				cooling = true
				timer.Reset(l.cfg.SyncInterval)
			}
		case <-timer.C:
			cooling = false
			if l.push() {
				cooling = true
				timer.Reset(l.cfg.SyncInterval)
			}
		}
	}
}

// push moves the pending admissions into the shared counter; it reports
// whether there were any.
func (l *Limiter) push() bool {
	l.mu.Lock()
	l.pushBuf, l.pending = l.pending, l.pushBuf[:0]
	l.mu.Unlock()
	if len(l.pushBuf) == 0 {
		return false
	}
	width := l.est.width // immutable after construction
	buf := l.pushBuf
	_ = l.shared.Update(func(v *crdt.WindowCounter, _ time.Time) {
		for _, b := range buf {
			v.AddAt(time.Unix(0, b.Index*width), b.N)
		}
	})
	return true
}

// refresh copies the peers' slots out of the shared counter and hands
// them to the estimator.
func (l *Limiter) refresh(now time.Time) {
	slots := l.slots[:0]
	err := l.shared.Read(func(v *crdt.WindowCounter) {
		for _, s := range v.Slots {
			if s.Replica == l.self {
				continue
			}
			k := len(slots)
			if k < cap(slots) {
				slots = slots[:k+1]
				slots[k].Replica = s.Replica
				slots[k].Buckets = append(slots[k].Buckets[:0], s.Buckets...)
			} else {
				slots = append(slots, crdt.WindowSlot{Replica: s.Replica, Buckets: append([]crdt.Bucket(nil), s.Buckets...)})
			}
		}
	})
	if err != nil {
		return
	}
	l.slots = slots
	l.est.buildPeers(now.UnixNano(), l.self, slots, &l.view) // outside the lock
	l.mu.Lock()
	l.est.installPeers(&l.view)
	l.mu.Unlock()
}

// scaleInterval is how often PartitionScaleLimit counts live members.
const scaleInterval = 250 * time.Millisecond

// scaleHorizon is how long PartitionScaleLimit keeps counting a failed
// member as part of the cluster: a partition looks like failures, and must
// keep scaling for as long as it lasts; a member that really died stops
// counting after this long.
func scaleHorizon(window time.Duration) time.Duration { return max(10*window, time.Minute) }

// scaledLimit returns limit·live/known: live members against live plus
// failed ones (within scaleHorizon). Members that left on purpose are not
// counted: the cluster shrank.
func scaledLimit(now time.Time, limit int, window time.Duration, members []swarm.Member) float64 {
	live, known := 0, 0
	for _, m := range members {
		switch {
		case m.State == swarm.MemberAlive:
			live++
			known++
		case m.State == swarm.MemberFailed && now.Sub(m.Since) < scaleHorizon(window):
			known++
		}
	}
	live = max(live, 1)
	known = max(known, live)
	return float64(limit) * float64(live) / float64(known)
}
