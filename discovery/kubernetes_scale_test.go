package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"

	"github.com/shoal-go/shoal/internal/kubetest"
)

// BenchmarkKubernetesAPIServer1000Pods measures one Peers call against the
// real kube-apiserver holding 1,000 Running, Ready pods of realistic size
// (managedFields included; see kubetest.CreateRealisticPods), as one
// member of a 1,000-pod fleet pays it. It reports the bytes read from the
// socket per call (TLS and any gzip included) besides the time. Skipped
// when the API server is not built; the pods take a minute to create.
//
//	go test -run '^$' -bench KubernetesAPIServer1000Pods -benchtime 20x ./discovery/
func BenchmarkKubernetesAPIServer1000Pods(b *testing.B) {
	srv := kubetest.Start(b)
	const ns = "scale"
	srv.CreateNamespace(b, ns)
	pods := make([]kubetest.PodState, 1000)
	for i := range pods {
		// 127.1.0.0/16: never contacted; discovery only lists them.
		pods[i] = kubetest.PodState{Name: fmt.Sprintf("shoal-ratelimit-7c9f8d6b5-%05d", i), Phase: "Running",
			IP: fmt.Sprintf("127.1.%d.%d", i/250, i%250+1), Ready: true}
	}
	srv.CreateRealisticPods(b, ns, map[string]string{"app": "shoal-ratelimit"}, pods)

	pool := x509.NewCertPool()
	ca, err := os.ReadFile(srv.CAFile)
	if err != nil {
		b.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	var wire atomic.Int64
	dialer := &net.Dialer{}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: c, n: &wire}, nil
		},
	}
	b.Cleanup(tr.CloseIdleConnections)
	k, err := NewKubernetes(KubernetesConfig{
		BaseURL: srv.URL, Token: srv.AdminToken, Namespace: ns, LabelSelector: "app=shoal-ratelimit",
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		b.Fatal(err)
	}
	if got, err := k.Peers(b.Context()); err != nil || len(got) != len(pods) {
		b.Fatalf("warm-up: %d peers, %v", len(got), err)
	}
	code, body, err := srv.Do(b.Context(), http.MethodGet, "/api/v1/namespaces/"+ns+"/pods", "", nil, srv.AdminToken)
	if err != nil || code != http.StatusOK {
		b.Fatalf("list: %d %v", code, err)
	}
	jsonPerPod := float64(len(body)) / float64(len(pods))
	wire.Store(0)
	b.ReportAllocs()
	for b.Loop() {
		got, err := k.Peers(b.Context())
		if err != nil || len(got) != len(pods) {
			b.Fatalf("%d peers, %v", len(got), err)
		}
	}
	b.ReportMetric(float64(wire.Load())/float64(b.N), "wire-B/op")
	b.ReportMetric(jsonPerPod, "json-B/pod")
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}
