package features_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

// BenchmarkComputeWindow is the transform of the materialize benchmark's
// window alone (activities.BenchmarkMaterializeWindow): 1M events over two
// days, 100k users, count, sum, mean and last over one day. Compare runs of
// two revisions side by side (benchstat).
func BenchmarkComputeWindow(b *testing.B) {
	const events, keys = 1_000_000, 100_000
	reg := features.NewRegistry()
	day := 24 * time.Hour
	reg.MustRegister(&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "events", Path: "events", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "amount", Type: features.Float64}, {Name: "kind", Type: features.String}}},
		&features.View{Name: "user_daily", Entity: "user", Source: "events", Cadence: features.Daily, Owner: "o", Description: "d",
			Aggregations: []features.Aggregation{
				{Name: "n_1d", Kind: features.Count, Window: day},
				{Name: "amount_1d", Kind: features.Sum, Column: "amount", Window: day},
				{Name: "avg_amount_1d", Kind: features.Mean, Column: "amount", Window: day},
				{Name: "last_kind_1d", Kind: features.Last, Column: "kind", Window: day}}})
	v, _ := reg.View("user_daily")
	end := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(5, 5))
	ev := &features.Frame{Time: make([]int64, events)}
	uid := features.NewColumn("user_id", features.Int64, events)
	amount := features.NewColumn("amount", features.Float64, events)
	kind := features.NewColumn("kind", features.String, events)
	kinds := []string{"view", "cart", "buy", "refund"}
	dayUS := day.Microseconds()
	for i := range events {
		ev.Time[i] = features.Micros(end) - 2*dayUS + int64(i)*(2*dayUS)/int64(events)
		_ = uid.Append(features.IntValue(rng.Int64N(keys)))
		_ = amount.Append(features.FloatValue(float64(rng.IntN(10000)) / 100))
		_ = kind.Append(features.StringValue(kinds[rng.IntN(len(kinds))]))
	}
	ev.Columns = []*features.Column{uid, amount, kind}
	for b.Loop() {
		if _, err := features.Compute(reg, v, ev, end, end); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
