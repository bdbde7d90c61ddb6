package discovery

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKubernetesGet(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.pods = []map[string]any{running("web-0", "10.0.0.1")}
	f.token = "right"
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "right")
	k := newTestKubernetes(t, srv, KubernetesConfig{TokenFile: tokenFile})

	for _, target := range []string{"/api/v1/namespaces/ns/pods?labelSelector=app%3Dweb", srv.URL + "/api/v1/namespaces/ns/pods"} {
		resp, err := k.Get(t.Context(), target)
		require.NoError(t, err, target)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, resp.Body.Close())
	}
	reqs := f.requests()
	assert.Equal(t, "app=web", reqs[0]["labelSelector"])
	assert.Equal(t, "Bearer right", reqs[1]["auth"])

	// Other statuses are the caller's to read.
	resp, err := k.Get(t.Context(), "/api/v1/nodes")
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NoError(t, resp.Body.Close())

	// A 401 is retried once with the token file read again.
	writeFile(t, tokenFile, "stale")
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeFile(t, tokenFile, "right")
		return false
	}
	resp, err = k.Get(t.Context(), "/api/v1/namespaces/ns/pods")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())

	for _, bad := range []string{"http://evil.example/api", "https://" + srv.Listener.Addr().String() + "/api", "relative/path", "%zz"} {
		_, err := k.Get(t.Context(), bad)
		assert.ErrorIs(t, err, ErrInvalidConfig, bad)
	}
}

func TestKubernetesClientNeedsNoSelector(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	c, err := NewKubernetesClient(KubernetesConfig{BaseURL: srv.URL + "/", Token: "t", Namespace: "ns"})
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	assert.Equal(t, srv.URL, c.BaseURL(), "a trailing slash is dropped")
	assert.Equal(t, "ns", c.Namespace())
	resp, err := c.Get(t.Context(), "/api/v1/namespaces/ns/pods")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, "Bearer t", f.requests()[0]["auth"])

	_, err = NewKubernetesClient(KubernetesConfig{BaseURL: "ftp://x"})
	assert.ErrorIs(t, err, ErrInvalidConfig)
}
