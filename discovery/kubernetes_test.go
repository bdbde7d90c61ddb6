package discovery

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeAPI serves the pods list of one namespace the way the API server does:
// label selection is the caller's business (the test puts in what should
// match), but pagination, the bearer token and failures are real enough to
// exercise every path of the client.
type fakeAPI struct {
	t  testing.TB
	mu sync.Mutex
	// pods served, in order, as raw JSON objects.
	pods []map[string]any
	// token required as "Bearer <token>"; "" accepts anything.
	token string
	// before, when set, may answer a request itself (return true).
	before func(w http.ResponseWriter, r *http.Request, n int) bool
	// requests seen, with their query and Authorization header.
	queries []map[string]string
}

func newFakeAPI(t testing.TB) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	q := map[string]string{"path": r.URL.Path, "auth": r.Header.Get("Authorization")}
	for k := range r.URL.Query() {
		q[k] = r.URL.Query().Get(k)
	}
	f.queries = append(f.queries, q)
	n := len(f.queries)
	before, token, pods := f.before, f.token, f.pods
	f.mu.Unlock()

	if before != nil && before(w, r, n) {
		return
	}
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	if r.URL.Path != "/api/v1/namespaces/ns/pods" {
		writeStatus(w, http.StatusNotFound, "the server could not find the requested resource")
		return
	}
	if r.URL.Query().Has("continue") && r.URL.Query().Has("resourceVersion") {
		// As the real API server: a continued list is pinned by its token.
		writeStatus(w, http.StatusBadRequest, "specifying resource version is not allowed when using continue")
		return
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("continue"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	end := len(pods)
	if limit > 0 && start+limit < end {
		end = start + limit
	}
	list := map[string]any{"kind": "PodList", "apiVersion": "v1", "metadata": map[string]any{}, "items": pods[start:end]}
	if end < len(pods) {
		list["metadata"] = map[string]any{"continue": strconv.Itoa(end)}
	}
	w.Header().Set("Content-Type", "application/json")
	require.NoError(f.t, json.NewEncoder(w).Encode(list))
}

func (f *fakeAPI) requests() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.queries...)
}

func writeStatus(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"code":%d}`, msg, code)
}

type podSpec struct {
	name, phase, ip string
	ready, deleting bool
}

func podJSON(p podSpec) map[string]any {
	meta := map[string]any{"name": p.name, "namespace": "ns", "labels": map[string]any{"app": "shoal"}}
	if p.deleting {
		meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
	}
	st := map[string]any{"phase": p.phase}
	if p.ip != "" {
		st["podIP"] = p.ip
		st["podIPs"] = []any{map[string]any{"ip": p.ip}}
	}
	readyStatus := "False"
	if p.ready {
		readyStatus = "True"
	}
	st["conditions"] = []any{
		map[string]any{"type": "PodScheduled", "status": "True"},
		map[string]any{"type": "Ready", "status": readyStatus},
	}
	return map[string]any{"metadata": meta, "spec": map[string]any{}, "status": st}
}

func running(name, ip string) map[string]any {
	return podJSON(podSpec{name: name, phase: "Running", ip: ip, ready: true})
}

func newTestKubernetes(t *testing.T, srv *httptest.Server, cfg KubernetesConfig) *Kubernetes {
	t.Helper()
	cfg.BaseURL = srv.URL
	if cfg.Namespace == "" {
		cfg.Namespace = "ns"
	}
	if cfg.LabelSelector == "" {
		cfg.LabelSelector = "app=shoal"
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff = time.Millisecond
	}
	k, err := NewKubernetes(cfg)
	require.NoError(t, err)
	t.Cleanup(k.CloseIdleConnections)
	return k
}

func TestKubernetesPeersFiltersServingPods(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.pods = []map[string]any{
		running("web-c", "10.0.0.3"),
		running("web-a", "10.0.0.1"),
		podJSON(podSpec{name: "not-ready", phase: "Running", ip: "10.0.0.4"}),
		podJSON(podSpec{name: "pending", phase: "Pending", ip: "10.0.0.5", ready: true}),
		podJSON(podSpec{name: "no-ip", phase: "Running", ready: true}),
		podJSON(podSpec{name: "terminating", phase: "Running", ip: "10.0.0.6", ready: true, deleting: true}),
		podJSON(podSpec{name: "succeeded", phase: "Succeeded", ip: "10.0.0.7"}),
		running("web-v6", "fd00::8"),
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{Port: 7946, Token: "secret"})
	got, err := k.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{
		peer("web-a", "10.0.0.1:7946"),
		peer("web-c", "10.0.0.3:7946"),
		peer("web-v6", "[fd00::8]:7946"),
	}, got)

	reqs := f.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/api/v1/namespaces/ns/pods", reqs[0]["path"])
	assert.Equal(t, "app=shoal", reqs[0]["labelSelector"])
	assert.Equal(t, "status.phase=Running", reqs[0]["fieldSelector"])
	assert.Equal(t, "500", reqs[0]["limit"])
	assert.Equal(t, "Bearer secret", reqs[0]["auth"])
}

func TestKubernetesPagination(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	var want []Peer
	for i := range 7 {
		name := fmt.Sprintf("p%d", i)
		f.pods = append(f.pods, running(name, fmt.Sprintf("10.0.0.%d", i+1)))
		want = append(want, peer(name, fmt.Sprintf("10.0.0.%d:9990", i+1)))
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{PageSize: 3, LabelSelector: "app in (shoal, web),tier!=db"})
	got, err := k.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, want, got)

	reqs := f.requests()
	require.Len(t, reqs, 3)
	for i, cont := range []string{"", "3", "6"} {
		assert.Equal(t, "3", reqs[i]["limit"])
		assert.Equal(t, cont, reqs[i]["continue"], "page %d", i)
		// No resourceVersion=0: the API server then ignores limit and
		// sends every pod in one response.
		assert.NotContains(t, reqs[i], "resourceVersion", "page %d", i)
		assert.Equal(t, "app in (shoal, web),tier!=db", reqs[i]["labelSelector"])
	}
}

func TestKubernetesExpiredContinueRestartsList(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.pods = []map[string]any{running("a", "10.0.0.1"), running("b", "10.0.0.2"), running("c", "10.0.0.3")}
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 2 { // the first continue request
			writeStatus(w, http.StatusGone, "The provided continue parameter is too old")
			return true
		}
		return false
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{PageSize: 2})
	got, err := k.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{peer("a", "10.0.0.1:9990"), peer("b", "10.0.0.2:9990"), peer("c", "10.0.0.3:9990")}, got, "no duplicates from the abandoned listing")
	var conts []string
	for _, q := range f.requests() {
		conts = append(conts, q["continue"])
	}
	assert.Equal(t, []string{"", "2", "", "2"}, conts)
}

func TestKubernetesRepeatedContinueTokenIsAnError(t *testing.T) {
	t.Parallel()
	_, srv := newFakeAPI(t)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"metadata":{"continue":"same"},"items":[]}`)
	})
	k := newTestKubernetes(t, srv, KubernetesConfig{})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrDiscovery)
	assert.ErrorContains(t, err, "same continue token twice")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Replace atomically, as the kubelet does, so a concurrent reader sees
	// the old or the new token, never half of one.
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func TestKubernetes401NamesTokenFileAndRetriesOnce(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.token = "right"
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "wrong\n")
	k := newTestKubernetes(t, srv, KubernetesConfig{TokenFile: tokenFile})

	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.ErrorContains(t, err, "401")
	assert.ErrorContains(t, err, "token from file "+tokenFile)
	assert.Len(t, f.requests(), 2, "a 401 is retried once, not with the full retry budget")
	assert.Equal(t, "Bearer wrong", f.requests()[0]["auth"], "the token file is trimmed")

	// The kubelet rotates the token: the next call reads the new one.
	writeFile(t, tokenFile, "right")
	f.pods = []map[string]any{running("a", "10.0.0.1")}
	got, err := k.Peers(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []Peer{peer("a", "10.0.0.1:9990")}, got)
}

func TestKubernetes401RetryPicksUpRotatedToken(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "old")
	f.pods = []map[string]any{running("a", "10.0.0.1")}
	f.token = "new"
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 { // the token rotates while the first request is in flight
			writeFile(t, tokenFile, "new")
		}
		return false
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{TokenFile: tokenFile})
	got, err := k.Peers(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 1)
	reqs := f.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "Bearer old", reqs[0]["auth"])
	assert.Equal(t, "Bearer new", reqs[1]["auth"])
}

func TestKubernetes401WithoutToken(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.token = "needed"
	k := newTestKubernetes(t, srv, KubernetesConfig{})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.ErrorContains(t, err, "neither Token nor TokenFile")
	assert.Empty(t, f.requests()[0]["auth"])
	assert.Len(t, f.requests(), 1, "without a token file, a retry could not change anything")
}

func TestKubernetes403NamesTheRBACRule(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeStatus(w, http.StatusForbidden, `pods is forbidden: User "system:serviceaccount:ns:shoal" cannot list resource "pods" in API group "" in the namespace "ns"`)
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{Token: "t"})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrForbidden)
	msg := err.Error()
	assert.Contains(t, msg, `get and list on pods in namespace "ns"`)
	assert.Contains(t, msg, "kind: Role")
	assert.Contains(t, msg, "verbs: [get, list]")
	assert.Contains(t, msg, `User "system:serviceaccount:ns:shoal" cannot list`)
	assert.Len(t, f.requests(), 1, "403 is not retried")
}

func TestKubernetes400IsInvalidConfig(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeStatus(w, http.StatusBadRequest, "unable to parse requirement: found '=', expected: identifier")
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{LabelSelector: "=bad"})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.ErrorContains(t, err, `label selector "=bad"`)
	assert.ErrorContains(t, err, "unable to parse requirement")
}

func TestKubernetes500IsRetried(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.pods = []map[string]any{running("a", "10.0.0.1")}
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		switch n {
		case 1:
			writeStatus(w, http.StatusInternalServerError, "etcdserver: leader changed")
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			return false
		}
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{Retries: 2})
	got, err := k.Peers(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 1)
	assert.Len(t, f.requests(), 3)
}

// TestKubernetes429IsNotRetried: an API server that sheds load with 429
// gets no immediate retry, and the caller learns how long it asked to wait,
// so that an overloaded server sees less traffic, not more.
func TestKubernetes429IsNotRetried(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.pods = []map[string]any{running("a", "10.0.0.1")}
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Retry-After", "3")
		writeStatus(w, http.StatusTooManyRequests, "too many requests, please try again later")
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{Retries: 3})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrThrottled)
	require.ErrorIs(t, err, ErrDiscovery)
	assert.ErrorContains(t, err, "429")
	assert.Len(t, f.requests(), 1, "a 429 is not retried within the call")
	wait, ok := RetryAfter(err)
	require.True(t, ok)
	assert.Equal(t, 3*time.Second, wait)

	// A 503 with Retry-After is retried within the call, and the wait it
	// asked for survives the final error.
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.Header().Set("Retry-After", "1")
		writeStatus(w, http.StatusServiceUnavailable, "overloaded")
		return true
	}
	k = newTestKubernetes(t, srv, KubernetesConfig{Retries: 1, RetryBackoff: time.Millisecond})
	_, err = k.Peers(t.Context())
	require.ErrorIs(t, err, ErrDiscovery)
	assert.NotErrorIs(t, err, ErrThrottled)
	wait, ok = RetryAfter(err)
	require.True(t, ok)
	assert.Equal(t, time.Second, wait)
	_, ok = RetryAfter(ErrDiscovery)
	assert.False(t, ok)
}

func TestKubernetes500GivesUpAfterRetries(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeStatus(w, http.StatusServiceUnavailable, "etcd down")
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{Retries: 3})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrDiscovery)
	assert.ErrorContains(t, err, "503")
	assert.ErrorContains(t, err, "etcd down")
	assert.ErrorContains(t, err, "after 4 attempts")
	assert.Len(t, f.requests(), 4)

	k = newTestKubernetes(t, srv, KubernetesConfig{Retries: NoRetries})
	_, err = k.Peers(t.Context())
	require.ErrorIs(t, err, ErrDiscovery)
	assert.Len(t, f.requests(), 5, "NoRetries makes one attempt")
}

func TestKubernetesRequestTimeout(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		<-r.Context().Done()
		return true
	}
	// 500 ms, not less: the fake counts a request when its handler runs,
	// and a client that gives up sooner may close the connection before
	// a busy server has read the request.
	k := newTestKubernetes(t, srv, KubernetesConfig{RequestTimeout: 500 * time.Millisecond, Retries: 1})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrUnreachable)
	assert.ErrorContains(t, err, srv.URL)
	assert.Len(t, f.requests(), 2)
}

func TestKubernetesContextEndsDuringBackoff(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	// The first attempt fails at once; the hour-long backoff is cut short
	// by the context.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		writeStatus(w, http.StatusInternalServerError, "boom")
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{RetryBackoff: time.Hour, Retries: 5})
	start := time.Now()
	_, err := k.Peers(ctx)
	require.ErrorIs(t, err, ErrUnreachable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Len(t, f.requests(), 1)
	assert.ErrorContains(t, err, "boom", "the last failure is kept in the message")
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestKubernetesMalformedJSON(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		fmt.Fprint(w, `{"items":[{"metadata":`)
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrDiscovery)
	assert.ErrorContains(t, err, "malformed response")
	assert.Len(t, f.requests(), 1, "a malformed body is not retried")

	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		fmt.Fprint(w, `{"items":[{"metadata":{"name":7}}]}`)
		return true
	}
	_, err = k.Peers(t.Context())
	require.ErrorIs(t, err, ErrDiscovery)
}

func TestKubernetesUnexpectedStatus(t *testing.T) {
	t.Parallel()
	f, srv := newFakeAPI(t)
	f.before = func(w http.ResponseWriter, r *http.Request, n int) bool {
		http.Error(w, "teapot", http.StatusTeapot)
		return true
	}
	k := newTestKubernetes(t, srv, KubernetesConfig{})
	_, err := k.Peers(t.Context())
	require.ErrorIs(t, err, ErrDiscovery)
	assert.ErrorContains(t, err, "418")
	assert.ErrorContains(t, err, `"teapot"`)
}

func TestKubernetesUnreachableNamesURL(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	k, err := NewKubernetes(KubernetesConfig{BaseURL: "http://" + addr, LabelSelector: "app=x", Retries: 1, RetryBackoff: time.Millisecond})
	require.NoError(t, err)
	_, err = k.Peers(t.Context())
	require.ErrorIs(t, err, ErrUnreachable)
	assert.ErrorContains(t, err, "http://"+addr+"/api/v1/namespaces/default/pods")
	assert.ErrorContains(t, err, "refused")
}

func TestKubernetesConfigValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, cfg := range map[string]KubernetesConfig{
		"no selector":           {},
		"blank selector":        {LabelSelector: " "},
		"negative page size":    {LabelSelector: "a=b", PageSize: -1},
		"negative retries":      {LabelSelector: "a=b", Retries: -2},
		"negative timeout":      {LabelSelector: "a=b", RequestTimeout: -1},
		"negative backoff":      {LabelSelector: "a=b", RetryBackoff: -1},
		"bad url":               {LabelSelector: "a=b", BaseURL: "localhost:8001"},
		"url with query":        {LabelSelector: "a=b", BaseURL: "http://h/?x=1"},
		"token and file":        {LabelSelector: "a=b", Token: "t", TokenFile: "f"},
		"missing token file":    {LabelSelector: "a=b", TokenFile: filepath.Join(dir, "nope")},
		"missing CA":            {LabelSelector: "a=b", CAFile: filepath.Join(dir, "nope")},
		"bad namespace":         {LabelSelector: "a=b", Namespace: "a/../b"},
		"sa dir out of cluster": {LabelSelector: "a=b", ServiceAccountDir: dir},
		"in cluster, no env": {LabelSelector: "a=b", InCluster: true, ServiceAccountDir: dir,
			LookupEnv: func(string) (string, bool) { return "", false }},
		"in cluster with url": {LabelSelector: "a=b", InCluster: true, BaseURL: "http://h"},
	} {
		_, err := NewKubernetes(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig, name)
	}
	notPEM := filepath.Join(dir, "ca.crt")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	_, err := NewKubernetes(KubernetesConfig{LabelSelector: "a=b", CAFile: notPEM})
	assert.ErrorIs(t, err, ErrInvalidConfig)

	k, err := NewKubernetes(KubernetesConfig{LabelSelector: "a=b"})
	require.NoError(t, err)
	assert.Equal(t, DefaultKubernetesURL, k.BaseURL())
	assert.Equal(t, "default", k.Namespace())
}

func TestKubernetesEmptyListIsEmptySet(t *testing.T) {
	t.Parallel()
	_, srv := newFakeAPI(t)
	k := newTestKubernetes(t, srv, KubernetesConfig{})
	got, err := k.Peers(t.Context())
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.NotNil(t, got)
}

// eventually bounds waits for a condition that another component (the API
// server's RBAC informer) makes true asynchronously; tick is the poll.
const (
	eventually = 30 * time.Second
	tick       = 50 * time.Millisecond
)

// certPEM returns the PEM of a TLS test server's certificate, to trust it.
func certPEM(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}
