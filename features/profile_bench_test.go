package features_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
)

// BenchmarkProfileVsCompute measures what profiling a run's rows adds to a
// run: Compute is the window's transform, Profile the stats of its output.
// Report Profile as a ratio of Compute at the same size.
func BenchmarkProfileVsCompute(b *testing.B) {
	reg := demo.Registry()
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, users := range []int{1000, 10000} {
		frames, err := demo.Generate(demo.GenOptions{Users: users, Products: 200, Days: 8, Start: start})
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range []string{"user_orders", "user_activity"} {
			v, _ := reg.View(name)
			ev := frames[reg.SourceOf(v).Name]
			end := start.Add(7 * 24 * time.Hour)
			fr, err := features.Compute(reg, v, ev, end, end)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/users=%d/compute", name, users), func(b *testing.B) {
				for b.Loop() {
					if _, err := features.Compute(reg, v, ev, end, end); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(fr.Len()), "rows")
			})
			b.Run(fmt.Sprintf("%s/users=%d/profile", name, users), func(b *testing.B) {
				for b.Loop() {
					features.Profile(fr, v)
				}
				b.ReportMetric(float64(fr.Len()), "rows")
			})
		}
	}
}
