package promshoal_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/promshoal"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

// scrape GETs url and returns every sample line's value by its series
// ("name{labels}" as exposed).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, b)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	_, _ = io.Copy(io.Discard, resp.Body)
	return out
}

// A scrape of /metrics over a real HTTP server shows the node's health,
// drops by reason, build_info and memberlist's own metrics.
func TestScrapeShowsHealthDropReasonsBuildInfoAndMemberlist(t *testing.T) {
	// Not a pedantic registry: go-metrics' sink creates its series as
	// memberlist reports them, so it cannot describe them in advance.
	reg := prometheus.NewRegistry()
	require.NoError(t, promshoal.BridgeMemberlistMetrics(reg))
	c := swarmtest.Start(t, 3, swarmtest.Options{Config: func(i int, cfg *swarm.Config) {
		if i == 0 {
			cfg.MaxPendingValues = 1 // so that node-0 drops, with a reason
		}
	}})
	n := c.Node(0)
	require.NoError(t, reg.Register(promshoal.NewCollector(n, promshoal.Options{})))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)

	// Values node-0 has not registered: its pending store holds one and
	// drops the rest.
	for i := range 3 {
		ctr, err := swarm.NewCounter(c.Node(1), fmt.Sprintf("unregistered-%d", i))
		require.NoError(t, err)
		require.NoError(t, ctr.Add(1))
	}
	var m map[string]float64
	swarmtest.WaitFor(t, 20*time.Second, func() error {
		m = scrape(t, srv.URL+"/metrics")
		if m[`shoal_dropped_total{reason="pending_full"}`] < 1 {
			return fmt.Errorf("no pending_full drop scraped yet")
		}
		if a := m[`shoal_members{state="alive"}`]; a != 3 {
			return fmt.Errorf("%v members alive scraped, want 3", a)
		}
		for _, name := range []string{"memberlist_gossip", "memberlist_msg_alive"} {
			if !hasSeries(m, name) {
				return fmt.Errorf("no %s series scraped yet", name)
			}
		}
		return nil
	})
	// The score moves with every probe: the scrape shows one of the
	// scores read around it, and never more than the failure detector's
	// ceiling.
	assert.Contains(t, m, "shoal_health_score")
	assert.GreaterOrEqual(t, m["shoal_health_score"], 0.0)
	assert.Equal(t, 1.0, m["shoal_ready"])
	assert.Contains(t, m, "shoal_degraded")
	assert.Equal(t, 1.0, m[fmt.Sprintf(`shoal_build_info{go_version=%q,version="(devel)"}`, runtime.Version())], "build_info in %v", keys(m, "shoal_build_info"))
	assert.Contains(t, m, `shoal_rejected_total{reason="other"}`)
	for _, name := range []string{"shoal_retirement_records", "shoal_retirement_uncommitted_records", "shoal_retirement_oldest_uncommitted_seconds"} {
		assert.Contains(t, m, name)
	}
}

func hasSeries(m map[string]float64, name string) bool {
	return len(keys(m, name)) > 0
}

func keys(m map[string]float64, name string) []string {
	var out []string
	for k := range m {
		if k == name || strings.HasPrefix(k, name+"{") || strings.HasPrefix(k, name+"_") {
			out = append(out, k)
		}
	}
	return out
}
