package ratelimitbench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
)

// newShoalInstance starts a loopback node (joined to seeds unless none)
// with the scenario's limiter. A join that fails is tried twice more.
func newShoalInstance(ctx context.Context, name string, seeds []string, p Params) (*instance, error) {
	n, err := swarm.New(swarm.DefaultLocalConfig(name))
	if err != nil {
		return nil, fmt.Errorf("ratelimitbench: start %s: %w", name, err)
	}
	if len(seeds) > 0 {
		for range 3 {
			jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = n.Join(jctx, seeds...)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			_ = n.Close()
			return nil, fmt.Errorf("ratelimitbench: join %s: %w", name, err)
		}
	}
	in := &instance{name: name, node: n}
	if k := p.Keyed; k != nil {
		kl, err := ratelimit.NewKeyed(n, "bench", ratelimit.KeyedConfig{Limit: k.Limit, Window: k.Window, MaxKeys: k.MaxKeys, Lag: p.Lag})
		if err != nil {
			_ = n.Close()
			return nil, err
		}
		keys := make([]string, k.Keys)
		for i := range keys {
			keys[i] = "client-" + strconv.Itoa(i)
		}
		in.allow = func(now time.Time, key int) bool { return kl.AllowN(now, keys[key], 1) }
		in.close = func() { kl.Close(); _ = n.Close() }
		return in, nil
	}
	l, err := ratelimit.New(n, "bench", ratelimit.Config{Limit: p.Limit, Window: p.Window, Buckets: p.Buckets, Lag: p.Lag})
	if err != nil {
		_ = n.Close()
		return nil, err
	}
	in.allow = func(now time.Time, _ int) bool { return l.AllowN(now, 1) }
	in.close = func() { _ = l.Close(); _ = n.Close() }
	return in, nil
}
