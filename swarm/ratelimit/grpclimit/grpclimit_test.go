package grpclimit_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/shoal-go/shoal/swarm/ratelimit"
	"github.com/shoal-go/shoal/swarm/ratelimit/grpclimit"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// TestMain checks for leaked goroutines. memberlist's Shutdown does not
// wait for an in-flight probe (see swarm's TestMain); that one frame is
// ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// serve starts a real gRPC server on loopback with the health service
// behind the interceptors, and returns a client for it.
func serve(t *testing.T, d grpclimit.Decider, o grpclimit.Options) healthpb.HealthClient {
	t.Helper()
	unary, stream, err := grpclimit.Interceptors(d, o)
	require.NoError(t, err)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// checkHeader checks the rate-limit metadata of one call.
func checkHeader(t *testing.T, md metadata.MD, limit, windowSec, remaining int, refused bool) {
	t.Helper()
	assert.Equal(t, []string{fmt.Sprintf(`"default";q=%d;w=%d`, limit, windowSec)}, md.Get("ratelimit-policy"))
	var r, reset int
	_, err := fmt.Sscanf(first(md, "ratelimit"), `"default";r=%d;t=%d`, &r, &reset)
	require.NoError(t, err, "ratelimit %q", md.Get("ratelimit"))
	assert.Equal(t, remaining, r, "r")
	horizon := windowSec + windowSec/20 + 1
	assert.True(t, reset >= 1 && reset <= horizon, "t=%d", reset)
	if refused {
		s, err := strconv.Atoi(first(md, "retry-after"))
		require.NoError(t, err)
		assert.True(t, s >= 1 && s <= horizon, "retry-after %d", s)
	} else {
		assert.Empty(t, md.Get("retry-after"))
	}
}

func first(md metadata.MD, k string) string {
	if v := md.Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}

// checkRefused checks that err is ResourceExhausted with a RetryInfo
// whose delay is within the window.
func checkRefused(t *testing.T, err error, window time.Duration) {
	t.Helper()
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status: %v", err)
	require.Equal(t, codes.ResourceExhausted, st.Code(), "%v", err)
	var info *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			info = ri
		}
	}
	require.NotNil(t, info, "no RetryInfo detail in %v", st.Details())
	delay := info.GetRetryDelay().AsDuration()
	assert.True(t, delay > 0 && delay <= window+window/20, "retry delay %v", delay)
}

// One cluster limit over three nodes, each behind its own gRPC server:
// unary calls admitted on one are refused on the others once the news
// arrived, and a stream is refused when it opens.
func TestClusterLimitAcrossThreeGRPCServers(t *testing.T) {
	const limit, window = 3, time.Minute
	c := swarmtest.Start(t, 3, swarmtest.Options{})
	var lims []*ratelimit.Limiter
	var clients []healthpb.HealthClient
	for _, nd := range c.Nodes() {
		l, err := ratelimit.New(nd, "rpc", ratelimit.Config{Limit: limit, Window: window, Buckets: 60, Lag: -1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		lims = append(lims, l)
		clients = append(clients, serve(t, grpclimit.Cluster(l), grpclimit.Options{}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range limit {
		var md metadata.MD
		resp, err := clients[0].Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
		checkHeader(t, md, limit, 60, limit-1-i, false)
	}
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		for i, l := range lims {
			if got := l.Estimate(time.Now()); got != limit {
				return fmt.Errorf("node %d estimates %v", i, got)
			}
		}
		return nil
	})
	for _, cl := range clients[1:] {
		var md metadata.MD
		_, err := cl.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&md))
		checkRefused(t, err, window)
		checkHeader(t, md, limit, 60, 0, true)

		st, err := cl.Watch(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		_, err = st.Recv()
		checkRefused(t, err, window)
		smd, err := st.Header()
		require.NoError(t, err)
		checkHeader(t, smd, limit, 60, 0, true)
	}
}

// Per-key limits from metadata; a call without the key is refused with
// InvalidArgument; streams pass while under the limit.
func TestPerKeyLimitFromMetadata(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	k, err := ratelimit.NewKeyed(c.Node(0), "tenants", ratelimit.KeyedConfig{Limit: 1, Window: time.Minute, Lag: -1})
	require.NoError(t, err)
	t.Cleanup(k.Close)
	cl := serve(t, grpclimit.PerKey(k, time.Minute), grpclimit.Options{Key: grpclimit.Metadata("x-tenant")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err = cl.Check(ctx, &healthpb.HealthCheckRequest{})
	assert.Equal(t, codes.InvalidArgument, status.Code(err), "no key: %v", err)

	a := metadata.AppendToOutgoingContext(ctx, "x-tenant", "a")
	st, err := cl.Watch(a, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	resp, err := st.Recv()
	require.NoError(t, err, "the first stream of tenant a is admitted")
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
	_, err = cl.Check(a, &healthpb.HealthCheckRequest{})
	checkRefused(t, err, time.Minute)
	b := metadata.AppendToOutgoingContext(ctx, "x-tenant", "b")
	_, err = cl.Check(b, &healthpb.HealthCheckRequest{})
	require.NoError(t, err, "tenant b has its own limit")
}

// PeerAddr keys by the connection's peer; Method by the full method name.
func TestPeerAndMethodKeys(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	k, err := ratelimit.NewKeyed(c.Node(0), "peers", ratelimit.KeyedConfig{Limit: 1, Window: time.Minute, Lag: -1})
	require.NoError(t, err)
	t.Cleanup(k.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cl := serve(t, grpclimit.PerKey(k, time.Minute), grpclimit.Options{Key: grpclimit.PeerAddr()})
	_, err = cl.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = cl.Check(ctx, &healthpb.HealthCheckRequest{})
	checkRefused(t, err, time.Minute)
	assert.True(t, k.RetryAfter("127.0.0.1") > 0, "the key is the peer's IP, without the port")

	cl = serve(t, grpclimit.PerKey(k, time.Minute), grpclimit.Options{Key: grpclimit.Method()})
	_, err = cl.Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = cl.Check(ctx, &healthpb.HealthCheckRequest{})
	checkRefused(t, err, time.Minute)
	st, err := cl.Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = st.Recv()
	require.NoError(t, err, "another method has its own limit")
}
