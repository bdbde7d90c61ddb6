package kubetest

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"testing"
)

// resourcePaths maps the kinds Apply knows to their namespaced collection.
var resourcePaths = map[string]string{
	"ServiceAccount": "/api/v1/namespaces/%s/serviceaccounts",
	"ConfigMap":      "/api/v1/namespaces/%s/configmaps",
	"Secret":         "/api/v1/namespaces/%s/secrets",
	"Service":        "/api/v1/namespaces/%s/services",
	"Pod":            "/api/v1/namespaces/%s/pods",
	"Role":           "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles",
	"RoleBinding":    "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings",
	"Deployment":     "/apis/apps/v1/namespaces/%s/deployments",
	"StatefulSet":    "/apis/apps/v1/namespaces/%s/statefulsets",
	// The production manifests' disruption budget and network policy.
	"PodDisruptionBudget": "/apis/policy/v1/namespaces/%s/poddisruptionbudgets",
	"NetworkPolicy":       "/apis/networking.k8s.io/v1/namespaces/%s/networkpolicies",
}

var (
	kindLine     = regexp.MustCompile(`(?m)^kind:\s*([A-Za-z]+)\s*$`)
	docSeparator = regexp.MustCompile(`(?m)^---\s*$`)
)

// Apply creates every object of a multi-document YAML manifest in namespace
// ns, as `kubectl create -n ns -f` would: the API server parses the YAML
// itself, so what it accepts here it accepts from kubectl. Kinds outside a
// small namespaced set (ServiceAccount, ConfigMap, Secret, Service, Pod,
// Role, RoleBinding, Deployment, StatefulSet, PodDisruptionBudget,
// NetworkPolicy) fail the test. It returns the
// kinds created, in order.
func (s *Server) Apply(t testing.TB, ns string, manifest []byte) []string {
	t.Helper()
	var kinds []string
	for _, doc := range docSeparator.Split(string(manifest), -1) {
		if len(bytes.TrimSpace(stripComments([]byte(doc)))) == 0 {
			continue
		}
		m := kindLine.FindStringSubmatch(doc)
		if m == nil {
			t.Fatalf("kubetest: manifest document without a top-level kind:\n%s", doc)
		}
		path, ok := resourcePaths[m[1]]
		if !ok {
			t.Fatalf("kubetest: Apply does not know kind %s", m[1])
		}
		s.admin(t, http.MethodPost, fmt.Sprintf(path, ns), "application/yaml", []byte(doc), nil)
		kinds = append(kinds, m[1])
	}
	return kinds
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
