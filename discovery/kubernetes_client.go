package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// KubernetesClient is the access to the Kubernetes API server that the
// Kubernetes source is built on: the server's address, the CA, and a bearer
// token read again before each request. On its own it is the GET-only
// client under the swarm compatibility adapter's ClientKubernetes. It is
// safe for concurrent use.
type KubernetesClient struct {
	s      *kubernetesSettings
	client *http.Client
}

// NewKubernetesClient validates cfg (LabelSelector, Port, PageSize and
// InterfaceAddrs aside) and returns a client. It reads the CA bundle but
// makes no request. A bad or missing value returns an error wrapping
// ErrInvalidConfig that names the field.
func NewKubernetesClient(cfg KubernetesConfig) (*KubernetesClient, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	c := &KubernetesClient{s: s, client: s.HTTPClient}
	if c.client == nil {
		t, err := newKubernetesTransport(s.caFile)
		if err != nil {
			return nil, err
		}
		c.client = &http.Client{Transport: t, Timeout: s.RequestTimeout}
	}
	return c, nil
}

func newKubernetesTransport(caFile string) (*http.Transport, error) {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	if caFile == "" {
		return t, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %w", ErrInvalidConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrInvalidConfig, caFile)
	}
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// BaseURL returns the API server's URL, such as "https://10.0.0.1:443".
func (c *KubernetesClient) BaseURL() string { return c.s.baseURL.String() }

// Namespace returns the configured namespace: KubernetesConfig.Namespace,
// else in cluster the pod's own, else "default".
func (c *KubernetesClient) Namespace() string { return c.s.Namespace }

// CloseIdleConnections closes the idle keep-alive connections to the API
// server. The client stays usable; call it when it is no longer needed.
func (c *KubernetesClient) CloseIdleConnections() { c.client.CloseIdleConnections() }

// do sends one GET with the current token.
func (c *KubernetesClient) do(ctx context.Context, target string) (*http.Response, error) {
	token, err := c.s.tokenSource.token()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: GET %s: %w", ErrInvalidConfig, target, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "shoal-discovery")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL goes in front, once
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s: %w", c.s.RequestTimeout, err)
		}
		return nil, fmt.Errorf("%w: kubernetes API at %s: %w", ErrUnreachable, target, err)
	}
	return resp, nil
}

// Get sends one GET to the API server with the current token and returns the
// response whatever its status; the caller reads and closes the body. It is
// what the swarm compatibility adapter's ClientKubernetes needs: its callers
// build their own URLs and decode their own JSON.
//
// target is a path ("/api/v1/namespaces/default/pods?labelSelector=app%3Dx"),
// resolved against BaseURL, or an absolute URL on the API server itself;
// a URL on any other host is refused with ErrInvalidConfig so that the token
// never leaves for it. A 401 is retried once with the token file read
// again. A request that fails without a response returns an error wrapping
// ErrUnreachable.
func (c *KubernetesClient) Get(ctx context.Context, target string) (*http.Response, error) {
	u, err := c.resolve(target)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, u)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized || c.s.tokenSource.file == "" {
		return resp, nil
	}
	// A GET has no body to replay, so the retry is safe.
	resp.Body.Close()
	return c.do(ctx, u)
}

func (c *KubernetesClient) resolve(target string) (string, error) {
	ref, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("%w: Get %q: %w", ErrInvalidConfig, target, err)
	}
	base := c.s.baseURL
	if ref.IsAbs() || ref.Host != "" {
		if ref.Scheme != base.Scheme || ref.Host != base.Host {
			return "", fmt.Errorf("%w: Get %q: not on the API server %s; the token is only sent there", ErrInvalidConfig, target, base.Redacted())
		}
		return ref.String(), nil
	}
	if !strings.HasPrefix(ref.Path, "/") {
		return "", fmt.Errorf("%w: Get %q: want an absolute path or a URL on %s", ErrInvalidConfig, target, base.Redacted())
	}
	u := *base
	u.Path = base.Path + ref.Path
	u.RawPath = ""
	u.RawQuery = ref.RawQuery
	return u.String(), nil
}
