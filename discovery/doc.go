// Package discovery finds the other instances of a service, so that a shoal
// node knows whom to join: from the Kubernetes API, from DNS, from a fixed
// list, or from an in-memory registry in tests.
//
// It knows nothing of gossip or CRDTs; package swarm takes a Discoverer and
// joins the addresses it returns, again and again, so that instances that
// started apart find each other.
//
// # The contract
//
// A Discoverer has one method, Peers(ctx), which returns the full current
// set of peers (not a change), sorted by name, as a slice the caller owns.
// The set may contain the calling instance. Peers may block on I/O until ctx
// is done and never longer. Every error wraps one of the sentinels, so the
// caller can tell with errors.Is whether to retry (ErrUnreachable,
// ErrDiscovery) or whether a person has to act (ErrUnauthorized,
// ErrForbidden, ErrInvalidConfig); messages say what to fix. Every source is
// safe for concurrent use, starts no goroutines, and keeps no package-level
// mutable state.
//
// # Usage
//
// In a Kubernetes pod, list the pods of the service by label:
//
//	k, err := discovery.NewKubernetes(discovery.KubernetesConfig{
//		InCluster:     true,
//		LabelSelector: "app=shoal-ratelimit",
//	})
//	peers, err := k.Peers(ctx) // Running, Ready, with an IP, not terminating
//	self, err := k.Self(ctx)   // from POD_NAME and POD_IP, else by lookup
//
// The pod's service account needs get and list on pods in its namespace:
//
//	apiVersion: rbac.authorization.k8s.io/v1
//	kind: Role
//	metadata: {name: shoal-discovery}
//	rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
//
// plus a RoleBinding to the ServiceAccount; examples/kubernetes in the
// repository has manifests to apply as they are. Out of a cluster, run
// `kubectl proxy` and leave BaseURL at its default, or set BaseURL, a Token
// or TokenFile and a CAFile.
//
// Without API access, a headless Service (with publishNotReadyAddresses:
// true, so that starting instances find each other) gives the same set
// through DNS:
//
//	d, err := discovery.NewDNS(discovery.DNSConfig{Name: "shoal.my-ns.svc.cluster.local"})
//
// For a fixed set of instances, and in tests, use NewStatic or
// NewFakeRegistry; a FakeRegistry belongs to one test, so parallel tests
// never see each other's peers.
//
// # The Kubernetes source
//
// The source reads bound service account tokens again before every request
// (the kubelet rotates them in place) and retries a 401 once with a fresh
// read. It pages through the list with limit and continue, restarting when
// a continue token expires, and retries network errors, timeouts and 5xx
// with jittered exponential backoff, bounded by Retries and ctx. A 429 (the
// API server shedding load) is not retried within the call: the error wraps
// ErrThrottled, and RetryAfter returns the wait the server asked for, which
// swarm's re-discovery honours before its next round. A 401 error names
// the token source, a 403 error the RBAC rule and a Role that grants it, an
// unreachable server the URL tried. Listings do not ask for
// resourceVersion=0: the API server would then ignore limit and send every
// pod in one response, and since Kubernetes 1.31 it serves consistent lists
// from its watch cache anyway.
//
// A list costs the API server in proportion to the pods it returns, and
// every member of a fleet lists: polling at a fixed interval makes the
// fleet's load grow with the square of its size. swarm.Config's
// DiscoveryFleetRate spreads the rounds so that the whole fleet makes about
// that many calls per second (default 1) whatever its size; see
// BenchmarkKubernetesAPIServer1000Pods for the cost of one call.
//
// KubernetesClient (NewKubernetesClient, the same config without a
// selector) is the API access alone: Get sends one authenticated GET, as
// the swarm compatibility adapter's ClientKubernetes does.
//
// # Why not k8s.io/client-go
//
// The client is about 700 lines of net/http and encoding/json (comments
// aside, config validation and error messages included), because one
// paginated GET does not justify client-go's weight. Measured with Go 1.26
// on linux/amd64, a program that lists pods by label with client-go v0.37.2
// (rest.InClusterConfig, CoreV1().Pods().List) against the same program
// using this package:
//
//	                          client-go v0.37.2    this package
//	binary size               37.5 MB (26.6 -s -w)  9.1 MB (6.3 -s -w)
//	modules linked in binary  46                    1 (shoal)
//	`go mod graph | wc -l`    333                   24 (all shoal's own)
//	`go list -m all`          78 modules            22 modules
//	packages compiled         577                   189
//	cold build                2 min 34 s            a few seconds
//
// client-go would also pin k8s.io/apimachinery's and its transitive
// dependencies' versions on every shoal user, and its release train moves a
// minor version every four months. What it would add (watches, informers,
// kubeconfig parsing, exec credential plugins) discovery does not need: a
// periodic list is the whole protocol. Kubeconfig users run
// `kubectl proxy`. The tests run the client against a real kube-apiserver
// (internal/kubetest) to keep it honest.
package discovery
