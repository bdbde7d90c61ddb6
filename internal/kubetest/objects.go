package kubetest

import (
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeName is set on every pod so that the API server treats it as bound to
// a node, as a scheduled pod would be (no Node object exists or is needed).
const nodeName = "kubetest-node"

// holdFinalizer keeps a deleted pod in the API with its deletionTimestamp
// set, as a pod in its grace period is, until DeletePod removes it.
const holdFinalizer = "kubetest.shoal.dev/hold"

const mergePatch = "application/merge-patch+json"

type obj = map[string]any

// Create POSTs obj to path as the admin, e.g.
// Create(t, "/api/v1/namespaces/ns/configmaps", cm).
func (s *Server) Create(t testing.TB, path string, object any) {
	t.Helper()
	s.admin(t, http.MethodPost, path, "", object, nil)
}

// Patch merge-patches the object at path as the admin.
func (s *Server) Patch(t testing.TB, path string, patch any) {
	t.Helper()
	s.admin(t, http.MethodPatch, path, mergePatch, patch, nil)
}

// CreateNamespace creates namespace ns and its ServiceAccount "default",
// which pods need and which no controller-manager creates here.
func (s *Server) CreateNamespace(t testing.TB, ns string) {
	t.Helper()
	s.Create(t, "/api/v1/namespaces", obj{"apiVersion": "v1", "kind": "Namespace", "metadata": obj{"name": ns}})
	s.CreateServiceAccount(t, ns, "default")
}

// CreateServiceAccount creates ServiceAccount name in ns.
func (s *Server) CreateServiceAccount(t testing.TB, ns, name string) {
	t.Helper()
	s.Create(t, "/api/v1/namespaces/"+ns+"/serviceaccounts",
		obj{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": obj{"name": name}})
}

// GrantPodReader creates Role "pod-reader-SA" allowing get and list on pods
// in ns, and a RoleBinding of it to ServiceAccount sa: the rule that
// discovery documents. It returns once the authorizer applies the grant
// (RBAC objects reach it asynchronously, through an informer).
func (s *Server) GrantPodReader(t testing.TB, ns, sa string) {
	t.Helper()
	role := "pod-reader-" + sa
	s.Create(t, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/roles", obj{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
		"metadata": obj{"name": role},
		"rules":    []any{obj{"apiGroups": []string{""}, "resources": []string{"pods"}, "verbs": []string{"get", "list"}}},
	})
	s.Create(t, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/rolebindings", obj{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
		"metadata": obj{"name": role},
		"roleRef":  obj{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
		"subjects": []any{obj{"kind": "ServiceAccount", "name": sa, "namespace": ns}},
	})
	s.WaitAllowed(t, "system:serviceaccount:"+ns+":"+sa, ns, "list", "pods")
}

// WaitAllowed waits until RBAC allows user (with the groups of a service
// account when user is one) to do verb on resource in ns, as a
// SubjectAccessReview says; it fails the test after 30 s.
func (s *Server) WaitAllowed(t testing.TB, user, ns, verb, resource string) {
	t.Helper()
	groups := []string{"system:authenticated"}
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		saNS, _, _ := strings.Cut(rest, ":")
		groups = append(groups, "system:serviceaccounts", "system:serviceaccounts:"+saNS)
	}
	review := obj{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
		"spec": obj{
			"user": user, "groups": groups,
			"resourceAttributes": obj{"namespace": ns, "verb": verb, "resource": resource},
		},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var resp struct {
			Status struct {
				Allowed bool `json:"allowed"`
			} `json:"status"`
		}
		s.admin(t, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", "", review, &resp)
		if resp.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubetest: RBAC still denies %s %s %s in %s after 30s", user, verb, resource, ns)
		}
		time.Sleep(20 * time.Millisecond) // polling an API with no watch for this
	}
}

// TokenFor returns a fresh bound token of ServiceAccount sa in ns from the
// TokenRequest API, valid for an hour. Each call returns a different token.
func (s *Server) TokenFor(t testing.TB, ns, sa string) string {
	t.Helper()
	var resp struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	s.admin(t, http.MethodPost, "/api/v1/namespaces/"+ns+"/serviceaccounts/"+sa+"/token", "", obj{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
		"spec": obj{"expirationSeconds": 3600},
	}, &resp)
	if resp.Status.Token == "" {
		t.Fatalf("kubetest: TokenRequest for %s/%s returned no token", ns, sa)
	}
	return resp.Status.Token
}

// CreatePod creates a pod bound to a (fictitious) node, in phase Pending
// with no IP, as a scheduled pod whose kubelet has not reported yet.
func (s *Server) CreatePod(t testing.TB, ns, name string, labels map[string]string) {
	t.Helper()
	s.Create(t, "/api/v1/namespaces/"+ns+"/pods", obj{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": obj{"name": name, "labels": maps.Clone(labels)},
		"spec": obj{
			"nodeName":                     nodeName,
			"automountServiceAccountToken": false,
			"containers": []any{obj{
				"name": "app", "image": "shoal-ratelimit:latest",
				"ports": []any{obj{"name": "gossip", "containerPort": 9990, "protocol": "TCP"}},
			}},
		},
	})
}

// SetPodStatus sets the pod's phase ("Pending", "Running", ...), IP ("" for
// none) and Ready condition through the status subresource, as a kubelet
// reports them.
func (s *Server) SetPodStatus(t testing.TB, ns, name, phase, ip string, ready bool) {
	t.Helper()
	readyStatus := "False"
	if ready {
		readyStatus = "True"
	}
	status := obj{
		"phase": phase,
		"conditions": []any{
			obj{"type": "PodScheduled", "status": "True"},
			obj{"type": "Ready", "status": readyStatus},
		},
	}
	if ip != "" {
		status["podIP"] = ip
		status["podIPs"] = []any{obj{"ip": ip}}
	}
	s.Patch(t, "/api/v1/namespaces/"+ns+"/pods/"+name+"/status", obj{"status": status})
}

// MarkDeleting deletes the pod but keeps it in the API with its
// deletionTimestamp set (through a finalizer), as a terminating pod looks
// during its grace period. DeletePod removes it for good.
func (s *Server) MarkDeleting(t testing.TB, ns, name string) {
	t.Helper()
	path := "/api/v1/namespaces/" + ns + "/pods/" + name
	s.Patch(t, path, obj{"metadata": obj{"finalizers": []string{holdFinalizer}}})
	s.admin(t, http.MethodDelete, path, "", nil, nil)
}

// DeletePod removes the pod at once, finalizer or not.
func (s *Server) DeletePod(t testing.TB, ns, name string) {
	t.Helper()
	path := "/api/v1/namespaces/" + ns + "/pods/" + name
	s.Patch(t, path, obj{"metadata": obj{"finalizers": nil}})
	s.admin(t, http.MethodDelete, path+"?"+url.Values{"gracePeriodSeconds": {"0"}}.Encode(), "", nil, nil)
}

// WriteServiceAccountDir writes token, ca.crt (this server's CA) and
// namespace into dir, the way the kubelet mounts them at
// /var/run/secrets/kubernetes.io/serviceaccount. Calling it again with
// another token replaces the token atomically, as a rotation does.
func (s *Server) WriteServiceAccountDir(t testing.TB, dir, ns, token string) {
	t.Helper()
	for name, content := range map[string][]byte{
		"token": []byte(token), "ca.crt": s.CAPEM, "namespace": []byte(ns),
	} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, content, 0o600); err != nil {
			t.Fatalf("kubetest: %v", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatalf("kubetest: %v", err)
		}
	}
}

// LookupEnv returns an environment lookup in which KUBERNETES_SERVICE_HOST
// and KUBERNETES_SERVICE_PORT point at this server, plus extra; every other
// variable is unset. Pass it where code under test reads the environment.
func (s *Server) LookupEnv(extra map[string]string) func(string) (string, bool) {
	env := map[string]string{"KUBERNETES_SERVICE_HOST": s.Host, "KUBERNETES_SERVICE_PORT": s.Port}
	maps.Copy(env, extra)
	return func(key string) (string, bool) {
		v, ok := env[key]
		return v, ok
	}
}
