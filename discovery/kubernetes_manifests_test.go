package discovery

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-go/shoal/internal/kubetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testExampleManifests applies examples/kubernetes as they are to a real API
// server, then checks that the ServiceAccount they create may list the pods
// the Deployment labels. There is no controller-manager, so the test creates
// the Deployment's pods itself. It runs under TestKubernetesAPIServer.
func testExampleManifests(t *testing.T, srv *kubetest.Server) {
	t.Parallel()
	const ns = "manifests"
	srv.CreateNamespace(t, ns)
	var kinds []string
	for _, f := range []string{"rbac.yaml", "service.yaml", "deployment.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "kubernetes", f))
		require.NoError(t, err)
		kinds = append(kinds, srv.Apply(t, ns, b)...)
	}
	assert.Equal(t, []string{"ServiceAccount", "Role", "RoleBinding", "Service", "Deployment"}, kinds)

	var want []Peer
	for i := range 3 {
		name := fmt.Sprintf("shoal-ratelimit-%d", i)
		srv.CreatePod(t, ns, name, map[string]string{"app": "shoal-ratelimit"})
		srv.SetPodStatus(t, ns, name, "Running", fmt.Sprintf("10.5.0.%d", i+1), true)
		want = append(want, peer(name, fmt.Sprintf("10.5.0.%d:9990", i+1)))
	}
	saDir := t.TempDir()
	srv.WriteServiceAccountDir(t, saDir, ns, srv.TokenFor(t, ns, "shoal-ratelimit"))
	k, err := NewKubernetes(KubernetesConfig{
		InCluster: true, ServiceAccountDir: saDir, LabelSelector: "app=shoal-ratelimit",
		LookupEnv: srv.LookupEnv(nil),
	})
	require.NoError(t, err)
	t.Cleanup(k.CloseIdleConnections)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, err := k.Peers(t.Context())
		require.NoError(c, err)
		assert.Equal(c, want, got)
	}, eventually, tick)
}
