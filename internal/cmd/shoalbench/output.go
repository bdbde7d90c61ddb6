package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one measured row: printed as a table row or a JSON object.
type result interface {
	columns() []string
	cells() []string
}

// printer writes results as they come: with -json one object per line at
// once, else a table when flushed.
type printer struct {
	w    io.Writer
	json bool
	rows []result
}

func (p *printer) add(r result) error {
	if p.json {
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	p.rows = append(p.rows, r)
	return nil
}

// printOne prints one scenario's result, as a table or (asJSON) a JSON
// object.
func printOne(w io.Writer, asJSON bool, r result) error {
	pr := &printer{w: w, json: asJSON}
	if err := pr.add(r); err != nil {
		return err
	}
	return pr.flush()
}

// flush prints the table of the rows added since the last flush.
func (p *printer) flush() error {
	if p.json || len(p.rows) == 0 {
		return nil
	}
	err := writeTable(p.w, p.rows)
	p.rows = nil
	return err
}

// writeTable prints rows (of one kind) aligned in columns.
func writeTable(w io.Writer, rows []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(rows[0].columns(), "\t")+"\t")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t")+"\t")
	}
	return tw.Flush()
}

// percentile returns the q-quantile (0 < q ≤ 1) of sorted by the
// nearest-rank method; +Inf entries stand for updates that never arrived.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	k = max(0, min(k, len(sorted)-1))
	return sorted[k]
}

// millis is a latency in milliseconds that encodes +Inf (an update that
// never reached every node) and NaN (nothing measured) as JSON null.
type millis float64

func (m millis) MarshalJSON() ([]byte, error) {
	f := float64(m)
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return []byte("null"), nil
	}
	return []byte(fmt.Sprintf("%.3f", f)), nil
}

func (m millis) String() string {
	f := float64(m)
	switch {
	case math.IsInf(f, 0):
		return "never"
	case math.IsNaN(f):
		return "-"
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	default:
		return fmt.Sprintf("%.1f", f)
	}
}

// withUnit returns "12.5 ms", or "never" for an update that did not arrive.
func (m millis) withUnit() string {
	if math.IsInf(float64(m), 0) || math.IsNaN(float64(m)) {
		return m.String()
	}
	return m.String() + " ms"
}

func toMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// latencySummary sorts ms (in place) and returns p50, p99 and max.
func latencySummary(ms []float64) (p50, p99, mx millis) {
	sort.Float64s(ms)
	if len(ms) == 0 {
		n := millis(math.NaN())
		return n, n, n
	}
	return millis(percentile(ms, 0.5)), millis(percentile(ms, 0.99)), millis(ms[len(ms)-1])
}

// humanBytes formats a byte rate.
func humanBytes(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.2f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}
