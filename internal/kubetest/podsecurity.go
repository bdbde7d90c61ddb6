package kubetest

import (
	"context"
	"maps"
	"net/http"
	"testing"
	"time"
)

// CreateNamespaceWithLabels creates namespace ns with labels (for example
// pod-security.kubernetes.io/enforce=restricted) and its ServiceAccount
// "default".
func (s *Server) CreateNamespaceWithLabels(t testing.TB, ns string, labels map[string]string) {
	t.Helper()
	s.Create(t, "/api/v1/namespaces", obj{"apiVersion": "v1", "kind": "Namespace",
		"metadata": obj{"name": ns, "labels": maps.Clone(labels)}})
	s.CreateServiceAccount(t, ns, "default")
}

// PodFromDeployment reads Deployment deployment in ns and returns the pod
// its ReplicaSet would create, named name and bound to the fictitious
// node: what admission (Pod Security included) judges. There is no
// controller-manager here, so tests create it themselves, with TryCreate.
func (s *Server) PodFromDeployment(t testing.TB, ns, deployment, name string) map[string]any {
	t.Helper()
	var d struct {
		Spec struct {
			Template struct {
				Metadata map[string]any `json:"metadata"`
				Spec     map[string]any `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	s.admin(t, http.MethodGet, "/apis/apps/v1/namespaces/"+ns+"/deployments/"+deployment, "", nil, &d)
	meta := d.Spec.Template.Metadata
	if meta == nil {
		meta = obj{}
	}
	meta["name"] = name
	spec := d.Spec.Template.Spec
	spec["nodeName"] = nodeName
	return obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
}

// TryCreate POSTs object to path as the admin and returns the status code
// and body without judging them: for requests that admission may refuse.
func (s *Server) TryCreate(t testing.TB, path string, object any) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, b, err := s.Do(ctx, http.MethodPost, path, "", object, s.AdminToken)
	if err != nil {
		t.Fatalf("kubetest: POST %s: %v", path, err)
	}
	return code, b
}
