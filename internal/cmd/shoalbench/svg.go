package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// plot is a line chart drawn as SVG by hand: axes with ticks and labels,
// one polyline per series, a legend, and optional horizontal guide lines.
type plot struct {
	Title          string
	XLabel, YLabel string
	LogX           bool
	// YMin and YMax fix the y range when YMax > YMin; otherwise it fits
	// the data.
	YMin, YMax float64
	Series     []series
	Guides     []guide
}

// series is one line of a plot.
type series struct {
	Name   string
	X, Y   []float64
	Dashed bool
	Step   bool // draw as a step function (a CDF)
}

// guide is a labelled horizontal line (a limit, a goal).
type guide struct {
	Name string
	Y    float64
}

// palette holds distinguishable colours (Okabe–Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"}

const (
	svgW, svgH                     = 760, 440
	padL, padR, padT, padB         = 70, 220, 40, 55
	plotW, plotH                   = svgW - padL - padR, svgH - padT - padB
	svgFont                        = `font-family="sans-serif"`
	tickLen                        = 5
	legendX, legendY, legendRowGap = svgW - padR + 15, padT + 10, 18
)

// svg renders the plot.
func (p plot) svg() []byte {
	xmin, xmax, ymin, ymax := p.bounds()
	sx := func(x float64) float64 {
		if p.LogX {
			return padL + (math.Log10(x)-math.Log10(xmin))/(math.Log10(xmax)-math.Log10(xmin))*plotW
		}
		return padL + (x-xmin)/(xmax-xmin)*plotW
	}
	sy := func(y float64) float64 { return padT + plotH - (y-ymin)/(ymax-ymin)*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	fmt.Fprintf(&b, `<text x="%d" y="22" %s font-size="15" font-weight="bold">%s</text>`+"\n", padL, svgFont, esc(p.Title))

	// Grid and ticks.
	var xt []float64
	if p.LogX {
		xt = logTicks(xmin, xmax)
	} else {
		xt = niceTicks(xmin, xmax, 8)
	}
	for _, x := range xt {
		X := sx(x)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", X, padT, X, padT+plotH)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", X, padT+plotH, X, padT+plotH+tickLen)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s font-size="11" text-anchor="middle">%s</text>`+"\n", X, padT+plotH+18, svgFont, tickLabel(x))
	}
	for _, y := range niceTicks(ymin, ymax, 6) {
		Y := sy(y)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", padL, Y, padL+plotW, Y)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", padL-tickLen, Y, padL, Y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s font-size="11" text-anchor="end">%s</text>`+"\n", padL-8, Y+4, svgFont, tickLabel(y))
	}
	// Axes and labels.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", padL, padT+plotH, padL+plotW, padT+plotH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", padL, padT, padL, padT+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" %s font-size="12" text-anchor="middle">%s</text>`+"\n", padL+plotW/2, svgH-12, svgFont, esc(p.XLabel))
	fmt.Fprintf(&b, `<text x="16" y="%d" %s font-size="12" text-anchor="middle" transform="rotate(-90 16 %d)">%s</text>`+"\n", padT+plotH/2, svgFont, padT+plotH/2, esc(p.YLabel))

	// Guides.
	for _, g := range p.Guides {
		Y := sy(g.Y)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#888" stroke-width="1.5" stroke-dasharray="2 3"/>`+"\n", padL, Y, padL+plotW, Y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s font-size="11" fill="#555" text-anchor="end">%s</text>`+"\n", padL+plotW-4, Y-4, svgFont, esc(g.Name))
	}
	// Lines.
	for i, s := range p.Series {
		colour := palette[i%len(palette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		for j := range s.X {
			if !finite(s.X[j]) || !finite(s.Y[j]) || (p.LogX && s.X[j] <= 0) {
				continue
			}
			X, Y := sx(s.X[j]), sy(s.Y[j])
			if s.Step && len(pts) > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%s", X, strings.Split(pts[len(pts)-1], ",")[1]))
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", X, Y))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", colour, dash, strings.Join(pts, " "))
		}
		// Legend entry.
		ly := legendY + i*legendRowGap
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", legendX, ly, legendX+24, ly, colour, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s font-size="11">%s</text>`+"\n", legendX+30, ly+4, svgFont, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// bounds returns the data range, padded, and never empty.
func (p plot) bounds() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if !finite(x) || !finite(y) || (p.LogX && x <= 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	for _, g := range p.Guides {
		ymin, ymax = math.Min(ymin, g.Y), math.Max(ymax, g.Y)
	}
	if !finite(xmin) {
		xmin, xmax = 1, 10
	}
	if !finite(ymin) {
		ymin, ymax = 0, 1
	}
	if p.YMax > p.YMin {
		ymin, ymax = p.YMin, p.YMax
	} else {
		ymin = math.Min(ymin, 0)
		ymax += (ymax - ymin) * 0.08
	}
	if p.LogX {
		xmin = math.Pow(10, math.Floor(math.Log10(xmin)))
		xmax = math.Pow(10, math.Ceil(math.Log10(xmax)))
		if xmax <= xmin {
			xmax = xmin * 10
		}
	} else if xmax <= xmin {
		xmax = xmin + 1
	}
	if ymax <= ymin {
		ymax = ymin + 1
	}
	return xmin, xmax, ymin, ymax
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	step := niceStep((hi - lo) / float64(n))
	var ticks []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ticks = append(ticks, math.Round(v/step)*step)
	}
	return ticks
}

func niceStep(raw float64) float64 {
	if raw <= 0 || !finite(raw) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// logTicks returns 1, 2, 5 × 10^k within [lo, hi].
func logTicks(lo, hi float64) []float64 {
	var ticks []float64
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				ticks = append(ticks, v)
			}
		}
	}
	return ticks
}

func tickLabel(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", math.Round(v*1000)/1000)
}

func finite(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }

func esc(s string) string { return html.EscapeString(s) }

// writeFile writes b to path, creating its directory.
func writeFile(path string, b []byte) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// convergencePlot draws the CDF of update latencies, one line per result
// (the memberlist reference dashed).
func convergencePlot(results []convergenceResult) []byte {
	return convergencePlotWith(results, "Convergence: share of updates every node has, by time after the update")
}

func convergencePlotWith(results []convergenceResult, title string) []byte {
	p := plot{
		Title:  title,
		XLabel: "time until the last node has the update (ms, log scale)",
		YLabel: "share of updates",
		LogX:   true, YMin: 0, YMax: 1,
	}
	for _, r := range results {
		sorted := append([]float64(nil), r.LatenciesMS...)
		sort.Float64s(sorted)
		s := series{
			Name:   fmt.Sprintf("%s %s %d%s", shortSystem(r.System), r.Preset, r.Nodes, netSuffix(r)),
			Dashed: r.System != "shoal", Step: true,
		}
		for i, l := range sorted {
			if !finite(l) {
				break
			}
			s.X = append(s.X, math.Max(l, 0.1))
			s.Y = append(s.Y, float64(i+1)/float64(len(sorted)))
		}
		p.Series = append(p.Series, s)
	}
	return p.svg()
}

func shortSystem(s string) string {
	if s == "shoal" {
		return "shoal"
	}
	return "ml relay"
}

func netSuffix(r convergenceResult) string {
	if r.Transport == "sim" {
		return fmt.Sprintf(" sim %.0f%% drop", 100*r.Drop)
	}
	return ""
}

// p99ByNodesPlot draws each system's p99 (last node) against the cluster
// size: the curve must not jump where the fast path hands over to the
// broadcast tree.
func p99ByNodesPlot(results []convergenceResult) []byte {
	p := plot{
		Title:  "Convergence p99 (last node) by cluster size",
		XLabel: "nodes (log scale)",
		YLabel: "p99 ms",
		LogX:   true,
	}
	bySystem := map[string]*series{}
	var order []string
	for _, r := range results {
		name := fmt.Sprintf("%s %s%s", shortSystem(r.System), r.Preset, netSuffix(r))
		s := bySystem[name]
		if s == nil {
			s = &series{Name: name, Dashed: r.System != "shoal"}
			bySystem[name] = s
			order = append(order, name)
		}
		if finite(float64(r.P99MS)) {
			s.X = append(s.X, float64(r.Nodes))
			s.Y = append(s.Y, float64(r.P99MS))
		}
	}
	for _, name := range order {
		p.Series = append(p.Series, *bySystem[name])
	}
	return p.svg()
}
