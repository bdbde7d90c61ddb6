package debugpage_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/shoal-go/shoal/crdt"
	"github.com/shoal-go/shoal/swarm"
	"github.com/shoal-go/shoal/swarm/debugpage"
	"github.com/shoal-go/shoal/swarm/swarmtest"
)

func TestMain(m *testing.M) {
	// memberlist's Shutdown does not wait for an in-flight probe (see
	// swarm's TestMain); that one frame is ignored.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

// startCluster starts n nodes sharing a counter "requests" (node i adds
// 10·(i+1)) and a map "owners" (node i sets "shard-node-i"), and waits
// until every node sees every add and every entry: the tests read the page
// of any node.
func startCluster(t *testing.T, n int) *swarmtest.Cluster {
	t.Helper()
	c := swarmtest.Start(t, n, swarmtest.Options{})
	var want int64
	var ctrs []*swarm.Counter
	var maps []*swarm.Map[string, string]
	for i, nd := range c.Nodes() {
		ctr, err := swarm.NewCounter(nd, "requests")
		require.NoError(t, err)
		require.NoError(t, ctr.Add(int64(10*(i+1))))
		want += int64(10 * (i + 1))
		m, err := swarm.NewMap[string, string](nd, "owners", crdt.LWWOptions{})
		require.NoError(t, err)
		require.NoError(t, m.Set("shard-"+nd.Name(), nd.Name()))
		ctrs = append(ctrs, ctr)
		maps = append(maps, m)
	}
	swarmtest.WaitFor(t, 10*time.Second, func() error {
		for i, ctr := range ctrs {
			v, err := ctr.Value()
			if err != nil {
				return err
			}
			if v != want {
				return fmt.Errorf("node %d: counter %d, want %d", i, v, want)
			}
			l, err := maps[i].Len()
			if err != nil {
				return err
			}
			if l != n {
				return fmt.Errorf("node %d: map has %d entries, want %d", i, l, n)
			}
		}
		return nil
	})
	return c
}

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestHTMLPageShowsMembersValuesAndTraffic(t *testing.T) {
	c := startCluster(t, 2)
	srv := httptest.NewServer(debugpage.Handler(c.Node(0)))
	defer srv.Close()

	resp, body := get(t, srv, "/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	for _, want := range []string{
		"<code id=\"node\">node-0</code>",
		"Members (2 alive of 2)",
		"<code>node-1</code>",
		`<td class="alive">alive</td>`,
		"<code>requests</code>",
		"*crdt.PNCounter",
		`<span class="value">30</span>`,
		"<td>20</td>", // node-1's contribution
		"<code>owners</code>",
		"<code>shard-node-1</code>",
		"<td>direct</td>",
	} {
		require.Contains(t, body, want)
	}
	require.Equal(t, 2, strings.Count(body, `<tr class="member">`))
	require.NotContains(t, body, `http-equiv="refresh"`)

	_, body = get(t, srv, "/?refresh=5")
	require.Contains(t, body, `<meta http-equiv="refresh" content="5">`)
}

func TestJSONReport(t *testing.T) {
	c := startCluster(t, 2)
	srv := httptest.NewServer(debugpage.Handler(c.Node(1)))
	defer srv.Close()

	resp, body := get(t, srv, "/?format=json")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var rep debugpage.Report
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.Equal(t, "node-1", rep.Node)
	require.Equal(t, c.Node(1).Replica().String(), rep.Replica)
	require.Equal(t, c.Node(1).Addr(), rep.Addr)
	require.Len(t, rep.Members, 2)
	require.Equal(t, "node-0", rep.Members[0].Name)
	require.Equal(t, "alive", rep.Members[0].State)
	require.Equal(t, c.Node(0).Replica().Incarnation, rep.Members[0].Incarnation)
	require.Equal(t, 2, rep.Traffic.LiveMembers)

	var ctr *debugpage.Value
	for i := range rep.Values {
		if rep.Values[i].Name == "requests" {
			ctr = &rep.Values[i]
		}
	}
	require.NotNil(t, ctr)
	require.Equal(t, "30", ctr.Value)
	require.Len(t, ctr.Replicas, 2)
	require.Equal(t, "node-0", ctr.Replicas[0].Node)
	require.Equal(t, 10.0, ctr.Replicas[0].Count)
	require.Nil(t, ctr.Replicas[0].AgeSeconds, "counters keep no time")
	// The raw JSON says null, not 0, for an unknown age.
	require.Contains(t, body, `"age_seconds": null`)

	for _, v := range rep.Values {
		if v.Name == "owners" {
			require.Len(t, v.Entries, 2)
			require.NotNil(t, v.Entries[0].AgeSeconds)
			require.GreaterOrEqual(t, *v.Entries[0].AgeSeconds, 0.0)
			require.Less(t, *v.Entries[0].AgeSeconds, 30.0)
		}
	}
	var kinds []string
	for _, k := range rep.Traffic.Kinds {
		kinds = append(kinds, k.Kind)
	}
	require.Contains(t, kinds, "direct")
	require.IsIncreasing(t, kinds)
}

func TestBadRequests(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	srv := httptest.NewServer(debugpage.Handler(c.Node(0)))
	defer srv.Close()
	for _, path := range []string{"/?format=xml", "/?refresh=0", "/?refresh=3601", "/?refresh=x"} {
		resp, body := get(t, srv, path)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, path)
		require.NotEmpty(t, body)
	}
	resp, err := srv.Client().Post(srv.URL, "text/plain", strings.NewReader("x"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))

	req, err := http.NewRequest(http.MethodHead, srv.URL, nil)
	require.NoError(t, err)
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEqual(t, "0", resp.Header.Get("Content-Length"))
}

// A closed node still gets a page: it says so and lists no values.
func TestClosedNode(t *testing.T) {
	c := swarmtest.Start(t, 1, swarmtest.Options{})
	_, err := swarm.NewCounter(c.Node(0), "requests")
	require.NoError(t, err)
	require.NoError(t, c.Node(0).Close())
	srv := httptest.NewServer(debugpage.Handler(c.Node(0)))
	defer srv.Close()
	resp, body := get(t, srv, "/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `<span class="bad">closed</span>`)
	require.Contains(t, body, "No values are registered")
	_, body = get(t, srv, "/?format=json")
	var rep debugpage.Report
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.True(t, rep.Closed)
	require.Empty(t, rep.Values)
}
