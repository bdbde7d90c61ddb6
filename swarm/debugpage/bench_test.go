package debugpage_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/debugpage"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// benchNode is one node holding 10 counters and a map of 100 keys: a
// modest service's worth of values.
func benchNode(b *testing.B) *swarm.Node {
	b.Helper()
	c := swarmtest.Start(b, 1, swarmtest.Options{})
	n := c.Node(0)
	for i := 0; i < 10; i++ {
		ctr, err := swarm.NewCounter(n, fmt.Sprintf("counter-%d", i))
		if err != nil {
			b.Fatal(err)
		}
		_ = ctr.Add(int64(i))
	}
	m, err := swarm.NewMap[string, int](n, "config", crdt.LWWOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		_ = m.Set(fmt.Sprintf("key-%03d", i), i)
	}
	return n
}

func benchmarkPage(b *testing.B, url string) {
	h := debugpage.Handler(benchNode(b))
	req := httptest.NewRequest(http.MethodGet, url, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

func BenchmarkHandlerHTML(b *testing.B) { benchmarkPage(b, "/") }
func BenchmarkHandlerJSON(b *testing.B) { benchmarkPage(b, "/?format=json") }
