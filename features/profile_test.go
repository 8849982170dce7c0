package features_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/skewfree/skewfree/features"
)

func TestProfile(t *testing.T) {
	v := &features.View{Aggregations: nil, Func: &features.FuncTransform{Features: []features.Feature{
		{Name: "i", Type: features.Int64}, {Name: "f", Type: features.Float64}, {Name: "s", Type: features.String},
		{Name: "b", Type: features.Bool}, {Name: "nulls", Type: features.Float64}, {Name: "snulls", Type: features.String},
		{Name: "missing", Type: features.Bool},
	}}}
	col := func(name string, t features.Type, vals ...features.Value) *features.Column {
		c := features.NewColumn(name, t, len(vals))
		for _, x := range vals {
			if err := c.Append(x); err != nil {
				panic(err)
			}
		}
		return c
	}
	I, F, S, B, N := features.IntValue, features.FloatValue, features.StringValue, features.BoolValue, features.Null
	fr := &features.Frame{Time: make([]int64, 6), Columns: []*features.Column{
		col("i", features.Int64, I(3), N, I(-1), I(4), N, I(0)),
		col("f", features.Float64, F(1.5), F(math.NaN()), F(math.Inf(1)), N, F(-0.5), F(2)),
		// ties: b and c twice, a and d once, e once: order by count then value.
		col("s", features.String, S("c"), S("b"), N, S("b"), S("c"), S("a")),
		col("b", features.Bool, B(true), B(false), N, B(true), B(true), N),
		col("nulls", features.Float64, N, N, N, N, N, N),
		col("snulls", features.String, N, N, N, N, N, N),
	}}
	got := features.Profile(fr, v)
	i64 := func(n int64) *int64 { return &n }
	want := []features.FeatureStats{
		{Name: "i", Type: features.Int64, Rows: 6, Nulls: 2, Min: f64(-1), Max: f64(4), Mean: f64(1.5)},
		{Name: "f", Type: features.Float64, Rows: 6, Nulls: 1, NonFinite: 2, Min: f64(-0.5), Max: f64(2), Mean: f64(1)},
		{Name: "s", Type: features.String, Rows: 6, Nulls: 1, Distinct: i64(3),
			Top: []features.TopValue{{Value: "b", Count: 2}, {Value: "c", Count: 2}, {Value: "a", Count: 1}}},
		{Name: "b", Type: features.Bool, Rows: 6, Nulls: 2, TrueRatio: f64(0.75)},
		{Name: "nulls", Type: features.Float64, Rows: 6, Nulls: 6},
		{Name: "snulls", Type: features.String, Rows: 6, Nulls: 6, Distinct: i64(0)},
		{Name: "missing", Type: features.Bool, Rows: 6, Nulls: 6},
	}
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		t.Fatalf("profile\n got %s\nwant %s", gb, wb)
	}
	// Stats of NaN and infinite values must still encode (a run record is JSON).
	if _, err := json.Marshal(got); err != nil {
		t.Fatal(err)
	}
	// Top values are capped and their ties deterministic, whatever the map order.
	many := features.NewColumn("s", features.String, 0)
	for _, s := range []string{"g", "f", "e", "d", "c", "b", "a", "a"} {
		many.Append(S(s))
	}
	sv := &features.View{Func: &features.FuncTransform{Features: []features.Feature{{Name: "s", Type: features.String}}}}
	for range 20 {
		st := features.Profile(&features.Frame{Time: make([]int64, 8), Columns: []*features.Column{many}}, sv)[0]
		wantTop := []features.TopValue{{"a", 2}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}}
		if !reflect.DeepEqual(st.Top, wantTop) || *st.Distinct != 7 {
			t.Fatalf("top %v distinct %d", st.Top, *st.Distinct)
		}
	}
}
