package ratelimitbench

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunShortShoal(t *testing.T) {
	res, err := Run(context.Background(), Params{Nodes: 3, Limit: 200, Window: time.Second, Duration: 3 * time.Second}, testWriter{t})
	require.NoError(t, err)
	assert.Equal(t, BackendShoal, res.Backend)
	assert.Greater(t, res.Offered, 1000)
	assert.NotEmpty(t, res.Series)
	assert.Positive(t, res.WireBytesPerSecPerNode)
	if stalled(t, res) {
		return
	}
	assert.InDelta(t, 1.0, res.AdmittedRatioMean, 0.2)
	assert.LessOrEqual(t, res.AdmittedRatioWorst, 1.3)
}

// stalled reports (and logs) a run whose process stalled for longer than
// a fifth of a second: every node was blind at once, and the requests of
// the stall arrived together, so its ratios measure the machine.
func stalled(t *testing.T, res Result) bool {
	if res.MaxStallMs > 200 {
		t.Logf("the process stalled for %.0f ms; accuracy not checked", res.MaxStallMs)
		return true
	}
	return false
}

func TestRunShortRedis(t *testing.T) {
	res, err := Run(context.Background(), Params{Backend: BackendRedis, Nodes: 3, Limit: 200, Window: time.Second, Duration: 3 * time.Second}, testWriter{t})
	require.NoError(t, err)
	if res.Skipped != "" {
		t.Skip(res.Skipped)
	}
	assert.Positive(t, res.AllowNsP50)
	if stalled(t, res) {
		return
	}
	assert.InDelta(t, 1.0, res.AdmittedRatioMean, 0.2)
}

// The one-round-trip Lua baseline is as exact as the two-round-trip one.
func TestRunShortRedisLua(t *testing.T) {
	res, err := Run(context.Background(), Params{Backend: BackendRedisLua, Nodes: 3, Limit: 200, Window: time.Second, Duration: 3 * time.Second}, testWriter{t})
	require.NoError(t, err)
	if res.Skipped != "" {
		t.Skip(res.Skipped)
	}
	assert.Positive(t, res.AllowNsP50)
	assert.Positive(t, res.Admitted)
	if stalled(t, res) {
		return
	}
	assert.InDelta(t, 1.0, res.AdmittedRatioMean, 0.2)
	assert.LessOrEqual(t, res.AdmittedRatioWorst, 1.0, "one script per request: no race")
}

// An even keyed load offers every key in turn, the nodes taking turns.
func TestRunShortKeyedEven(t *testing.T) {
	res, err := Run(context.Background(), Params{Nodes: 3, Duration: 3 * time.Second, Offered: 4,
		Keyed: &KeyedParams{Keys: 1, Limit: 5, Window: time.Second, Dist: DistEven}}, testWriter{t})
	require.NoError(t, err)
	assert.Equal(t, 1, res.KeysOverloaded)
	assert.InDelta(t, 60, res.Offered, 3, "4·5 per second for 3 s")
	if stalled(t, res) {
		return
	}
	assert.LessOrEqual(t, res.AdmittedRatioWorst, 1.2)
}

func TestRunRedisMissingIsSkipped(t *testing.T) {
	res, err := Run(context.Background(), Params{Backend: BackendRedis, RedisServer: "no-such-redis-server", Duration: time.Second}, nil)
	require.NoError(t, err)
	assert.Contains(t, res.Skipped, "no-such-redis-server")
}

func TestRunShortKeyed(t *testing.T) {
	res, err := Run(context.Background(), Params{Nodes: 3, Duration: 4 * time.Second,
		Keyed: &KeyedParams{Keys: 1000, Limit: 20, Window: 2 * time.Second, Rate: 500}}, testWriter{t})
	require.NoError(t, err)
	assert.Positive(t, res.KeysOverloaded)
	if stalled(t, res) {
		return
	}
	assert.LessOrEqual(t, res.AdmittedRatioWorst, 1.5)
}

// TestScenarios runs the report's scenarios when RATELIMITBENCH_OUT names
// a file (JSON lines); RATELIMITBENCH_ONLY filters by a substring of the
// scenario name, RATELIMITBENCH_SECONDS sets the run length (60) and
// RATELIMITBENCH_LAG the shoal limiter's Lag (a duration; default the
// package's).
func TestScenarios(t *testing.T) {
	out := os.Getenv("RATELIMITBENCH_OUT")
	if out == "" {
		t.Skip("set RATELIMITBENCH_OUT to run the report scenarios")
	}
	d := 60 * time.Second
	if s := os.Getenv("RATELIMITBENCH_SECONDS"); s != "" {
		v, err := time.ParseDuration(s + "s")
		require.NoError(t, err)
		d = v
	}
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	defer f.Close()
	type scenario struct {
		name string
		p    Params
	}
	var list []scenario
	for _, backend := range []string{BackendShoal, BackendRedis, BackendRedisLua} {
		for _, w := range []time.Duration{10 * time.Second, time.Second} {
			for _, n := range []int{3, 10} {
				for _, skew := range []float64{0, 0.8} {
					list = append(list, scenario{
						name: strings.Join([]string{backend, "W" + w.String(), "N" + itoa(n), "skew" + strconv.FormatFloat(skew, 'g', -1, 64)}, "/"),
						p:    Params{Backend: backend, Nodes: n, Limit: 1000, Window: w, Duration: d, Skew: skew},
					})
				}
			}
		}
		list = append(list, scenario{name: backend + "/churn/W10s/N10", p: Params{Backend: backend, Nodes: 10, Limit: 1000, Window: 10 * time.Second, Duration: d, Churn: true}})
		list = append(list, scenario{name: backend + "/keyed/N10", p: Params{Backend: backend, Nodes: 10, Duration: 2 * d, Keyed: &KeyedParams{}}})
	}
	var lag time.Duration
	if s := os.Getenv("RATELIMITBENCH_LAG"); s != "" {
		v, err := time.ParseDuration(s)
		require.NoError(t, err)
		lag = v
	}
	only := os.Getenv("RATELIMITBENCH_ONLY")
	for _, sc := range list {
		if only != "" && !strings.Contains(sc.name, only) {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			sc.p.Lag = lag
			res, err := Run(context.Background(), sc.p, testWriter{t})
			require.NoError(t, err)
			res.Series = res.Series[:min(len(res.Series), 400)]
			b, err := json.Marshal(struct {
				Name string `json:"name"`
				Result
			}{sc.name, res})
			require.NoError(t, err)
			_, err = f.Write(append(b, '\n'))
			require.NoError(t, err)
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
