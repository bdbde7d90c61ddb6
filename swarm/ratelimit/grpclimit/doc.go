// Package grpclimit is gRPC server middleware for shoal's cluster rate
// limits: a unary and a stream interceptor that decide each call locally
// with a ratelimit.Limiter or ratelimit.KeyedLimiter and refuse a call
// over the limit with codes.ResourceExhausted, carrying a
// google.rpc.RetryInfo detail that says when to retry.
//
// It is its own Go module (github.com/shoal-go/shoal/swarm/ratelimit/grpclimit),
// so that google.golang.org/grpc and its dependencies stay out of the
// module graph of programs that use shoal without gRPC.
//
// # Usage
//
//	api, _ := ratelimit.New(node, "api", ratelimit.Config{Limit: 1000, Window: time.Minute})
//	unary, stream, err := grpclimit.Interceptors(grpclimit.Cluster(api), grpclimit.Options{})
//	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
//
// Every decided call's response header metadata carries the limit in the
// IETF fields' syntax (ratelimit-policy: "default";q=1000;w=60 and
// ratelimit: "default";r=42;t=17), and a refused call's also retry-after
// (seconds). A stream is decided once, when it opens.
package grpclimit
