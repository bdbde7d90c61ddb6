package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchPodList returns a PodList of n serving pods as the API server encodes
// it, with the fields a real pod carries (spec, many conditions) so that the
// decoder skips realistic bulk.
func benchPodList(b *testing.B, n int) []byte {
	b.Helper()
	items := make([]map[string]any, n)
	for i := range items {
		p := running(fmt.Sprintf("shoal-ratelimit-7c9f8d-%05d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		p["spec"] = map[string]any{
			"containers": []any{map[string]any{
				"name": "ratelimit", "image": "shoal-ratelimit:latest",
				"ports": []any{map[string]any{"name": "gossip", "containerPort": 9990, "protocol": "TCP"}},
				"env":   []any{map[string]any{"name": "POD_NAME", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.name"}}}},
			}},
			"nodeName": "node-1", "serviceAccountName": "shoal-ratelimit",
		}
		items[i] = p
	}
	body, err := json.Marshal(map[string]any{"kind": "PodList", "apiVersion": "v1", "metadata": map[string]any{}, "items": items})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkKubernetesPeers measures one Peers call against a local server
// answering 500 pods in one page: request, decode, filter, sort.
func BenchmarkKubernetesPeers(b *testing.B) {
	body := benchPodList(b, 500)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	k, err := NewKubernetes(KubernetesConfig{BaseURL: srv.URL, LabelSelector: "app=shoal-ratelimit"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(k.CloseIdleConnections)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		peers, err := k.Peers(b.Context())
		if err != nil || len(peers) != 500 {
			b.Fatal(len(peers), err)
		}
	}
}

// BenchmarkPodListDecode isolates the decode and filter of 500 pods.
func BenchmarkPodListDecode(b *testing.B) {
	body := benchPodList(b, 500)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var list podList
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&list); err != nil {
			b.Fatal(err)
		}
		n := 0
		for i := range list.Items {
			if list.Items[i].serving() {
				n++
			}
		}
		if n != 500 {
			b.Fatal(n)
		}
	}
}

func BenchmarkStaticPeers(b *testing.B) {
	peers := make([]Peer, 50)
	for i := range peers {
		peers[i] = peer(fmt.Sprintf("node-%02d", i), fmt.Sprintf("10.0.0.%d:9990", i+1))
	}
	s, err := NewStatic(peers...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, _ := s.Peers(b.Context()); len(got) != 50 {
			b.Fatal(len(got))
		}
	}
}
