package discovery

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-go/shoal/internal/kubetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleSelector is the label selector the example's pods are found by.
const exampleSelector = "app.kubernetes.io/name=shoal-ratelimit,app.kubernetes.io/instance=shoal-ratelimit"

// testExampleManifests applies examples/kubernetes as they are to a real API
// server, in a namespace that enforces the Pod Security "restricted"
// level: the API server must admit them, and the pods their Deployment
// makes, while it refuses a pod that drops the security context (so the
// check can fail). It then checks that the ServiceAccount they create may
// list the pods the Deployment labels. There is no controller-manager, so
// the test creates the Deployment's pods itself, from its template. It
// runs under TestKubernetesAPIServer.
func testExampleManifests(t *testing.T, srv *kubetest.Server) {
	t.Parallel()
	const ns = "manifests"
	srv.CreateNamespaceWithLabels(t, ns, map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	})
	var kinds []string
	for _, f := range []string{"rbac.yaml", "service.yaml", "pdb.yaml", "networkpolicy.yaml", "deployment.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "examples", "kubernetes", f))
		require.NoError(t, err)
		kinds = append(kinds, srv.Apply(t, ns, b)...)
	}
	assert.Equal(t, []string{"ServiceAccount", "Role", "RoleBinding", "Service", "Service",
		"PodDisruptionBudget", "NetworkPolicy", "Deployment"}, kinds)

	pods := "/api/v1/namespaces/" + ns + "/pods"
	// A pod without the restricted security context is refused: the
	// namespace really enforces the level.
	bad := srv.PodFromDeployment(t, ns, "shoal-ratelimit", "shoal-ratelimit-unrestricted")
	spec := bad["spec"].(map[string]any)
	delete(spec, "securityContext")
	for _, c := range spec["containers"].([]any) {
		delete(c.(map[string]any), "securityContext")
	}
	code, body := srv.TryCreate(t, pods, bad)
	require.Equal(t, http.StatusForbidden, code, "a pod without a security context must be refused: %s", body)
	assert.Contains(t, string(body), "violates PodSecurity")

	var want []Peer
	for i := range 3 {
		name := fmt.Sprintf("shoal-ratelimit-%d", i)
		code, body := srv.TryCreate(t, pods, srv.PodFromDeployment(t, ns, "shoal-ratelimit", name))
		require.Equal(t, http.StatusCreated, code, "the Deployment's pod must be admitted under restricted: %s", body)
		srv.SetPodStatus(t, ns, name, "Running", fmt.Sprintf("10.5.0.%d", i+1), true)
		want = append(want, peer(name, fmt.Sprintf("10.5.0.%d:9990", i+1)))
	}
	saDir := t.TempDir()
	srv.WriteServiceAccountDir(t, saDir, ns, srv.TokenFor(t, ns, "shoal-ratelimit"))
	k, err := NewKubernetes(KubernetesConfig{
		InCluster: true, ServiceAccountDir: saDir, LabelSelector: exampleSelector,
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
