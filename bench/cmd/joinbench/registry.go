package main

import (
	"time"

	"github.com/skewfree/skewfree/features"
)

// Names of the benchmark's definitions and columns.
const (
	viewName    = "user_orders"
	joinKey     = "user_id"
	labelColumn = "label"

	featOrders   = "orders_7d"     // int64, never null
	featSpend    = "spend_mean_7d" // float64, null when the user had no orders
	featCategory = "last_category" // string, null when no order had a category
)

// featureNames lists the view's features in the order the join requests them.
var featureNames = []string{featOrders, featSpend, featCategory}

// newRegistry defines the benchmark's one view. The source is only a
// definition (it fixes the feature types); nothing reads it: the history is
// generated straight into the offline store.
func newRegistry(ttl time.Duration) (*features.Registry, error) {
	reg := features.NewRegistry()
	err := reg.Register(
		&features.Entity{Name: "user", JoinKey: joinKey, KeyType: features.Int64, Description: "a customer"},
		&features.Source{
			Name:           "orders",
			Description:    "raw orders (never read by the benchmark)",
			Path:           "orders",
			TimestampField: "order_ts",
			Fields: []features.Field{
				{Name: joinKey, Type: features.Int64},
				{Name: "amount", Type: features.Float64},
				{Name: "category", Type: features.String},
			},
		},
		&features.View{
			Name:        viewName,
			Entity:      "user",
			Source:      "orders",
			Cadence:     features.Daily,
			TTL:         ttl,
			Owner:       "bench",
			Description: "join benchmark view: order count, mean spend and last category per user",
			Aggregations: []features.Aggregation{
				{Name: featOrders, Kind: features.Count, Window: 7 * 24 * time.Hour},
				{Name: featSpend, Kind: features.Mean, Column: "amount", Window: 7 * 24 * time.Hour},
				{Name: featCategory, Kind: features.Last, Column: "category", Window: 30 * 24 * time.Hour},
			},
		},
	)
	if err != nil {
		return nil, err
	}
	return reg, nil
}

// viewFeatures returns the view's features in featureNames order.
func viewFeatures(reg *features.Registry) []features.Feature {
	v, _ := reg.View(viewName)
	out := make([]features.Feature, len(featureNames))
	for i, n := range featureNames {
		out[i], _ = v.Feature(n)
	}
	return out
}
