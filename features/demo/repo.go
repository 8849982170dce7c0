// Package demo is the example feature repository of an e-commerce shop
// (users, products, orders, page views). `make dev`, the tests and the
// benchmarks all use it, so it exercises every part of the model: daily and
// hourly views, string and int64 keys, every aggregation kind, filters and a
// plain Go transform.
package demo

import (
	"time"

	"github.com/skewfree/skewfree/features"
)

const (
	day  = 24 * time.Hour
	hour = time.Hour
)

// Registry returns a fresh registry holding the demo definitions.
func Registry() *features.Registry {
	r := features.NewRegistry()
	user := &features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String,
		Description: "A shopper with an account; ids look like u000042."}
	product := &features.Entity{Name: "product", JoinKey: "product_id", KeyType: features.Int64,
		Description: "An item in the catalogue, by its numeric SKU."}

	orders := &features.Source{
		Name: "orders", Path: "orders", Table: "orders", TimestampField: "event_time",
		Description: "One row per order placed on the website or the app.",
		Fields: []features.Field{
			{Name: "order_id", Type: features.Int64, Description: "unique order number"},
			{Name: "user_id", Type: features.String, Description: "who ordered"},
			{Name: "product_id", Type: features.Int64, Description: "what was ordered"},
			{Name: "quantity", Type: features.Int64, Description: "units"},
			{Name: "amount", Type: features.Float64, Description: "order value in EUR, after discounts"},
			{Name: "status", Type: features.String, Description: "completed, cancelled or returned"},
			{Name: "channel", Type: features.String, Description: "web or app"},
		},
	}
	pageViews := &features.Source{
		Name: "page_views", Path: "page_views", Table: "page_views", TimestampField: "event_time",
		Description: "One row per product page shown to a signed-in user.",
		Fields: []features.Field{
			{Name: "user_id", Type: features.String, Description: "viewer"},
			{Name: "product_id", Type: features.Int64, Description: "product shown"},
			{Name: "dwell_seconds", Type: features.Float64, Description: "time on page; null when the tab was closed"},
			{Name: "device", Type: features.String, Description: "mobile, desktop or tablet"},
		},
	}

	completed := &features.Predicate{Column: "status", Op: features.Eq, Value: features.StringValue("completed")}
	userOrders := &features.View{
		Name: "user_orders", Entity: "user", Source: "orders", Cadence: features.Daily,
		TTL: 2 * day, Owner: "risk-team@shop.example", Lateness: 2 * hour,
		Description: "Ordering behaviour of each user over the last week and month, for fraud and churn models.",
		Tags:        map[string]string{"domain": "orders", "tier": "gold"},
		Aggregations: []features.Aggregation{
			{Name: "order_count_7d", Kind: features.Count, Window: 7 * day, Description: "orders placed in the last 7 days"},
			{Name: "order_count_30d", Kind: features.Count, Window: 30 * day, Description: "orders placed in the last 30 days"},
			{Name: "completed_orders_30d", Kind: features.Count, Window: 30 * day, Where: completed, Description: "orders in the last 30 days that were not cancelled or returned"},
			{Name: "spend_30d", Kind: features.Sum, Column: "amount", Window: 30 * day, Description: "EUR spent in the last 30 days, all statuses"},
			{Name: "avg_order_value_30d", Kind: features.Mean, Column: "amount", Window: 30 * day, Description: "mean order value over the last 30 days; null without orders"},
			{Name: "max_order_value_30d", Kind: features.Max, Column: "amount", Window: 30 * day, Description: "largest order in the last 30 days"},
			{Name: "last_order_status", Kind: features.Last, Column: "status", Window: 30 * day, Description: "status of the newest order in the last 30 days"},
			{Name: "distinct_products_30d", Kind: features.DistinctCount, Column: "product_id", Window: 30 * day, Description: "different products ordered in the last 30 days"},
		},
		Func: &features.FuncTransform{
			Version:  "v1",
			Lookback: 30 * day,
			Needs:    []string{"status"},
			Features: []features.Feature{
				{Name: "has_returned_30d", Type: features.Bool, Description: "whether any order in the last 30 days was returned"},
			},
			Fn: hasReturned,
		},
		// Data-quality checks: a run that fails one keeps its version
		// offline, flagged, and does not reach serving (the default policy).
		Checks: []features.Check{
			features.MinRows(1),
			features.Range("spend_30d", 0, 100_000),
			features.MaxNullRate("avg_order_value_30d", 0.5),
			features.MaxMeanChange("avg_order_value_30d", 0.5),
			features.MaxRowCountChange(1),
		},
	}
	userActivity := &features.View{
		Name: "user_activity", Entity: "user", Source: "page_views", Cadence: features.Hourly,
		TTL: 6 * hour, Owner: "recsys-team@shop.example",
		Description: "What each user browsed in the last hour and day, for ranking and session models.",
		Tags:        map[string]string{"domain": "browsing"},
		Aggregations: []features.Aggregation{
			{Name: "page_views_1h", Kind: features.Count, Window: hour, Description: "product pages viewed in the last hour"},
			{Name: "page_views_24h", Kind: features.Count, Window: 24 * hour, Description: "product pages viewed in the last 24 hours"},
			{Name: "distinct_products_24h", Kind: features.DistinctCount, Column: "product_id", Window: 24 * hour, Description: "different products viewed in the last 24 hours"},
			{Name: "avg_dwell_seconds_1h", Kind: features.Mean, Column: "dwell_seconds", Window: hour, Description: "mean time on page in the last hour; null if none measured"},
			{Name: "last_device", Kind: features.Last, Column: "device", Window: 24 * hour, Description: "device of the newest page view in the last 24 hours"},
			{Name: "mobile_views_24h", Kind: features.Count, Window: 24 * hour, Where: &features.Predicate{Column: "device", Op: features.Eq, Value: features.StringValue("mobile")}, Description: "page views from a phone in the last 24 hours"},
		},
		Checks: []features.Check{
			features.MaxNullRate("avg_dwell_seconds_1h", 0.95),
			features.Range("avg_dwell_seconds_1h", 0, 3600),
		},
	}
	productSales := &features.View{
		Name: "product_sales", Entity: "product", Source: "orders", Cadence: features.Daily,
		TTL: 3 * day, Owner: "merchandising@shop.example",
		Description: "How each product sells, for ranking, pricing and stock models.",
		Tags:        map[string]string{"domain": "orders"},
		Aggregations: []features.Aggregation{
			{Name: "units_sold_7d", Kind: features.Sum, Column: "quantity", Window: 7 * day, Description: "units ordered in the last 7 days"},
			{Name: "revenue_7d", Kind: features.Sum, Column: "amount", Window: 7 * day, Description: "EUR ordered in the last 7 days"},
			{Name: "orders_1d", Kind: features.Count, Window: day, Description: "orders in the last day"},
			{Name: "unique_buyers_7d", Kind: features.DistinctCount, Column: "user_id", Window: 7 * day, Description: "different users who ordered it in the last 7 days"},
			{Name: "min_order_value_7d", Kind: features.Min, Column: "amount", Window: 7 * day, Description: "smallest order value in the last 7 days"},
			{Name: "max_quantity_7d", Kind: features.Max, Column: "quantity", Window: 7 * day, Description: "largest quantity in one order in the last 7 days"},
			{Name: "large_orders_7d", Kind: features.Count, Window: 7 * day, Where: &features.Predicate{Column: "amount", Op: features.Ge, Value: features.FloatValue(100)}, Description: "orders of 100 EUR or more in the last 7 days"},
		},
		Func: &features.FuncTransform{
			Version: "v1",
			Features: []features.Feature{
				{Name: "is_bestseller", Type: features.Bool, Description: "sold 20 units or more in the last 7 days"},
			},
			Fn: func(in features.FuncInput, out []features.Value) error {
				out[0] = features.BoolValue(in.Aggregated["units_sold_7d"].Int64() >= 20)
				return nil
			},
		},
		Checks: []features.Check{
			features.Range("units_sold_7d", 0, 1_000_000),
			features.Range("revenue_7d", 0, 100_000_000),
		},
	}
	// A fresh view: pushed page views (make dev's traffic generator, or
	// POST /push) update it online within a second; training sets compute
	// the same values from the logged events (docs/format/fresh.md).
	userLive := &features.View{
		Name: "user_live", Entity: "user", Source: "page_views", Cadence: features.Hourly,
		TTL: 6 * hour, Owner: "recsys-team@shop.example",
		Description: "What each user is browsing right now: the last minutes, updated by pushed page views.",
		Tags:        map[string]string{"domain": "browsing", "freshness": "streaming"},
		Fresh:       &features.Fresh{Tile: time.Minute, IngestDelay: 2 * time.Second},
		Aggregations: []features.Aggregation{
			{Name: "page_views_5m", Kind: features.Count, Window: 5 * time.Minute, Description: "product pages viewed in the last 5 minutes, this minute included"},
			{Name: "mobile_views_5m", Kind: features.Count, Window: 5 * time.Minute, Where: &features.Predicate{Column: "device", Op: features.Eq, Value: features.StringValue("mobile")}, Description: "page views from a phone in the last 5 minutes"},
			{Name: "avg_dwell_seconds_5m", Kind: features.Mean, Column: "dwell_seconds", Window: 5 * time.Minute, Description: "mean time on page in the last 5 minutes; null if none measured"},
			{Name: "distinct_products_15m", Kind: features.DistinctCount, Column: "product_id", Window: 15 * time.Minute, Description: "different products viewed in the last 15 minutes (HyperLogLog estimate)"},
			{Name: "last_product_15m", Kind: features.Last, Column: "product_id", Window: 15 * time.Minute, Description: "product of the newest page view in the last 15 minutes"},
		},
		Checks: []features.Check{
			features.Range("page_views_5m", 0, 10_000),
			features.Range("avg_dwell_seconds_5m", 0, 3600),
		},
	}
	fraud := &features.Service{Name: "fraud_model", Owner: "risk-team@shop.example",
		Description: "Scores each checkout for fraud risk.",
		Features: []string{"user_orders:order_count_7d", "user_orders:order_count_30d", "user_orders:spend_30d",
			"user_orders:avg_order_value_30d", "user_orders:max_order_value_30d", "user_orders:has_returned_30d",
			"user_activity:page_views_1h", "user_activity:last_device"}}
	recommender := &features.Service{Name: "recommender", Owner: "recsys-team@shop.example",
		Description: "Ranks products on the home page.",
		Features: []string{"user_activity:page_views_24h", "user_activity:distinct_products_24h", "user_activity:avg_dwell_seconds_1h",
			"user_orders:distinct_products_30d", "user_orders:last_order_status",
			"product_sales:units_sold_7d", "product_sales:unique_buyers_7d", "product_sales:is_bestseller"}}
	return r.MustRegister(user, product, orders, pageViews, userOrders, userActivity, productSales, userLive, fraud, recommender)
}

func hasReturned(in features.FuncInput, out []features.Value) error {
	returned := false
	for i := range in.Rows {
		if v := in.Value(i, "status"); !v.IsNull() && v.Str() == "returned" {
			returned = true
			break
		}
	}
	out[0] = features.BoolValue(returned)
	return nil
}
