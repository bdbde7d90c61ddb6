package kubetest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestServer checks that the helpers leave the objects the way discovery
// expects to find them, straight through the API.
func TestServer(t *testing.T) {
	s := Start(t)
	s.CreateNamespace(t, "ns")
	s.CreatePod(t, "ns", "web-0", map[string]string{"app": "web"})
	s.SetPodStatus(t, "ns", "web-0", "Running", "10.1.2.3", true)

	var p struct {
		Metadata struct {
			Labels            map[string]string `json:"labels"`
			DeletionTimestamp *string           `json:"deletionTimestamp"`
		} `json:"metadata"`
		Status struct {
			Phase      string `json:"phase"`
			PodIP      string `json:"podIP"`
			Conditions []struct{ Type, Status string }
		} `json:"status"`
	}
	get := func() {
		t.Helper()
		s.admin(t, http.MethodGet, "/api/v1/namespaces/ns/pods/web-0", "", nil, &p)
	}
	get()
	if p.Status.Phase != "Running" || p.Status.PodIP != "10.1.2.3" || p.Metadata.Labels["app"] != "web" {
		t.Fatalf("pod after SetPodStatus: %+v", p)
	}
	ready := false
	for _, c := range p.Status.Conditions {
		ready = ready || c.Type == "Ready" && c.Status == "True"
	}
	if !ready {
		t.Fatalf("pod is not Ready: %+v", p.Status.Conditions)
	}

	s.MarkDeleting(t, "ns", "web-0")
	get()
	if p.Metadata.DeletionTimestamp == nil {
		t.Fatal("MarkDeleting left no deletionTimestamp")
	}
	s.DeletePod(t, "ns", "web-0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, body, err := s.Do(ctx, http.MethodGet, "/api/v1/namespaces/ns/pods/web-0", "", nil, s.AdminToken)
	if err != nil || code != http.StatusNotFound {
		t.Fatalf("after DeletePod: %d %s %v", code, body, err)
	}

	// A service account token authenticates, and RBAC decides.
	s.CreateServiceAccount(t, "ns", "reader")
	token := s.TokenFor(t, "ns", "reader")
	code, _, err = s.Do(ctx, http.MethodGet, "/api/v1/namespaces/ns/pods", "", nil, token)
	if err != nil || code != http.StatusForbidden {
		t.Fatalf("without a Role: %d %v, want 403", code, err)
	}
	s.GrantPodReader(t, "ns", "reader")
	code, body, err = s.Do(ctx, http.MethodGet, "/api/v1/namespaces/ns/pods", "", nil, token)
	if err != nil || code != http.StatusOK {
		t.Fatalf("with a Role: %d %s %v, want 200", code, body, err)
	}
	var list struct{ Kind string }
	if err := json.Unmarshal(body, &list); err != nil || list.Kind != "PodList" {
		t.Fatalf("list: %q %v", list.Kind, err)
	}
	code, _, err = s.Do(ctx, http.MethodGet, "/api/v1/namespaces/ns/pods", "", nil, "not-a-token")
	if err != nil || code != http.StatusUnauthorized {
		t.Fatalf("bad token: %d %v, want 401", code, err)
	}

	kinds := s.Apply(t, "ns", []byte("# a comment-only document\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n---\n"))
	if len(kinds) != 1 || kinds[0] != "ConfigMap" {
		t.Fatalf("Apply created %v, want [ConfigMap]", kinds)
	}
	var cm struct{ Data map[string]string }
	s.admin(t, http.MethodGet, "/api/v1/namespaces/ns/configmaps/cm", "", nil, &cm)
	if cm.Data["k"] != "v" {
		t.Fatalf("applied ConfigMap data = %v", cm.Data)
	}

	dir := t.TempDir()
	s.WriteServiceAccountDir(t, dir, "ns", token)
	if b, err := os.ReadFile(dir + "/namespace"); err != nil || string(b) != "ns" {
		t.Fatalf("namespace file: %q %v", b, err)
	}
	host, ok := s.LookupEnv(nil)("KUBERNETES_SERVICE_HOST")
	if !ok || host != "127.0.0.1" {
		t.Fatalf("LookupEnv host = %q %v", host, ok)
	}
}

func TestBinDirFromEnv(t *testing.T) {
	t.Setenv(BinDirEnv, "/some/where")
	if got := BinDir(); got != "/some/where" {
		t.Fatalf("BinDir() = %q", got)
	}
	t.Setenv(BinDirEnv, "")
	t.Setenv("XDG_CACHE_HOME", "/cache")
	if got, want := BinDir(), "/cache/shoal/kube-v1.37.2-etcd-v3.7.3"; got != want {
		t.Fatalf("BinDir() = %q, want %q", got, want)
	}
}

func TestStartSkipsWithoutBinaries(t *testing.T) {
	if os.Getenv(RequireEnv) == "1" {
		t.Skip("with " + RequireEnv + "=1 a missing binary fails instead")
	}
	t.Setenv(BinDirEnv, t.TempDir())
	var skipped bool
	rec := &skipRecorder{TB: t, skipped: &skipped}
	func() {
		defer func() { _ = recover() }()
		Start(rec)
	}()
	if !skipped {
		t.Fatal("Start did not skip without binaries")
	}
}

// skipRecorder notes a Skip and stops Start by panicking, where a real Skip
// would end the goroutine.
type skipRecorder struct {
	testing.TB
	skipped *bool
}

func (r *skipRecorder) Skip(args ...any) {
	*r.skipped = true
	r.Log(args...)
	panic("skipped")
}
