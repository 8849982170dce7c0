package benchtable_test

import (
	"os"
	"strings"
	"testing"

	"github.com/skewfree/skewfree/internal/benchtable"
)

// grpcLines are in the shape BenchmarkGRPCLoad reports (serving/grpcapi):
// written by hand, as that benchmark lands separately.
const grpcLines = `pkg: github.com/skewfree/skewfree/serving/grpcapi
BenchmarkGRPCLoad/clients=1-2    	       1	3000000000 ns/op	       120.5 grpc-p50-µs	      900.0 grpc-p99-µs	      3000 grpc-req/s	         0.6000 grpc/lib	      70.00 lib-p50-µs	       800.0 lib-p99-µs	      5000 lib-req/s
BenchmarkGRPCLoad/clients=32-2   	       1	3000000000 ns/op	      2500 grpc-p50-µs	     20000 grpc-p99-µs	      6000 grpc-req/s	         0.5000 grpc/lib	      1500 lib-p50-µs	     15000 lib-p99-µs	     12000 lib-req/s
`

// coalesceLines are BenchmarkHTTPLoad with the coalescing service (http),
// the library with and without coalescing (libco, lib) and the service
// without it (httpnc), as reported by one development run.
const coalesceLines = `pkg: github.com/skewfree/skewfree/serving/httpapi
BenchmarkHTTPLoad/clients=1-2 1 10006216556 ns/op 288.4 http-p50-µs 6225 http-p99-µs 1480 http-req/s 0.1292 http/lib 0.08956 http/libco 242.6 httpnc-p50-µs 486.2 httpnc-p99-µs 3691 httpnc-req/s 0.3221 httpnc/lib 43.34 lib-p50-µs 986.9 lib-p99-µs 11458 lib-req/s 44.08 libco-p50-µs 157.1 libco-p99-µs 16526 libco-req/s
BenchmarkHTTPLoad/clients=32-2 1 10079349526 ns/op 2630 http-p50-µs 9474 http-p99-µs 10439 http-req/s 0.6176 http/lib 0.7340 http/libco 12821 httpnc-p50-µs 42600 httpnc-p99-µs 2228 httpnc-req/s 0.1318 httpnc/lib 1338 lib-p50-µs 13117 lib-p99-µs 16903 lib-req/s 848.7 libco-p50-µs 14600 libco-p99-µs 14222 libco-req/s
`

// mainLine is BenchmarkHTTPLoad as main reported it, before it had
// sub-benchmarks: it ran 32 clients.
const mainLine = `BenchmarkHTTPLoad-2   	       1	20012316003 ns/op	      5092 http-p50-µs	     22375 http-p99-µs	      5140 http-req/s	         0.3955 http/lib	      1919 lib-p50-µs	     12042 lib-p99-µs	     12996 lib-req/s
`

func TestTable(t *testing.T) {
	sample, err := os.ReadFile("testdata/sample.txt") // captured from go test -bench -count 2
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		input string
		// want maps "row/column index" to the expected cell.
		want map[string]map[int]string
	}{{
		name:  "captured run",
		input: string(sample),
		want: map[string]map[int]string{
			// median of 55.13 and 49.67; ratios per run 382/212, 697.6/265.1
			"library":         {1: "52.4", 2: "540", 3: "2.22 (1.80–2.63)", 4: "3197", 7: "77.8", 9: "4624", 10: "1.00", 11: "1889", 13: "9577"},
			"HTTP":            {1: "—", 4: "—", 7: "286", 8: "5689", 9: "1458", 10: "0.32", 11: "5648", 12: "43596", 13: "3727", 14: "0.39"},
			"gRPC":            {1: "—", 7: "—", 11: "—", 14: "—"},
			"raw Redis floor": {1: "45.6", 2: "239", 3: "1.00", 4: "1464", 5: "19068", 7: "—", 14: "—"},
		},
	}, {
		name:  "with gRPC",
		input: string(sample) + grpcLines,
		want: map[string]map[int]string{
			"gRPC": {1: "—", 7: "120", 8: "900", 9: "3000", 10: "0.60", 11: "2500", 12: "20000", 13: "6000", 14: "0.50"},
			// the library's load figures still come from the HTTP run
			"library": {9: "4624", 13: "9577"},
		},
	}, {
		name:  "with coalescing",
		input: coalesceLines,
		want: map[string]map[int]string{
			"HTTP":                {11: "2630", 13: "10439", 14: "0.62"},
			"HTTP, no coalescing": {11: "12821", 13: "2228", 14: "0.13"},
			"library":             {13: "16903", 14: "1.00"},
			// ×lib compares with the library as it comes, in the same run
			"library, coalescing": {1: "—", 7: "44.1", 11: "849", 12: "14600", 13: "14222", 14: "0.84"},
		},
	}, {
		name:  "HTTP load without sub-benchmarks is 32 clients",
		input: mainLine,
		want: map[string]map[int]string{
			"HTTP":    {7: "—", 11: "5092", 12: "22375", 13: "5140", 14: "0.40"},
			"library": {1: "—", 11: "1919", 13: "12996"},
		},
	}, {
		name:  "nothing measured",
		input: "PASS\nok  \tx\t0.1s\n",
		want: map[string]map[int]string{
			"library":         {1: "—", 14: "—"},
			"raw Redis floor": {3: "—"},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			results, err := benchtable.Parse(strings.NewReader(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			tab := benchtable.Build(results)
			if len(tab.Rows) != 6 {
				t.Fatalf("%d rows, want 6", len(tab.Rows))
			}
			for _, row := range tab.Rows {
				if len(row) != len(tab.Header) {
					t.Errorf("row %q has %d cells, header %d", row[0], len(row), len(tab.Header))
				}
				for col, want := range tc.want[row[0]] {
					if row[col] != want {
						t.Errorf("%s, column %d (%s): %q, want %q", row[0], col, tab.Header[col], row[col], want)
					}
				}
			}
			var out strings.Builder
			if err := tab.Write(&out); err != nil {
				t.Fatal(err)
			}
			if lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); len(lines) != 7 {
				t.Errorf("printed %d lines, want 7:\n%s", len(lines), out.String())
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, input string
		wantName    string
		wantPkg     string
		wantMetric  string
		wantValue   float64
		wantErr     string
	}{
		{name: "suffix stripped", input: "pkg: p\nBenchmarkGet/entities=100/views=5-2 \t 5 \t 10 ns/op \t 3.5 lib-p99-µs\n",
			wantName: "BenchmarkGet/entities=100/views=5", wantPkg: "p", wantMetric: "lib-p99-µs", wantValue: 3.5},
		{name: "GOMAXPROCS=1 has no suffix", input: "BenchmarkHTTPLoad/clients=32 \t 1 \t 10 ns/op \t 0.5 http/lib\n",
			wantName: "BenchmarkHTTPLoad/clients=32", wantMetric: "http/lib", wantValue: 0.5},
		{name: "failed benchmark skipped", input: "BenchmarkX-2 --- FAIL: BenchmarkX\n"},
		{name: "odd fields", input: "BenchmarkX-2 \t 1 \t 10 ns/op \t 3\n", wantErr: "odd number"},
		{name: "bad value", input: "BenchmarkX-2 \t 1 \t 10 ns/op \t x lib-p50-µs\n", wantErr: "lib-p50-µs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := benchtable.Parse(strings.NewReader(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantName == "" {
				if len(res) != 0 {
					t.Fatalf("results %+v, want none", res)
				}
				return
			}
			if len(res) != 1 || res[0].Name != tc.wantName || res[0].Pkg != tc.wantPkg || res[0].Metrics[tc.wantMetric] != tc.wantValue {
				t.Fatalf("results %+v, want %s (pkg %q) with %s = %v", res, tc.wantName, tc.wantPkg, tc.wantMetric, tc.wantValue)
			}
		})
	}
}
