package benchtable

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// A side is one row of the table: what was measured, and the metric name
// prefix its benchmarks use.
type side struct {
	label, metric string
	// load is the benchmark that measures it under concurrent clients.
	load string
}

var sides = []side{
	{"library", "lib", ""},
	// The library with serving.Options.Coalesce, measured by the load
	// benchmarks only.
	{"library, coalescing", "libco", ""},
	// The services run with coalescing, as serving/server does.
	{"HTTP", "http", "BenchmarkHTTPLoad"},
	{"HTTP, no coalescing", "httpnc", "BenchmarkHTTPLoad"},
	{"gRPC", "grpc", "BenchmarkGRPCLoad"},
	{"raw Redis floor", "raw", ""},
}

// loads are the benchmarks that drive a service with concurrent clients;
// each also measures the library under the same load (lib-*).
var loads = []string{"BenchmarkHTTPLoad", "BenchmarkGRPCLoad"}

const missing = "—"

// Table is the summary of a benchmark run: one row per side, cells as
// printed. Repeated runs (-count) give the median, and ratio cells their
// range too.
type Table struct {
	Header []string
	Rows   [][]string
}

// Build makes the table from parsed results.
func Build(results []Result) Table {
	t := Table{Header: []string{"",
		"1 entity p50 µs", "p99 µs", "p99 ×raw",
		"100 entities p50 µs", "p99 µs", "p99 ×raw",
		"1 client p50 µs", "p99 µs", "req/s", "req/s ×lib",
		"32 clients p50 µs", "p99 µs", "req/s", "req/s ×lib"}}
	for _, s := range sides {
		row := []string{s.label}
		for _, n := range []string{"1", "100"} {
			sel := entitySelector(s, n)
			row = append(row,
				micros(collect(results, sel, metricOf(s.metric+"-p50-µs"))),
				micros(collect(results, sel, metricOf(s.metric+"-p99-µs"))),
				ratio(collect(results, sel, quotient(s.metric+"-p99-µs", "raw-p99-µs"))))
		}
		for _, c := range []string{"1", "32"} {
			sel := clientSelector(s, c, results)
			var vsLib []float64
			switch s.metric {
			case "lib":
				vsLib = collect(results, sel, quotient("lib-req/s", "lib-req/s"))
			case "raw":
			default:
				vsLib = collect(results, sel, metricOf(s.metric+"/lib"))
				if len(vsLib) == 0 {
					vsLib = collect(results, sel, quotient(s.metric+"-req/s", "lib-req/s"))
				}
			}
			row = append(row,
				micros(collect(results, sel, metricOf(s.metric+"-p50-µs"))),
				micros(collect(results, sel, metricOf(s.metric+"-p99-µs"))),
				rate(collect(results, sel, metricOf(s.metric+"-req/s"))),
				ratio(vsLib))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

type selector func(Result) bool

// entitySelector picks the results measuring s at n entities: BenchmarkGet
// for the library and raw Redis, the load benchmarks' entities=n
// sub-benchmarks for the services.
func entitySelector(s side, n string) selector {
	return func(r Result) bool {
		if e, ok := r.Param("entities"); !ok || e != n {
			return false
		}
		if s.load == "" {
			return r.Top() == "BenchmarkGet"
		}
		return r.Top() == s.load
	}
}

// clientSelector picks the results measuring s at c concurrent clients
// (one entity per request): the load benchmarks' clients=c sub-benchmarks,
// or a load benchmark without sub-benchmarks, which runs 32 clients. The
// library's figures come from the first load benchmark that has them, so
// they share a run with the service they are compared with.
func clientSelector(s side, c string, results []Result) selector {
	match := func(r Result, bench string) bool {
		if r.Top() != bench {
			return false
		}
		if e, ok := r.Param("entities"); ok && e != "1" {
			return false
		}
		n, ok := r.Param("clients")
		if !ok {
			n = "32"
		}
		return n == c
	}
	if s.load != "" {
		return func(r Result) bool { return match(r, s.load) }
	}
	if s.metric != "lib" && s.metric != "libco" {
		return func(Result) bool { return false }
	}
	for _, l := range loads {
		for _, r := range results {
			if match(r, l) {
				if _, ok := r.Metrics[s.metric+"-req/s"]; ok {
					return func(r Result) bool { return match(r, l) }
				}
			}
		}
	}
	return func(Result) bool { return false }
}

type metric func(Result) (float64, bool)

func metricOf(name string) metric {
	return func(r Result) (float64, bool) {
		v, ok := r.Metrics[name]
		return v, ok
	}
}

// quotient is a/b within one result, so a ratio always compares figures
// of the same run.
func quotient(a, b string) metric {
	return func(r Result) (float64, bool) {
		x, ok1 := r.Metrics[a]
		y, ok2 := r.Metrics[b]
		if !ok1 || !ok2 || y == 0 {
			return 0, false
		}
		return x / y, true
	}
}

func collect(results []Result, sel selector, m metric) []float64 {
	var out []float64
	for _, r := range results {
		if !sel(r) {
			continue
		}
		if v, ok := m(r); ok {
			out = append(out, v)
		}
	}
	return out
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func micros(vs []float64) string {
	if len(vs) == 0 {
		return missing
	}
	m := median(vs)
	if m < 100 {
		return fmt.Sprintf("%.1f", m)
	}
	return fmt.Sprintf("%.0f", m)
}

func rate(vs []float64) string {
	if len(vs) == 0 {
		return missing
	}
	return fmt.Sprintf("%.0f", median(vs))
}

// ratio prints the median and, over several runs, the range.
func ratio(vs []float64) string {
	if len(vs) == 0 {
		return missing
	}
	s := fmt.Sprintf("%.2f", median(vs))
	if lo, hi := slices.Min(vs), slices.Max(vs); len(vs) > 1 && hi-lo >= 0.005 {
		s += fmt.Sprintf(" (%.2f–%.2f)", lo, hi)
	}
	return s
}

// Write prints the table with aligned columns.
func (t Table) Write(w io.Writer) error {
	all := append([][]string{t.Header}, t.Rows...)
	widths := make([]int, len(t.Header))
	for _, row := range all {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, row := range all {
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
