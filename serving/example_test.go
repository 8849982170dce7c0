package serving_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/serving"
	redisstore "github.com/skewfree/skewfree/store/redis"
)

// Reading a feature service for two users, one of whom has no values yet.
// (An in-memory Redis stands in for a real one here.)
func Example() {
	mr, _ := miniredis.Run()
	defer mr.Close()
	client := goredis.NewClient(&goredis.Options{Addr: mr.Addr()})
	defer client.Close()
	ctx := context.Background()
	reg := demo.Registry()
	store, _ := redisstore.New(client, reg, redisstore.Options{})

	// A pipeline run pushes the latest rows of a view (here one hand-made row).
	asOf := time.Now().UTC().Truncate(24 * time.Hour)
	rows := &features.Frame{Key: features.NewColumn("user_id", features.String, 1), Time: []int64{features.Micros(asOf)}}
	_ = rows.Key.Append(features.StringValue("u000042"))
	v, _ := reg.View("user_orders")
	for _, f := range v.Features() {
		c := features.NewNullColumn(f.Name, f.Type, 1)
		if f.Name == "order_count_7d" {
			_ = c.Set(0, features.IntValue(3))
		}
		rows.Columns = append(rows.Columns, c)
	}
	if _, err := store.Write(ctx, "user_orders", rows); err != nil {
		fmt.Println(err)
		return
	}

	reader, _ := serving.New(reg, store, serving.Options{CacheEntries: 10_000})
	defer reader.Close()
	res, err := reader.Get(ctx, []string{"user_orders:order_count_7d", "user_orders:spend_30d"},
		serving.Entities{"user_id": serving.StringKeys("u000042", "u000043")})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, row := range res.Rows {
		for j, fv := range row {
			fmt.Printf("row %d %s: %s %s\n", i, res.Features[j], fv.Status, fv.Value)
		}
	}
	// Output:
	// row 0 user_orders:order_count_7d: PRESENT 3
	// row 0 user_orders:spend_30d: PRESENT null
	// row 1 user_orders:order_count_7d: NOT_FOUND null
	// row 1 user_orders:spend_30d: NOT_FOUND null
}
