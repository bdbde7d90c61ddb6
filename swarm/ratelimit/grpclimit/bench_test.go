package grpclimit_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/ratelimit/grpclimit"
)

// BenchmarkUnaryInterceptor measures what the unary interceptor adds to a
// call: the decision, the metadata and grpc.SetHeader's lookup, around a
// handler that does nothing (cd swarm/ratelimit/grpclimit && go test -run '^$'
// -bench . -benchmem).
func BenchmarkUnaryInterceptor(b *testing.B) {
	n, err := swarm.New(swarm.DefaultLocalConfig("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	l, err := ratelimit.New(n, "rpc", ratelimit.Config{Limit: 1 << 40, Window: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	unary, _, err := grpclimit.Interceptors(grpclimit.Cluster(l), grpclimit.Options{Key: grpclimit.Method()})
	if err != nil {
		b.Fatal(err)
	}
	info := &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"}
	handler := func(context.Context, any) (any, error) { return nil, nil }
	// A server stream in the context, as a real call has, so SetHeader
	// takes its normal path.
	ctx := grpc.NewContextWithServerTransportStream(context.Background(), headerSink{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := unary(ctx, nil, info, handler); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// headerSink is the grpc.ServerTransportStream of a call that keeps no
// header: the benchmark times the interceptor, not a transport.
type headerSink struct{}

func (headerSink) Method() string               { return "/grpc.health.v1.Health/Check" }
func (headerSink) SetHeader(metadata.MD) error  { return nil }
func (headerSink) SendHeader(metadata.MD) error { return nil }
func (headerSink) SetTrailer(metadata.MD) error { return nil }
