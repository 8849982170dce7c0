package serving_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/serving"
	"github.com/skewfree/skewfree/serving/servedlog"
)

// BenchmarkGetServedLog measures what served-feature logging costs a Get:
// per sampling rate (0 = a logger that samples nothing, 0.01, 1), a reader
// logging at that rate against a reader without a logger, on the same keys,
// interleaved op by op so both see the same machine load. It reports p50 and
// p99 of both, the p99 ratio and the throughput ratio (logging / none), and
// the share of sampled rows the logger had to drop.
func BenchmarkGetServedLog(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	base, err := serving.New(e.reg, e.store, serving.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, rate := range []float64{0, 0.01, 1} {
		for _, entities := range []int{1, 100} {
			b.Run(fmt.Sprintf("rate=%v/entities=%d", rate, entities), func(b *testing.B) {
				l, err := servedlog.New(e.reg, servedlog.Dir(b.TempDir()), servedlog.Options{Rate: rate})
				if err != nil {
					b.Fatal(err)
				}
				logged, err := serving.New(e.reg, e.store, serving.Options{ServedLog: l})
				if err != nil {
					b.Fatal(err)
				}
				var none, with testenv.Latencies
				var tNone, tWith time.Duration
				i := 0
				for b.Loop() {
					users := make([]string, entities)
					for j := range users {
						users[j] = e.users[(i*entities+j)%len(e.users)]
					}
					i++
					ents := serving.Entities{"user_id": serving.StringKeys(users...)}
					start := time.Now()
					if _, err := base.Get(ctx, e.allRefs, ents); err != nil {
						b.Fatal(err)
					}
					d := time.Since(start)
					none.Add(d)
					tNone += d
					start = time.Now()
					if _, err := logged.Get(ctx, e.allRefs, ents); err != nil {
						b.Fatal(err)
					}
					d = time.Since(start)
					with.Add(d)
					tWith += d
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
				st := l.Stats()
				b.ReportMetric(with.Percentile(50)/1e3, "log-p50-µs")
				b.ReportMetric(with.Percentile(99)/1e3, "log-p99-µs")
				b.ReportMetric(none.Percentile(50)/1e3, "none-p50-µs")
				b.ReportMetric(none.Percentile(99)/1e3, "none-p99-µs")
				b.ReportMetric(with.Percentile(99)/none.Percentile(99), "p99-ratio")
				b.ReportMetric(tNone.Seconds()/tWith.Seconds(), "throughput-ratio")
				if sampled := st.Logged + st.Dropped; sampled > 0 {
					b.ReportMetric(float64(st.Dropped)/float64(sampled), "dropped-share")
				}
				b.ReportMetric(float64(st.Written), "rows-written")
			})
		}
	}
}
