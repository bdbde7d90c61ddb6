package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kubernetes is a Discoverer over the pods of one namespace that match a
// label selector, read from the Kubernetes API server's REST API. A pod is a
// peer while it is Running, Ready, has an IP and is not being deleted; its
// Name is the pod name and its address the pod IP with the configured port.
//
// The service account needs get and list on pods in the namespace; see the
// package documentation for a Role. Kubernetes is safe for concurrent use and
// starts no goroutines.
//
// A list costs what the pods weigh: a production pod is 7–11 KB of JSON,
// managedFields included. Against the real kube-apiserver holding 1,000
// such pods (10.7 KB each), one Peers call moved 10.7 MB of JSON, 0.72 MB
// gzipped on the wire, and took 0.76–0.93 s on a 2-core machine running
// other work (BenchmarkKubernetesAPIServer1000Pods); an API server spends
// about 0.1–0.2 s of CPU on it. That is why every member of a fleet must
// not list at a fixed interval: see swarm.Config.DiscoveryFleetRate.
type Kubernetes struct {
	c *KubernetesClient
	s *kubernetesSettings // c.s
}

var _ Discoverer = (*Kubernetes)(nil)

// NewKubernetes validates cfg and returns a Kubernetes source. It reads the
// CA bundle but makes no request. A bad or missing value, an empty
// LabelSelector included, returns an error wrapping ErrInvalidConfig that
// names the field.
func NewKubernetes(cfg KubernetesConfig) (*Kubernetes, error) {
	if strings.TrimSpace(cfg.LabelSelector) == "" {
		return nil, fmt.Errorf("%w: KubernetesConfig.LabelSelector is empty; it would select every pod in the namespace", ErrInvalidConfig)
	}
	c, err := NewKubernetesClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Kubernetes{c: c, s: c.s}, nil
}

// BaseURL returns the API server's URL, such as "https://10.0.0.1:443".
func (k *Kubernetes) BaseURL() string { return k.c.BaseURL() }

// Namespace returns the namespace whose pods are listed.
func (k *Kubernetes) Namespace() string { return k.c.Namespace() }

// CloseIdleConnections closes the idle keep-alive connections to the API
// server. The source stays usable; call it when discovery stops.
func (k *Kubernetes) CloseIdleConnections() { k.c.CloseIdleConnections() }

// Get is KubernetesClient.Get, with this source's server and credentials.
func (k *Kubernetes) Get(ctx context.Context, target string) (*http.Response, error) {
	return k.c.Get(ctx, target)
}

// Peers lists the serving pods, page by page, and returns them sorted by pod
// name. Each page request is retried as KubernetesConfig.Retries says; an
// expired continue token restarts the listing. See Discoverer for the
// contract; errors name the URL and, for 401 and 403, what to fix.
func (k *Kubernetes) Peers(ctx context.Context) ([]Peer, error) {
	pods, err := k.listPods(ctx, true)
	if err != nil {
		return nil, err
	}
	peers := make([]Peer, 0, len(pods))
	for i := range pods {
		p := &pods[i]
		if !p.serving() {
			continue
		}
		ip, _ := p.ip()
		peers = append(peers, Peer{Name: p.Metadata.Name, Addr: netip.AddrPortFrom(ip, k.s.Port)})
	}
	sortPeers(peers)
	return peers, nil
}

// Self returns this instance as a peer. With both POD_NAME and POD_IP set
// (the downward API, see examples/kubernetes) it asks nothing. Otherwise it
// lists the selected pods, in any phase since the instance is usually not
// Ready yet, and finds the one named POD_NAME, the one with IP POD_IP, or
// else the one whose IP is an address of a local interface. When none or
// more than one pod matches, the error wraps ErrSelfNotFound and says which
// variable to set.
func (k *Kubernetes) Self(ctx context.Context) (Peer, error) {
	name, _ := k.s.LookupEnv(podNameEnv)
	rawIP, _ := k.s.LookupEnv(podIPEnv)
	name, rawIP = strings.TrimSpace(name), strings.TrimSpace(rawIP)
	var ip netip.Addr
	if rawIP != "" {
		a, err := netip.ParseAddr(rawIP)
		if err != nil {
			return Peer{}, fmt.Errorf("%w: %s=%q is not an IP address: %w", ErrSelfNotFound, podIPEnv, rawIP, err)
		}
		ip = a.Unmap()
		if name != "" {
			return Peer{Name: name, Addr: netip.AddrPortFrom(ip, k.s.Port)}, nil
		}
	}
	pods, err := k.listPods(ctx, false)
	if err != nil {
		return Peer{}, fmt.Errorf("%w: listing pods to find this one: %w", ErrSelfNotFound, err)
	}
	switch {
	case name != "":
		return k.selfByName(pods, name)
	case ip.IsValid():
		return k.selfByIP(pods, []netip.Addr{ip}, podIPEnv+"="+rawIP)
	}
	local, err := k.localAddrs()
	if err != nil {
		return Peer{}, err
	}
	return k.selfByIP(pods, local, "a local interface address")
}

func (k *Kubernetes) selfByName(pods []pod, name string) (Peer, error) {
	for i := range pods {
		if pods[i].Metadata.Name != name {
			continue
		}
		ip, ok := pods[i].ip()
		if !ok {
			return Peer{}, fmt.Errorf("%w: pod %s/%s has no IP yet; set %s from status.podIP", ErrSelfNotFound, k.s.Namespace, name, podIPEnv)
		}
		return Peer{Name: name, Addr: netip.AddrPortFrom(ip, k.s.Port)}, nil
	}
	return Peer{}, fmt.Errorf("%w: no pod named %s=%q in namespace %q matches selector %q", ErrSelfNotFound, podNameEnv, name, k.s.Namespace, k.s.LabelSelector)
}

func (k *Kubernetes) selfByIP(pods []pod, want []netip.Addr, what string) (Peer, error) {
	var found []Peer
	for i := range pods {
		for _, a := range pods[i].ips() {
			if slices.Contains(want, a) {
				found = append(found, Peer{Name: pods[i].Metadata.Name, Addr: netip.AddrPortFrom(a, k.s.Port)})
				break
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Peer{}, fmt.Errorf("%w: no pod in namespace %q matching selector %q has %s; set %s and %s through the downward API", ErrSelfNotFound, k.s.Namespace, k.s.LabelSelector, what, podNameEnv, podIPEnv)
	default:
		names := make([]string, len(found))
		for i, p := range found {
			names[i] = p.Name
		}
		return Peer{}, fmt.Errorf("%w: pods %s all have %s (host network?); set %s through the downward API", ErrSelfNotFound, strings.Join(names, ", "), what, podNameEnv)
	}
}

func (k *Kubernetes) localAddrs() ([]netip.Addr, error) {
	addrs, err := k.s.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("%w: listing interface addresses: %w", ErrSelfNotFound, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if na, ok := netip.AddrFromSlice(ip); ok && !na.IsLoopback() {
			out = append(out, na.Unmap())
		}
	}
	return out, nil
}

// listPods returns every pod that matches the selector, following continue
// tokens. With runningOnly the server drops pods that are not Running.
func (k *Kubernetes) listPods(ctx context.Context, runningOnly bool) ([]pod, error) {
	u := k.s.baseURL.JoinPath("api", "v1", "namespaces", k.s.Namespace, "pods")
	var (
		all      []pod
		cont     string
		restarts int
	)
	for {
		q := url.Values{}
		q.Set("labelSelector", k.s.LabelSelector)
		q.Set("limit", strconv.Itoa(k.s.PageSize))
		if runningOnly {
			q.Set("fieldSelector", "status.phase=Running")
		}
		if cont != "" {
			q.Set("continue", cont)
		}
		u.RawQuery = q.Encode()
		page, err := k.getPodList(ctx, u.String())
		if errors.Is(err, errListExpired) && restarts < kubernetesMaxListRestarts {
			// The snapshot behind the continue token was compacted away;
			// only a fresh listing is consistent.
			restarts++
			all, cont = all[:0], ""
			continue
		}
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		next := page.Metadata.Continue
		if next == "" {
			return all, nil
		}
		if next == cont {
			return nil, fmt.Errorf("%w: GET %s: the server returned the same continue token twice", ErrDiscovery, u.Redacted())
		}
		cont = next
	}
}

// errListExpired marks HTTP 410 Gone on a paginated list.
var errListExpired = fmt.Errorf("%w: continue token expired (410 Gone)", ErrDiscovery)

// getPodList GETs one page of pods, retrying transient failures with
// backoff, and a 401 once at once when the token comes from a file, which
// is read again.
func (k *Kubernetes) getPodList(ctx context.Context, target string) (podList, error) {
	var (
		lastErr   error
		retried   bool // a 401 was retried
		retryWait time.Duration
		lastWait  time.Duration // the last Retry-After the server sent
	)
	attempts := k.s.retries + 1
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 && retryWait > 0 {
			if err := sleepCtx(ctx, retryWait); err != nil {
				return podList{}, fmt.Errorf("%w: GET %s: %w (after %d attempts, last: %v)", ErrUnreachable, target, err, attempt, lastErr)
			}
		}
		page, retry, wait, err := k.attempt(ctx, target)
		if err == nil {
			return page, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return podList{}, fmt.Errorf("%w: GET %s: %w (after %d attempts, last: %v)", ErrUnreachable, target, ctx.Err(), attempt+1, lastErr)
		}
		if errors.Is(err, ErrUnauthorized) && !retried && k.s.tokenSource.file != "" {
			// A bound token may have been rotated between our read and the
			// server's check; one immediate retry reads the file again.
			retried = true
			attempts++
			retryWait = 0
			continue
		}
		if !retry {
			return podList{}, withRetryAfter(err, wait)
		}
		lastWait = wait
		retryWait = max(wait, k.backoff(attempt))
	}
	if attempts > 1 {
		return podList{}, withRetryAfter(fmt.Errorf("%w (gave up after %d attempts)", lastErr, attempts), lastWait)
	}
	return podList{}, withRetryAfter(lastErr, lastWait)
}

// withRetryAfter attaches a server's Retry-After to err, for RetryAfter.
func withRetryAfter(err error, wait time.Duration) error {
	if wait <= 0 {
		return err
	}
	return &retryAfterError{err: err, wait: wait}
}

// backoff returns the wait before retry n+1: RetryBackoff doubled per
// attempt, capped, with jitter so that many instances do not retry in step.
func (k *Kubernetes) backoff(n int) time.Duration {
	d := k.s.RetryBackoff << min(n, 16)
	d = min(d, maxKubernetesBackoff)
	return d/2 + rand.N(d/2+1)
}

// attempt makes one request, decoding into a fresh page so that nothing of
// a failed attempt survives. It reports whether a failure is worth retrying
// and how long the server asked to wait.
func (k *Kubernetes) attempt(ctx context.Context, target string) (page podList, retry bool, wait time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, k.s.RequestTimeout)
	defer cancel()
	resp, err := k.c.do(ctx, target)
	if err != nil {
		return page, !errors.Is(err, ErrUnauthorized), 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		retry, wait, err = k.statusError(resp, target)
		return page, retry, wait, err
	}
	lr := &countingReader{r: io.LimitReader(resp.Body, maxKubernetesResponseBytes+1)}
	if err := json.NewDecoder(lr).Decode(&page); err != nil {
		switch {
		case ctx.Err() != nil || isNetError(err):
			return podList{}, true, 0, fmt.Errorf("%w: GET %s: reading the response: %w", ErrUnreachable, target, err)
		case lr.n > maxKubernetesResponseBytes:
			return podList{}, false, 0, fmt.Errorf("%w: GET %s: response larger than %d bytes; lower KubernetesConfig.PageSize", ErrDiscovery, target, maxKubernetesResponseBytes)
		default:
			return podList{}, false, 0, fmt.Errorf("%w: GET %s: malformed response: %w", ErrDiscovery, target, err)
		}
	}
	return page, false, 0, nil
}

// statusError turns a non-200 response into an error a person can act on.
func (k *Kubernetes) statusError(resp *http.Response, target string) (retry bool, wait time.Duration, err error) {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxKubernetesErrorBodyBytes))
	said := serverSaid(b)
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		return false, 0, fmt.Errorf("%w: GET %s: the API server rejected %s (401 Unauthorized): the token is missing, expired, or not from this cluster%s",
			ErrUnauthorized, target, k.s.tokenSource.describe(), said)
	case code == http.StatusForbidden:
		return false, 0, fmt.Errorf("%w: GET %s: 403 Forbidden: the identity behind %s needs get and list on pods in namespace %q; grant it with a Role and RoleBinding such as\n%s%s",
			ErrForbidden, target, k.s.tokenSource.describe(), k.s.Namespace, roleHint(k.s.Namespace), said)
	case code == http.StatusBadRequest:
		return false, 0, fmt.Errorf("%w: GET %s: 400 Bad Request (is the label selector %q valid?)%s", ErrInvalidConfig, target, k.s.LabelSelector, said)
	case code == http.StatusNotFound:
		return false, 0, fmt.Errorf("%w: GET %s: 404 Not Found: is %s a Kubernetes API server?%s", ErrDiscovery, target, k.s.baseURL.Redacted(), said)
	case code == http.StatusGone:
		return false, 0, fmt.Errorf("%w%s", errListExpired, said)
	case code == http.StatusTooManyRequests:
		// Not retried within this call: the caller's next round comes
		// after the server's Retry-After (see RetryAfter).
		return false, retryAfter(resp), fmt.Errorf("%w: %w: GET %s: %s%s", ErrDiscovery, ErrThrottled, target, resp.Status, said)
	case code >= 500:
		return true, retryAfter(resp), fmt.Errorf("%w: GET %s: %s%s", ErrDiscovery, target, resp.Status, said)
	default:
		return false, 0, fmt.Errorf("%w: GET %s: unexpected %s%s", ErrDiscovery, target, resp.Status, said)
	}
}

// serverSaid quotes the message of a Status body, or a short plain body.
func serverSaid(b []byte) string {
	var st status
	if json.Unmarshal(b, &st) == nil && st.Message != "" {
		return "; server said: " + st.Message
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "; server said: " + strconv.Quote(s)
}

func roleHint(namespace string) string {
	return `  apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata: {name: shoal-discovery, namespace: ` + namespace + `}
  rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
plus a RoleBinding of that Role to the pod's ServiceAccount (see examples/kubernetes/rbac.yaml)`
}

// retryAfter reads a Retry-After header in seconds; the caller caps it.
func retryAfter(resp *http.Response) time.Duration {
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs <= 0 {
		return 0
	}
	return min(time.Duration(secs)*time.Second, maxKubernetesBackoff)
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
