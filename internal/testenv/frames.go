package testenv

import (
	"fmt"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

// Frame builds feature rows of view for keys (of the entity's key type),
// all with the given event and created times, filling feature j of row i
// with fill(j, i, feature). Tests and benchmarks use it to write online
// values without running a pipeline.
func Frame(tb testing.TB, reg *features.Registry, view string, keys []features.Value, event, created time.Time,
	fill func(j, i int, f features.Feature) features.Value) *features.Frame {
	tb.Helper()
	v, ok := reg.View(view)
	if !ok {
		tb.Fatalf("testenv: unknown view %q", view)
	}
	ent := reg.EntityOf(v)
	f := &features.Frame{Key: features.NewColumn(ent.JoinKey, ent.KeyType, len(keys))}
	for _, k := range keys {
		if err := f.Key.Append(k); err != nil {
			tb.Fatal(err)
		}
		f.Time = append(f.Time, features.Micros(event))
		f.Created = append(f.Created, features.Micros(created))
	}
	for j, ft := range v.Features() {
		c := features.NewColumn(ft.Name, ft.Type, len(keys))
		for i := range keys {
			if err := c.Append(fill(j, i, ft)); err != nil {
				tb.Fatal(err)
			}
		}
		f.Columns = append(f.Columns, c)
	}
	return f
}

// Sample is a fill function for Frame giving every type a non-null value
// derived from mark, feature and row, with every fifth feature null.
func Sample(mark int64) func(j, i int, f features.Feature) features.Value {
	return func(j, i int, f features.Feature) features.Value {
		if j%5 == 4 {
			return features.Null
		}
		switch f.Type {
		case features.Int64:
			return features.IntValue(mark*1000 + int64(j))
		case features.Float64:
			return features.FloatValue(float64(mark) + float64(j)/8)
		case features.String:
			return features.StringValue(fmt.Sprintf("value-%d-%d", mark, j))
		case features.Bool:
			return features.BoolValue((int(mark)+j)%2 == 1)
		}
		return features.Null
	}
}

// WideRegistry returns a registry with one string-keyed entity "user"
// (join key user_id) and views wide_0 ... wide_<views-1>, each with feats
// features cycling through int64, float64, string and bool, and TTL ttl.
// Benchmarks use it for the 5 views × 50 features shape.
func WideRegistry(views, feats int, ttl time.Duration) *features.Registry {
	r := features.NewRegistry()
	r.MustRegister(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.String},
		&features.Source{Name: "events", Path: "events", TimestampField: "ts",
			Fields: []features.Field{{Name: "user_id", Type: features.String}}},
	)
	types := []features.Type{features.Int64, features.Float64, features.String, features.Bool}
	for v := range views {
		var fs []features.Feature
		for j := range feats {
			fs = append(fs, features.Feature{Name: fmt.Sprintf("f%02d", j), Type: types[j%len(types)]})
		}
		r.MustRegister(&features.View{Name: fmt.Sprintf("wide_%d", v), Entity: "user", Source: "events",
			Cadence: features.Hourly, TTL: ttl, Owner: "bench", Description: "benchmark view",
			Func: &features.FuncTransform{Version: "v1", Features: fs,
				Fn: func(features.FuncInput, []features.Value) error { return nil }}})
	}
	return r
}
