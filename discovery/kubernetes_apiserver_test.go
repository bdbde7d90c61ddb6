package discovery

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/shoal-go/shoal/internal/kubetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKubernetesAPIServer runs the Kubernetes source against a real
// kube-apiserver with RBAC and service account tokens (see
// internal/kubetest; skipped when the binaries are not built). The subtests
// share the server and each owns a namespace.
func TestKubernetesAPIServer(t *testing.T) {
	srv := kubetest.Start(t)
	web := map[string]string{"app": "web", "tier": "edge"}

	t.Run("LabelSelectionAndReadiness", func(t *testing.T) {
		t.Parallel()
		srv.CreateNamespace(t, "selection")
		for _, name := range []string{"web-ready", "web-ready-2", "web-not-ready", "web-terminating", "web-no-ip", "web-pending"} {
			srv.CreatePod(t, "selection", name, web)
		}
		srv.CreatePod(t, "selection", "other-ready", map[string]string{"app": "other"})
		srv.SetPodStatus(t, "selection", "web-ready", "Running", "10.1.0.1", true)
		srv.SetPodStatus(t, "selection", "web-ready-2", "Running", "10.1.0.2", true)
		srv.SetPodStatus(t, "selection", "web-not-ready", "Running", "10.1.0.3", false)
		srv.SetPodStatus(t, "selection", "web-terminating", "Running", "10.1.0.4", true)
		srv.MarkDeleting(t, "selection", "web-terminating")
		srv.SetPodStatus(t, "selection", "web-no-ip", "Running", "", true)
		srv.SetPodStatus(t, "selection", "web-pending", "Pending", "10.1.0.6", false)
		srv.SetPodStatus(t, "selection", "other-ready", "Running", "10.1.0.7", true)

		for _, selector := range []string{"app=web", "app=web,tier in (edge, api)", "app in (web),!canary"} {
			k, err := NewKubernetes(KubernetesConfig{
				BaseURL: srv.URL, CAFile: srv.CAFile, Token: srv.AdminToken,
				Namespace: "selection", LabelSelector: selector,
			})
			require.NoError(t, err)
			got, err := k.Peers(t.Context())
			require.NoError(t, err, selector)
			assert.Equal(t, []Peer{peer("web-ready", "10.1.0.1:9990"), peer("web-ready-2", "10.1.0.2:9990")}, got, selector)
			k.CloseIdleConnections()
		}

		// Self finds a pod that is not Ready yet, by name or by IP.
		for _, env := range []map[string]string{{"POD_NAME": "web-not-ready"}, {"POD_IP": "10.1.0.3"}} {
			k, err := NewKubernetes(KubernetesConfig{
				BaseURL: srv.URL, CAFile: srv.CAFile, Token: srv.AdminToken,
				Namespace: "selection", LabelSelector: "app=web", LookupEnv: srv.LookupEnv(env),
			})
			require.NoError(t, err)
			self, err := k.Self(t.Context())
			require.NoError(t, err, env)
			assert.Equal(t, peer("web-not-ready", "10.1.0.3:9990"), self, env)
		}
		k, err := NewKubernetes(KubernetesConfig{
			BaseURL: srv.URL, CAFile: srv.CAFile, Token: srv.AdminToken,
			Namespace: "selection", LabelSelector: "app=web", LookupEnv: srv.LookupEnv(map[string]string{"POD_NAME": "other-ready"}),
		})
		require.NoError(t, err)
		_, err = k.Self(t.Context())
		require.ErrorIs(t, err, ErrSelfNotFound)
		assert.ErrorContains(t, err, `no pod named POD_NAME="other-ready"`)
	})

	t.Run("ForbiddenWithoutRoleThenPeers", func(t *testing.T) {
		t.Parallel()
		srv.CreateNamespace(t, "rbac")
		srv.CreatePod(t, "rbac", "web-0", web)
		srv.SetPodStatus(t, "rbac", "web-0", "Running", "10.2.0.1", true)
		srv.CreateServiceAccount(t, "rbac", "shoal")
		token := srv.TokenFor(t, "rbac", "shoal")
		k, err := NewKubernetes(KubernetesConfig{
			BaseURL: srv.URL, CAFile: srv.CAFile, Token: token, Namespace: "rbac", LabelSelector: "app=web",
		})
		require.NoError(t, err)
		_, err = k.Peers(t.Context())
		require.ErrorIs(t, err, ErrForbidden)
		msg := err.Error()
		assert.Contains(t, msg, `needs get and list on pods in namespace "rbac"`)
		assert.Contains(t, msg, "kind: Role")
		assert.Contains(t, msg, `User "system:serviceaccount:rbac:shoal" cannot list resource "pods"`)
		t.Logf("the 403 as a user sees it:\n%v", err)

		srv.GrantPodReader(t, "rbac", "shoal")
		// RBAC changes reach the authorizer through an informer; wait for it.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			got, err := k.Peers(t.Context())
			require.NoError(c, err)
			assert.Equal(c, []Peer{peer("web-0", "10.2.0.1:9990")}, got)
		}, eventually, tick)
	})

	t.Run("Pagination", func(t *testing.T) {
		t.Parallel()
		srv.CreateNamespace(t, "pages")
		var want []Peer
		for i := range 12 {
			name := fmt.Sprintf("web-%02d", i)
			srv.CreatePod(t, "pages", name, web)
			srv.SetPodStatus(t, "pages", name, "Running", fmt.Sprintf("10.3.0.%d", i+1), true)
			want = append(want, peer(name, fmt.Sprintf("10.3.0.%d:7946", i+1)))
		}
		counter := &countingTransport{base: tlsTransport(t, srv.CAPEM)}
		k, err := NewKubernetes(KubernetesConfig{
			BaseURL: srv.URL, Token: srv.AdminToken, Namespace: "pages", LabelSelector: "app=web",
			Port: 7946, PageSize: 5, HTTPClient: &http.Client{Transport: counter},
		})
		require.NoError(t, err)
		got, err := k.Peers(t.Context())
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.Equal(t, int64(3), counter.n.Load(), "12 pods in pages of 5")
	})

	t.Run("ExampleManifests", func(t *testing.T) { testExampleManifests(t, srv) })

	t.Run("InClusterTokenRotation", func(t *testing.T) {
		t.Parallel()
		srv.CreateNamespace(t, "rotation")
		srv.CreatePod(t, "rotation", "web-0", web)
		srv.SetPodStatus(t, "rotation", "web-0", "Running", "10.4.0.1", true)
		srv.CreateServiceAccount(t, "rotation", "reader")
		srv.GrantPodReader(t, "rotation", "reader")
		srv.CreateServiceAccount(t, "rotation", "nobody")
		saDir := t.TempDir()
		srv.WriteServiceAccountDir(t, saDir, "rotation", srv.TokenFor(t, "rotation", "nobody"))

		k, err := NewKubernetes(KubernetesConfig{
			InCluster: true, ServiceAccountDir: saDir, LabelSelector: "app=web",
			LookupEnv: srv.LookupEnv(nil),
		})
		require.NoError(t, err)
		assert.Equal(t, srv.URL, k.BaseURL())
		assert.Equal(t, "rotation", k.Namespace(), "namespace from the service account dir")
		_, err = k.Peers(t.Context())
		require.ErrorIs(t, err, ErrForbidden)
		assert.ErrorContains(t, err, "system:serviceaccount:rotation:nobody")

		// The kubelet rotates the token file: the next query uses it.
		srv.WriteServiceAccountDir(t, saDir, "rotation", srv.TokenFor(t, "rotation", "reader"))
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			got, err := k.Peers(t.Context())
			require.NoError(c, err)
			assert.Equal(c, []Peer{peer("web-0", "10.4.0.1:9990")}, got)
		}, eventually, tick)

		resp, err := k.Get(t.Context(), "/api/v1/namespaces/rotation/pods/web-0")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, resp.Body.Close())

		srv.WriteServiceAccountDir(t, saDir, "rotation", "garbage")
		_, err = k.Peers(t.Context())
		require.ErrorIs(t, err, ErrUnauthorized)
		assert.ErrorContains(t, err, "token from file "+filepath.Join(saDir, "token"))
		t.Logf("the 401 as a user sees it:\n%v", err)
	})
}

type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

func tlsTransport(t *testing.T, caPEM []byte) *http.Transport {
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}
