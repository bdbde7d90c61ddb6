package discovery

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of KubernetesConfig, applied where a field is zero.
const (
	DefaultKubernetesURL       = "http://localhost:8001" // as `kubectl proxy` serves
	DefaultServiceAccountDir   = "/var/run/secrets/kubernetes.io/serviceaccount"
	DefaultKubernetesNamespace = "default"
	DefaultKubernetesPageSize  = 500
	DefaultKubernetesRetries   = 3
	DefaultKubernetesTimeout   = 5 * time.Second
	DefaultKubernetesBackoff   = 200 * time.Millisecond
)

const (
	// maxKubernetesBackoff caps one wait between retries, including a
	// server's Retry-After.
	maxKubernetesBackoff = 5 * time.Second
	// maxKubernetesResponseBytes bounds one page; 500 real pods, with
	// their managedFields, take a few MB.
	maxKubernetesResponseBytes  = 64 << 20
	maxKubernetesErrorBodyBytes = 64 << 10
	// kubernetesMaxListRestarts bounds restarts after an expired continue
	// token (410 Gone), which only a very busy namespace causes.
	kubernetesMaxListRestarts = 3

	kubernetesServiceHostEnv    = "KUBERNETES_SERVICE_HOST"
	kubernetesServicePortEnv    = "KUBERNETES_SERVICE_PORT"
	podNameEnv                  = "POD_NAME"
	podIPEnv                    = "POD_IP"
	serviceAccountTokenFileName = "token"
	serviceAccountCAFileName    = "ca.crt"
	serviceAccountNamespaceFile = "namespace"
)

// KubernetesConfig configures a Kubernetes source, or a KubernetesClient
// (which ignores LabelSelector, Port, PageSize and InterfaceAddrs). Zero
// fields take the defaults above; NewKubernetes requires LabelSelector.
type KubernetesConfig struct {
	// InCluster reads the API server address from the environment
	// (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT) and the
	// credentials from ServiceAccountDir, as a pod does. BaseURL, Token,
	// TokenFile and CAFile must then be empty.
	InCluster bool
	// BaseURL is the API server out of cluster. Default
	// DefaultKubernetesURL, where `kubectl proxy` listens and adds the
	// credentials itself.
	BaseURL string
	// Namespace whose pods are listed. Default: in cluster the pod's own
	// namespace (ServiceAccountDir/namespace), else "default".
	Namespace string
	// LabelSelector selects the service's pods, either a classic
	// "key=value" pair or any selector the API accepts
	// ("app=shoal,tier in (edge,api)"). Required by NewKubernetes: an
	// empty selector would join every pod of the namespace.
	LabelSelector string
	// Port is the gossip port of every pod. Default DefaultPort.
	Port uint16

	// ServiceAccountDir holds token, ca.crt and namespace in cluster.
	// Default DefaultServiceAccountDir.
	ServiceAccountDir string
	// TokenFile (out of cluster) is read before every request, so a
	// rotated token is picked up. Token is a fixed bearer token. At most
	// one of them may be set; with neither, requests carry no token.
	TokenFile, Token string
	// CAFile (out of cluster) is a PEM bundle to verify the API server
	// with instead of the system roots.
	CAFile string

	// RequestTimeout bounds one HTTP attempt. Default
	// DefaultKubernetesTimeout.
	RequestTimeout time.Duration
	// PageSize is the number of pods asked for per page (limit/continue).
	// Default DefaultKubernetesPageSize.
	PageSize int
	// Retries is how many times a failed attempt (network error, timeout,
	// HTTP 429 or 5xx) is retried, with exponential backoff starting at
	// RetryBackoff. Default DefaultKubernetesRetries; set NoRetries for
	// none.
	Retries      int
	RetryBackoff time.Duration

	// HTTPClient makes the requests. Default: a client of its own whose
	// TLS config trusts the configured CA. A client given here is used as
	// it is, and must trust the API server itself.
	HTTPClient *http.Client
	// LookupEnv reads the environment. Default os.LookupEnv.
	LookupEnv func(key string) (string, bool)
	// InterfaceAddrs lists the local addresses for Self. Default
	// net.InterfaceAddrs.
	InterfaceAddrs func() ([]net.Addr, error)
}

// NoRetries as KubernetesConfig.Retries disables retries (zero means the
// default).
const NoRetries = -1

// kubernetesSettings is a validated KubernetesConfig with every default
// resolved.
type kubernetesSettings struct {
	KubernetesConfig
	baseURL     *url.URL
	tokenSource tokenSource
	caFile      string // "" for system roots
	retries     int
}

func (cfg KubernetesConfig) settings() (*kubernetesSettings, error) {
	s := &kubernetesSettings{KubernetesConfig: cfg}
	if s.LookupEnv == nil {
		s.LookupEnv = os.LookupEnv
	}
	if s.InterfaceAddrs == nil {
		s.InterfaceAddrs = net.InterfaceAddrs
	}
	s.LabelSelector = strings.TrimSpace(s.LabelSelector)
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	switch {
	case s.PageSize < 0:
		return nil, fmt.Errorf("%w: KubernetesConfig.PageSize is negative (%d)", ErrInvalidConfig, s.PageSize)
	case s.PageSize == 0:
		s.PageSize = DefaultKubernetesPageSize
	}
	switch {
	case s.Retries == NoRetries:
		s.retries = 0
	case s.Retries < 0:
		return nil, fmt.Errorf("%w: KubernetesConfig.Retries is %d; use NoRetries (-1) for none", ErrInvalidConfig, s.Retries)
	case s.Retries == 0:
		s.retries = DefaultKubernetesRetries
	default:
		s.retries = s.Retries
	}
	switch {
	case s.RetryBackoff < 0:
		return nil, fmt.Errorf("%w: KubernetesConfig.RetryBackoff is negative (%s)", ErrInvalidConfig, s.RetryBackoff)
	case s.RetryBackoff == 0:
		s.RetryBackoff = DefaultKubernetesBackoff
	}
	switch {
	case s.RequestTimeout < 0:
		return nil, fmt.Errorf("%w: KubernetesConfig.RequestTimeout is negative (%s)", ErrInvalidConfig, s.RequestTimeout)
	case s.RequestTimeout == 0:
		s.RequestTimeout = DefaultKubernetesTimeout
	}
	if s.InCluster {
		if err := s.inCluster(); err != nil {
			return nil, err
		}
	} else if err := s.outOfCluster(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *kubernetesSettings) inCluster() error {
	if s.BaseURL != "" || s.Token != "" || s.TokenFile != "" || s.CAFile != "" {
		return fmt.Errorf("%w: KubernetesConfig.InCluster takes the API server and credentials from the pod; leave BaseURL, Token, TokenFile and CAFile empty", ErrInvalidConfig)
	}
	host, _ := s.LookupEnv(kubernetesServiceHostEnv)
	port, _ := s.LookupEnv(kubernetesServicePortEnv)
	if host == "" || port == "" {
		return fmt.Errorf("%w: in cluster, but %s or %s is not set; is this process running in a pod?", ErrInvalidConfig, kubernetesServiceHostEnv, kubernetesServicePortEnv)
	}
	s.baseURL = &url.URL{Scheme: "https", Host: net.JoinHostPort(host, port)}
	if s.ServiceAccountDir == "" {
		s.ServiceAccountDir = DefaultServiceAccountDir
	}
	tokenFile := filepath.Join(s.ServiceAccountDir, serviceAccountTokenFileName)
	if _, err := os.Stat(tokenFile); err != nil {
		return fmt.Errorf("%w: in cluster, but the service account token is missing (is automountServiceAccountToken false?): %w", ErrInvalidConfig, err)
	}
	s.tokenSource = tokenSource{file: tokenFile}
	s.caFile = filepath.Join(s.ServiceAccountDir, serviceAccountCAFileName)
	if s.Namespace == "" {
		b, err := os.ReadFile(filepath.Join(s.ServiceAccountDir, serviceAccountNamespaceFile))
		if err != nil {
			return fmt.Errorf("%w: KubernetesConfig.Namespace is empty and the pod's namespace is unknown: %w", ErrInvalidConfig, err)
		}
		s.Namespace = strings.TrimSpace(string(b))
	}
	return s.checkNamespace()
}

func (s *kubernetesSettings) outOfCluster() error {
	if s.ServiceAccountDir != "" {
		return fmt.Errorf("%w: KubernetesConfig.ServiceAccountDir is only read in cluster; use TokenFile and CAFile out of cluster", ErrInvalidConfig)
	}
	raw := s.BaseURL
	if raw == "" {
		raw = DefaultKubernetesURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: KubernetesConfig.BaseURL %q: %w", ErrInvalidConfig, raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: KubernetesConfig.BaseURL %q is not an http(s)://host[:port][/path] URL", ErrInvalidConfig, raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	s.baseURL = u
	if s.Token != "" && s.TokenFile != "" {
		return fmt.Errorf("%w: set KubernetesConfig.Token or TokenFile, not both", ErrInvalidConfig)
	}
	s.tokenSource = tokenSource{file: s.TokenFile, static: s.Token}
	if s.TokenFile != "" {
		if _, err := os.Stat(s.TokenFile); err != nil {
			return fmt.Errorf("%w: KubernetesConfig.TokenFile: %w", ErrInvalidConfig, err)
		}
	}
	s.caFile = s.CAFile
	if s.Namespace == "" {
		s.Namespace = DefaultKubernetesNamespace
	}
	return s.checkNamespace()
}

// checkNamespace rejects what cannot be a namespace (a DNS-1123 label), so
// that the name is safe to put in a URL path.
func (s *kubernetesSettings) checkNamespace() error {
	ns := s.Namespace
	ok := len(ns) > 0 && len(ns) <= 63 && ns[0] != '-' && ns[len(ns)-1] != '-'
	for i := 0; ok && i < len(ns); i++ {
		c := ns[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: namespace %q is not a DNS-1123 label", ErrInvalidConfig, ns)
	}
	return nil
}
