package ratelimit

import (
	"context"
	"fmt"
	"time"
)

// KeyLimiter is one key of a KeyedLimiter with the Allow, AllowN, Wait and
// WaitN methods of golang.org/x/time/rate.Limiter (and of Limiter), for
// code written against that shape: a client library that takes a
// limiter per tenant, a worker that waits for its turn. It is a small
// value; make one per call or keep it, as is convenient.
type KeyLimiter struct {
	k   *KeyedLimiter
	key string
}

// ForKey returns key's limiter.
func (k *KeyedLimiter) ForKey(key string) KeyLimiter { return KeyLimiter{k, key} }

// Allow is shorthand for AllowN(time.Now(), 1).
func (l KeyLimiter) Allow() bool { return l.k.AllowN(time.Now(), l.key, 1) }

// AllowN reports whether n events of the key may happen at now, and
// counts them if so.
func (l KeyLimiter) AllowN(now time.Time, n int) bool { return l.k.AllowN(now, l.key, n) }

// Wait is shorthand for WaitN(ctx, 1).
func (l KeyLimiter) Wait(ctx context.Context) error { return l.WaitN(ctx, 1) }

// WaitN blocks until n events of the key are admitted (and counted), ctx
// is done, or the wait would outlast ctx's deadline, as Limiter.WaitN. It
// returns ErrExceedsLimit when n is larger than the key's limit and
// ErrClosed after Close.
func (l KeyLimiter) WaitN(ctx context.Context, n int) error {
	if limit := l.k.limitOf(l.key); n > limit {
		return fmt.Errorf("%w: WaitN(%d) with limit %d", ErrExceedsLimit, n, limit)
	}
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if l.k.closed.Load() {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		d := l.k.DecideN(now, l.key, n)
		if d.Allowed {
			return nil
		}
		delay := d.RetryAfter
		if delay == InfDuration { // closed meanwhile, or resized below n
			if l.k.closed.Load() {
				return ErrClosed
			}
			return fmt.Errorf("%w: WaitN(%d) with limit %d", ErrExceedsLimit, n, d.Limit)
		}
		delay = max(delay, time.Millisecond)
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
		case <-l.k.stop:
			return ErrClosed
		case <-timer.C:
		}
	}
}

// Reserve is shorthand for ReserveN(time.Now(), 1).
func (l *Limiter) Reserve() Reservation { return l.ReserveN(time.Now(), 1) }
