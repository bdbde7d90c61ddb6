// Package kubetest runs a real Kubernetes API server (kube-apiserver backed
// by etcd, both built from the Go module proxy by
// internal/kubeapiserver/build.sh) for tests, and gives them raw REST helpers
// to create namespaces, service accounts, RBAC rules and pods, and to set a
// pod's status the way a kubelet would. There is no controller-manager,
// scheduler or kubelet: pods never run, and their phase, IP and readiness
// are whatever the test sets.
//
// It uses only the standard library, so the main module never depends on
// k8s.io.
//
// # Usage
//
//	func TestAgainstAPIServer(t *testing.T) {
//		srv := kubetest.Start(t) // skips when the binaries are not built
//		srv.CreateNamespace(t, "ns")
//		srv.CreatePod(t, "ns", "web-0", map[string]string{"app": "web"})
//		srv.SetPodStatus(t, "ns", "web-0", "Running", "10.0.0.1", true)
//		srv.CreateServiceAccount(t, "ns", "reader")
//		srv.GrantPodReader(t, "ns", "reader")
//		token := srv.TokenFor(t, "ns", "reader")
//		// ... point the code under test at srv.URL with token and srv.CAFile
//	}
//
// # Finding the binaries
//
// Start looks in $SHOAL_KUBE_BIN_DIR, else in
// ${XDG_CACHE_HOME:-$HOME/.cache}/shoal/kube-v1.37.2-etcd-v3.7.3, where
// build.sh puts them. When they are missing the test is skipped with a
// message saying how to build them, unless SHOAL_REQUIRE_KUBE=1 (as in CI),
// which makes it fail instead.
//
// # Cost
//
// One Start takes a few seconds (etcd, then the API server's bootstrap
// hooks) and a few hundred MB of memory; share one Server between the
// subtests of a test and give each subtest its own namespace.
package kubetest
