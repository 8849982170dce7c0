// Package benchtable reads `go test -bench` output and prints the serving
// benchmarks' summary table for `make bench`: library, HTTP, gRPC and the
// raw Redis floor, at 1 and 100 entities and at 1 and 32 clients. Metrics
// are picked by name (`<side>-p50-µs`, `<side>-p99-µs`, `<side>-req/s`,
// `<side>/lib`, sides lib, http, grpc, raw), so benchmarks can add metrics
// freely.
package benchtable

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Result is one line of benchmark output.
type Result struct {
	Pkg  string // the "pkg:" line above it, "" if none
	Name string // without the -GOMAXPROCS suffix, e.g. BenchmarkGet/entities=1
	// Metrics by unit, e.g. "lib-p99-µs", "ns/op", "http/lib".
	Metrics map[string]float64
}

// Top is the benchmark's function name, Name up to the first "/".
func (r Result) Top() string {
	top, _, _ := strings.Cut(r.Name, "/")
	return top
}

// Param returns the value of a "key=value" element of the sub-benchmark
// path, e.g. Param("entities") of BenchmarkGet/entities=1/views=5 is "1".
func (r Result) Param(key string) (string, bool) {
	parts := strings.Split(r.Name, "/")
	for _, p := range parts[1:] {
		if k, v, ok := strings.Cut(p, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

var procsSuffix = regexp.MustCompile(`-[0-9]+$`)

// Parse reads `go test -bench` output (several packages, -count repeats
// and other lines mixed in are fine) and returns its benchmark results in
// order. Only a malformed benchmark line is an error.
func Parse(r io.Reader) ([]Result, error) {
	var (
		out []Result
		pkg string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fields := strings.Fields(line)
		// name, iterations, then value/unit pairs. A name alone (a
		// sub-benchmark's parent, or a benchmark that failed) carries no
		// result.
		if len(fields) < 2 {
			continue
		}
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			continue // e.g. "BenchmarkX --- FAIL"
		}
		if len(fields)%2 != 0 {
			return nil, fmt.Errorf("benchtable: line %d: odd number of value/unit fields: %q", n, line)
		}
		res := Result{Pkg: pkg, Name: procsSuffix.ReplaceAllString(fields[0], ""), Metrics: map[string]float64{}}
		for i := 2; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchtable: line %d: value %q of %s: %w", n, fields[i], fields[i+1], err)
			}
			res.Metrics[fields[i+1]] = v
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("benchtable: read: %w", err)
	}
	return out, nil
}
