package grpclimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/shoal-go/shoal/swarm/ratelimit"
)

var (
	// ErrInvalidOptions is returned by Interceptors when an Options field
	// is invalid; the message names the field.
	ErrInvalidOptions = errors.New("shoal/grpclimit: invalid options")
	// ErrNoKey is returned by a KeyFunc when the call carries no key.
	ErrNoKey = errors.New("shoal/grpclimit: call has no key")
)

// Decider decides whether n events of a call's key happen at now, and
// counts them if so. It must be safe for concurrent use and must not
// block; Cluster and PerKey adapt shoal's limiters.
type Decider interface {
	Decide(now time.Time, key string, n int) ratelimit.Decision
	// Window is the limit's window, reported in ratelimit-policy's w.
	Window() time.Duration
}

// Cluster adapts a Limiter: one limit for every call, whatever its key.
func Cluster(l *ratelimit.Limiter) Decider { return clusterDecider{l} }

type clusterDecider struct{ l *ratelimit.Limiter }

func (c clusterDecider) Decide(now time.Time, _ string, n int) ratelimit.Decision {
	return c.l.DecideN(now, n)
}
func (c clusterDecider) Window() time.Duration { return c.l.Window() }

// PerKey adapts a KeyedLimiter: one limit per key. window is the Window
// the limiter was configured with (KeyedConfig.Window).
func PerKey(k *ratelimit.KeyedLimiter, window time.Duration) Decider {
	return keyedDecider{k, window}
}

type keyedDecider struct {
	k      *ratelimit.KeyedLimiter
	window time.Duration
}

func (k keyedDecider) Decide(now time.Time, key string, n int) ratelimit.Decision {
	return k.k.DecideN(now, key, n)
}
func (k keyedDecider) Window() time.Duration { return k.window }

// KeyFunc returns the key a call is limited by. fullMethod is
// "/package.Service/Method". An error (wrapping ErrNoKey for a missing
// key) refuses the call with codes.InvalidArgument.
type KeyFunc func(ctx context.Context, fullMethod string) (string, error)

// Method keys a call by its full method name: one limit per method.
func Method() KeyFunc {
	return func(_ context.Context, m string) (string, error) { return m, nil }
}

// Metadata keys a call by the first value of the incoming metadata key
// name (an API key, a tenant); a call without it fails with ErrNoKey.
func Metadata(name string) KeyFunc {
	return func(ctx context.Context, _ string) (string, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(name); len(v) > 0 && v[0] != "" {
				return v[0], nil
			}
		}
		return "", fmt.Errorf("%w: no %q metadata", ErrNoKey, name)
	}
}

// PeerAddr keys a call by the IP address of the connection's peer. Behind
// a proxy that is the proxy: key by Metadata of what the proxy forwards
// instead.
func PeerAddr() KeyFunc {
	return func(ctx context.Context, _ string) (string, error) {
		p, ok := peer.FromContext(ctx)
		if !ok || p.Addr == nil {
			return "", fmt.Errorf("%w: no peer address", ErrNoKey)
		}
		host, _, err := net.SplitHostPort(p.Addr.String())
		if err != nil {
			return "", fmt.Errorf("%w: peer address %q: %v", ErrNoKey, p.Addr.String(), err)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return "", fmt.Errorf("%w: peer address %q: %v", ErrNoKey, p.Addr.String(), err)
		}
		return a.Unmap().String(), nil
	}
}

// Options configure Interceptors. The zero value gives every call the key
// "" and counts it as one event.
type Options struct {
	// Key returns the call's key; nil gives every call the key "".
	Key KeyFunc
	// Cost returns how many events a call counts; nil counts 1.
	Cost func(ctx context.Context, fullMethod string) int
	// Policy names the limit in the ratelimit metadata: printable ASCII
	// without '"' or '\'. Default "default".
	Policy string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Interceptors returns a unary and a stream server interceptor that
// decide every call with d before its handler runs. A refused call ends
// with codes.ResourceExhausted and a RetryInfo detail (the delay until
// the call would fit if nothing else were admitted), and never reaches
// the handler. They never block.
func Interceptors(d Decider, o Options) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor, error) {
	if d == nil {
		return nil, nil, fmt.Errorf("%w: Decider is nil", ErrInvalidOptions)
	}
	if o.Policy == "" {
		o.Policy = "default"
	}
	for i := 0; i < len(o.Policy); i++ {
		if c := o.Policy[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return nil, nil, fmt.Errorf("%w: Policy %q: byte %d is not printable ASCII without '\"' or '\\'", ErrInvalidOptions, o.Policy, i)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &limiter{d: d, o: o, item: `"` + o.Policy + `"`,
		windowSec: strconv.FormatInt(int64((d.Window()+time.Second-1)/time.Second), 10)}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, err := l.decide(ctx, info.FullMethod)
		if md != nil {
			_ = grpc.SetHeader(ctx, md)
		}
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		md, err := l.decide(ss.Context(), info.FullMethod)
		if md != nil {
			_ = ss.SetHeader(md)
		}
		if err != nil {
			return err
		}
		return handler(srv, ss)
	}
	return unary, stream, nil
}

type limiter struct {
	d         Decider
	o         Options
	item      string
	windowSec string
}

// decide returns the header metadata for the call and, when it is
// refused, its status error.
func (l *limiter) decide(ctx context.Context, method string) (metadata.MD, error) {
	key := ""
	if l.o.Key != nil {
		k, err := l.o.Key(ctx, method)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "no rate-limit key: "+err.Error())
		}
		key = k
	}
	n := 1
	if l.o.Cost != nil {
		n = max(l.o.Cost(ctx, method), 0)
	}
	now := l.o.Now()
	dec := l.d.Decide(now, key, n)
	reset := int64(0)
	if !dec.ResetAt.IsZero() {
		if d := dec.ResetAt.Sub(now); d > 0 {
			reset = int64((d + time.Second - 1) / time.Second)
		}
	}
	// Keys are lower case already: no metadata.Pairs normalisation.
	md := metadata.MD{
		"ratelimit-policy": {l.item + ";q=" + strconv.Itoa(dec.Limit) + ";w=" + l.windowSec},
		"ratelimit":        {l.item + ";r=" + strconv.Itoa(dec.Remaining) + ";t=" + strconv.FormatInt(reset, 10)},
	}
	if dec.Allowed {
		return md, nil
	}
	md["retry-after"] = []string{strconv.Itoa(dec.RetryAfterSeconds())}
	st := status.New(codes.ResourceExhausted, "rate limit exceeded")
	if dec.RetryAfter != ratelimit.InfDuration {
		if withInfo, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(dec.RetryAfter)}); err == nil {
			st = withInfo
		}
	}
	return md, st.Err()
}
