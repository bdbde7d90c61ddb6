package kubetest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"sync"
	"testing"
	"time"
)

// PodState is what a kubelet would report for one pod: its phase
// ("Running", "Pending", ...), IP ("" for none) and readiness.
type PodState struct {
	Name  string
	Phase string
	IP    string
	Ready bool
}

// CreateRealisticPods creates the pods in ns with the given labels and
// reports their states, in parallel. Unlike CreatePod's bare objects these
// carry what a production pod carries (two containers with env, probes,
// resources and mounts; volumes; tolerations; container statuses; and the
// managedFields the API server adds for every writer), about 7 KB of JSON
// each, so that a list costs the API server and the client what it costs
// in a real cluster.
func (s *Server) CreateRealisticPods(t testing.TB, ns string, labels map[string]string, pods []PodState) {
	t.Helper()
	const workers = 8
	work := make(chan PodState)
	errs := make(chan error, len(pods))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if err := s.createRealisticPod(ns, labels, p); err != nil {
					errs <- fmt.Errorf("pod %s: %w", p.Name, err)
				}
			}
		}()
	}
	for _, p := range pods {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("kubetest: %v", err)
	}
}

func (s *Server) createRealisticPod(ns string, labels map[string]string, p PodState) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := "/api/v1/namespaces/" + ns + "/pods"
	if err := s.expect2xx(ctx, http.MethodPost, path+"?fieldManager=kube-controller-manager", "", realisticPod(p.Name, labels)); err != nil {
		return err
	}
	if p.Phase == "" {
		return nil
	}
	return s.expect2xx(ctx, http.MethodPatch, path+"/"+p.Name+"/status?fieldManager=kubelet", mergePatch,
		obj{"status": realisticStatus(p)})
}

func (s *Server) expect2xx(ctx context.Context, method, path, contentType string, body any) error {
	code, b, err := s.Do(ctx, method, path, contentType, body, s.AdminToken)
	if err != nil {
		return err
	}
	if code < 200 || code > 299 {
		return fmt.Errorf("%s %s: %d %s", method, path, code, b)
	}
	return nil
}

func realisticPod(name string, labels map[string]string) obj {
	l := maps.Clone(labels)
	l["pod-template-hash"] = "7c9f8d6b5"
	l["app.kubernetes.io/name"] = "shoal-ratelimit"
	l["app.kubernetes.io/version"] = "1.4.2"
	env := []any{
		obj{"name": "POD_NAME", "valueFrom": obj{"fieldRef": obj{"apiVersion": "v1", "fieldPath": "metadata.name"}}},
		obj{"name": "POD_IP", "valueFrom": obj{"fieldRef": obj{"apiVersion": "v1", "fieldPath": "status.podIP"}}},
		obj{"name": "GOMEMLIMIT", "valueFrom": obj{"resourceFieldRef": obj{"containerName": "app", "resource": "limits.memory", "divisor": "1"}}},
		obj{"name": "SHOAL_SECRET_KEY", "valueFrom": obj{"secretKeyRef": obj{"name": "shoal-gossip", "key": "key"}}},
		obj{"name": "LOG_LEVEL", "value": "info"},
	}
	probe := func(port int, path string) obj {
		return obj{"httpGet": obj{"path": path, "port": port, "scheme": "HTTP"}, "periodSeconds": 10,
			"timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
	}
	resources := obj{"requests": obj{"cpu": "250m", "memory": "256Mi"}, "limits": obj{"memory": "512Mi"}}
	security := obj{"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
		"capabilities": obj{"drop": []any{"ALL"}}, "seccompProfile": obj{"type": "RuntimeDefault"}}
	return obj{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": obj{
			"name": name, "labels": l,
			"annotations": obj{"prometheus.io/scrape": "true", "prometheus.io/port": "9091",
				"kubectl.kubernetes.io/restartedAt": "2026-11-30T10:00:00Z"},
			"ownerReferences": []any{obj{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "shoal-ratelimit-7c9f8d6b5",
				"uid": "0b6d2a1e-55c3-4f7e-9a51-3c7d2f1b8e90", "controller": true, "blockOwnerDeletion": true}},
		},
		"spec": obj{
			"nodeName": nodeName, "serviceAccountName": "default", "automountServiceAccountToken": false,
			"terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
			"schedulerName": "default-scheduler", "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority",
			"securityContext": obj{"runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
			"containers": []any{
				obj{
					"name": "app", "image": "registry.example.com/shoal-ratelimit:1.4.2", "imagePullPolicy": "IfNotPresent",
					"args": []any{"-listen", ":8080", "-admin", ":9091", "-kubernetes", "app=shoal-ratelimit"},
					"ports": []any{obj{"name": "http", "containerPort": 8080, "protocol": "TCP"},
						obj{"name": "gossip", "containerPort": 9990, "protocol": "TCP"},
						obj{"name": "gossip-udp", "containerPort": 9990, "protocol": "UDP"},
						obj{"name": "admin", "containerPort": 9091, "protocol": "TCP"}},
					"env": env, "resources": resources, "securityContext": security,
					"readinessProbe": probe(8080, "/readyz"), "livenessProbe": probe(9091, "/livez"), "startupProbe": probe(9091, "/livez"),
					"lifecycle":                obj{"preStop": obj{"sleep": obj{"seconds": 5}}},
					"volumeMounts":             []any{obj{"name": "tmp", "mountPath": "/tmp"}, obj{"name": "state", "mountPath": "/var/lib/shoal"}},
					"terminationMessagePath":   "/dev/termination-log",
					"terminationMessagePolicy": "File",
				},
				obj{
					"name": "envoy", "image": "registry.example.com/envoy:v1.33.0", "imagePullPolicy": "IfNotPresent",
					"ports":           []any{obj{"name": "envoy-admin", "containerPort": 9901, "protocol": "TCP"}},
					"resources":       obj{"requests": obj{"cpu": "100m", "memory": "64Mi"}, "limits": obj{"memory": "128Mi"}},
					"securityContext": security, "readinessProbe": probe(9901, "/ready"),
					"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
				},
			},
			"volumes": []any{obj{"name": "tmp", "emptyDir": obj{"sizeLimit": "64Mi"}}, obj{"name": "state", "emptyDir": obj{}}},
			"tolerations": []any{
				obj{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
				obj{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
			},
			"topologySpreadConstraints": []any{obj{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
				"whenUnsatisfiable": "ScheduleAnyway", "labelSelector": obj{"matchLabels": obj{"app.kubernetes.io/name": "shoal-ratelimit"}}}},
		},
	}
}

func realisticStatus(p PodState) obj {
	ready := "False"
	if p.Ready {
		ready = "True"
	}
	at := "2026-11-30T10:00:05Z"
	cond := func(typ, st string) obj { return obj{"type": typ, "status": st, "lastTransitionTime": at} }
	cs := func(name, image string) obj {
		return obj{"name": name, "image": image, "imageID": image + "@sha256:4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b",
			"containerID": "containerd://8d1f0e2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4",
			"ready":       p.Ready, "started": true, "restartCount": 0, "state": obj{"running": obj{"startedAt": at}}}
	}
	st := obj{
		"phase": p.Phase, "qosClass": "Burstable", "hostIP": "127.0.0.1", "hostIPs": []any{obj{"ip": "127.0.0.1"}}, "startTime": at,
		"conditions": []any{cond("PodReadyToStartContainers", "True"), cond("Initialized", "True"),
			cond("Ready", ready), cond("ContainersReady", ready), cond("PodScheduled", "True")},
		"containerStatuses": []any{cs("app", "registry.example.com/shoal-ratelimit:1.4.2"), cs("envoy", "registry.example.com/envoy:v1.33.0")},
	}
	if p.IP != "" {
		st["podIP"] = p.IP
		st["podIPs"] = []any{obj{"ip": p.IP}}
	}
	return st
}
