package swarm

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-go/shoal/discovery"
)

// ClientKubernetes is the classic API's GET-only Kubernetes client. In
// cluster it reads the service-account token before every request (bound
// tokens rotate) and trusts the service-account CA.
type ClientKubernetes struct {
	baseURL   string
	tokenFile string
	client    *http.Client
}

// NewClientKubernetes returns a client for the API server at url (out of
// cluster; empty means discovery.DefaultKubernetesURL, where kubectl proxy
// listens) or, with inCluster, at KUBERNETES_SERVICE_HOST/_PORT with the
// pod's service account.
func NewClientKubernetes(inCluster bool, url string) (*ClientKubernetes, error) {
	c := &ClientKubernetes{client: &http.Client{Timeout: 30 * time.Second}}
	if !inCluster {
		if url == "" {
			url = discovery.DefaultKubernetesURL
		}
		c.baseURL = strings.TrimSuffix(url, "/")
		return c, nil
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, fmt.Errorf("%w: in cluster, but KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is not set", ErrInvalidConfig)
	}
	dir := discovery.DefaultServiceAccountDir
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: kubernetes CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("shoal/swarm: kubernetes CA %s holds no PEM certificate", filepath.Join(dir, "ca.crt"))
	}
	c.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	c.baseURL = "https://" + net.JoinHostPort(host, port)
	c.tokenFile = filepath.Join(dir, "token")
	return c, nil
}

// Get fetches url: a full URL, or a path on the API server.
func (c *ClientKubernetes) Get(url string) (*http.Response, error) {
	if strings.HasPrefix(url, "/") {
		url = c.baseURL + url
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("shoal/swarm: kubernetes request: %w", err)
	}
	if c.tokenFile != "" {
		tok, err := os.ReadFile(c.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("shoal/swarm: kubernetes token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	return c.client.Do(req)
}

// Stop closes idle connections.
func (c *ClientKubernetes) Stop() { c.client.CloseIdleConnections() }
