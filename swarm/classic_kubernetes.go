package swarm

import (
	"context"
	"fmt"
	"net/http"

	"github.com/shoal-go/shoal/discovery"
)

// ClientKubernetes is the classic API's GET-only Kubernetes client, a thin
// shell over discovery.KubernetesClient: in cluster it reads the
// service-account token before every request (bound tokens rotate) and
// trusts the service-account CA; it sends the token only to the API server.
type ClientKubernetes struct {
	c *discovery.KubernetesClient
}

// NewClientKubernetes returns a client for the API server at url (out of
// cluster; empty means discovery.DefaultKubernetesURL, where kubectl proxy
// listens) or, with inCluster, at KUBERNETES_SERVICE_HOST/_PORT with the
// pod's service account (url is then ignored, as it was by the
// predecessor).
func NewClientKubernetes(inCluster bool, url string) (*ClientKubernetes, error) {
	cfg := discovery.KubernetesConfig{InCluster: inCluster}
	if !inCluster {
		cfg.BaseURL = url
	}
	c, err := discovery.NewKubernetesClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: kubernetes client: %w", err)
	}
	return &ClientKubernetes{c: c}, nil
}

// Get fetches url: a path, or a full URL on the API server's host.
func (c *ClientKubernetes) Get(url string) (*http.Response, error) {
	return c.c.Get(context.Background(), url)
}

// Stop closes idle connections.
func (c *ClientKubernetes) Stop() { c.c.CloseIdleConnections() }
