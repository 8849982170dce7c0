package features_test

import (
	"fmt"
	"time"

	"github.com/skewfree/skewfree/features"
)

// A view is Go values in a registry; Compute is the one transform every
// pipeline run, backfill and test calls.
func Example() {
	reg := features.NewRegistry()
	err := reg.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String, Description: "a shopper"},
		&features.Source{Name: "orders", Path: "orders", TimestampField: "event_time", Fields: []features.Field{
			{Name: "user_id", Type: features.String}, {Name: "amount", Type: features.Float64}}},
		&features.View{Name: "user_spend", Entity: "user", Source: "orders", Cadence: features.Daily,
			TTL: 48 * time.Hour, Owner: "risk@example.com", Description: "what each user spent",
			Aggregations: []features.Aggregation{
				{Name: "orders_1d", Kind: features.Count, Window: 24 * time.Hour, Description: "orders in the last day"},
				{Name: "spend_1d", Kind: features.Sum, Column: "amount", Window: 24 * time.Hour, Description: "EUR in the last day"},
			}},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	end := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	events := &features.Frame{Columns: []*features.Column{
		features.NewColumn("user_id", features.String, 3), features.NewColumn("amount", features.Float64, 3)}}
	for _, e := range []struct {
		user   string
		hour   int
		amount float64
	}{{"u1", 3, 10}, {"u2", 5, 7.5}, {"u1", 20, 2.5}} {
		events.Time = append(events.Time, features.Micros(end.Add(time.Duration(e.hour-24)*time.Hour)))
		_ = events.Columns[0].Append(features.StringValue(e.user))
		_ = events.Columns[1].Append(features.FloatValue(e.amount))
	}
	v, _ := reg.View("user_spend")
	out, err := features.Compute(reg, v, events, end, end.Add(time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range out.Len() {
		fmt.Println(out.Key.Value(i), features.FromMicros(out.Time[i]).Format(time.RFC3339), out.Columns[0].Value(i), out.Columns[1].Value(i))
	}
	// Output:
	// "u1" 2026-11-21T00:00:00Z 2 12.5
	// "u2" 2026-11-21T00:00:00Z 1 7.5
}
