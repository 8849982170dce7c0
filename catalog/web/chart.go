package web

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/skewfree/skewfree/catalog"
	"github.com/skewfree/skewfree/features"
)

// Chart is a small inline SVG line chart of one measure over recent
// windows, oldest first. It is data for the template, which draws it; all
// coordinates are computed here.
type Chart struct {
	Title  string
	Empty  string // set when there is nothing to draw, saying why
	Width  int
	Height int
	// Line is the polyline's points, "x,y x,y ..."; Area the closed path
	// under it.
	Line, Area string
	Points     []ChartPoint
	Min, Max   string
	Last       string
	From, To   string // first and last window, for the axis
}

// ChartPoint is one window on a chart.
type ChartPoint struct {
	X, Y  float64
	Label string // tooltip
	Bad   bool   // a run with a failed check
}

const chartW, chartH, chartPad = 280, 72, 6

// series is one measure per window; ok false leaves a gap.
type series struct {
	when  time.Time
	value float64
	ok    bool
	bad   bool
}

func newChart(title string, pts []series, format func(float64) string) Chart {
	c := Chart{Title: title, Width: chartW, Height: chartH}
	var lo, hi float64 = math.Inf(1), math.Inf(-1)
	n := 0
	for _, p := range pts {
		if p.ok {
			lo, hi = math.Min(lo, p.value), math.Max(hi, p.value)
			n++
		}
	}
	if n == 0 {
		c.Empty = "no data recorded yet"
		return c
	}
	// Counts and rates read best from zero.
	if lo > 0 {
		lo = 0
	}
	span := hi - lo
	if span == 0 {
		span = 1
	}
	step := 0.0
	if len(pts) > 1 {
		step = float64(chartW-2*chartPad) / float64(len(pts)-1)
	}
	var line []string
	var first, last ChartPoint
	for i, p := range pts {
		if !p.ok {
			continue
		}
		x := float64(chartPad) + step*float64(i)
		if len(pts) == 1 {
			x = chartW / 2
		}
		y := float64(chartH-chartPad) - (p.value-lo)/span*float64(chartH-2*chartPad)
		cp := ChartPoint{X: round1(x), Y: round1(y), Bad: p.bad,
			Label: fmt.Sprintf("%s: %s", catalog.Time(p.when), format(p.value))}
		if len(line) == 0 {
			first = cp
		}
		last = cp
		c.Points = append(c.Points, cp)
		line = append(line, fmt.Sprintf("%g,%g", cp.X, cp.Y))
		c.Last = format(p.value)
	}
	c.Line = strings.Join(line, " ")
	c.Area = fmt.Sprintf("M%g,%d L%s L%g,%d Z", first.X, chartH-chartPad, strings.Join(line, " L"), last.X, chartH-chartPad)
	c.Min, c.Max = format(lo), format(hi)
	c.From, c.To = pts[0].when.UTC().Format("Jan 2 15:04"), pts[len(pts)-1].when.UTC().Format("Jan 2 15:04")
	return c
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// oldestFirst returns the view's runs from the oldest window.
func oldestFirst(runs []catalog.Run) []catalog.Run {
	out := make([]catalog.Run, len(runs))
	for i, r := range runs {
		out[len(runs)-1-i] = r
	}
	return out
}

func viewCharts(v *catalog.View) []Chart {
	runs := oldestFirst(v.Runs)
	var rows, dur []series
	for _, r := range runs {
		bad := r.FailedChecks > 0 || r.Status != features.RunOK
		rows = append(rows, series{r.WindowEnd, float64(r.Rows), true, bad})
		dur = append(dur, series{r.WindowEnd, float64(r.DurationMS) / 1000, true, bad})
	}
	return []Chart{
		newChart("Rows per window", rows, count),
		newChart("Run duration (s)", dur, func(f float64) string { return fmt.Sprintf("%.3g s", f) }),
	}
}

func featureCharts(f *catalog.Feature) []Chart {
	runs := oldestFirst(f.Parent().Runs)
	var rows, nulls, means []series
	for _, r := range runs {
		bad := false
		for _, c := range catalog.RunChecks(r, f.Name) {
			bad = bad || !c.Passed
		}
		fr, ok := r.Features[f.Name]
		rows = append(rows, series{r.WindowEnd, float64(fr.Rows), ok, bad})
		nulls = append(nulls, series{r.WindowEnd, fr.NullRate(), ok, bad})
		m := 0.0
		if fr.Mean != nil {
			m = *fr.Mean
		}
		means = append(means, series{r.WindowEnd, m, ok && fr.Mean != nil, bad})
	}
	mean := newChart("Mean", means, func(x float64) string { return fmt.Sprintf("%.4g", x) })
	if mean.Empty != "" && (f.Type == features.String || f.Type == features.Bool) {
		mean.Empty = "no mean for " + f.Type.String() + " features"
	}
	return []Chart{
		newChart("Rows", rows, count),
		newChart("Null rate", nulls, func(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }),
		mean,
	}
}

func count(f float64) string {
	switch {
	case f >= 1e6:
		return fmt.Sprintf("%.3gM", f/1e6)
	case f >= 1e4:
		return fmt.Sprintf("%.3gk", f/1e3)
	}
	return fmt.Sprintf("%.0f", f)
}
