package features_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

func testRegistry(t *testing.T, views ...*features.View) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	err := r.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64, Description: "u"},
		&features.Source{Name: "ev", Path: "ev", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "n", Type: features.Int64},
			{Name: "x", Type: features.Float64}, {Name: "s", Type: features.String}, {Name: "b", Type: features.Bool},
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		if err := r.Register(v); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

type event struct {
	key, n int64
	t      int64
	x      float64
	s      string
	b      bool
	nullN  bool
	nullX  bool
	nullS  bool
}

func eventFrame(evs []event) *features.Frame {
	f := &features.Frame{}
	cols := map[string]*features.Column{
		"user_id": features.NewColumn("user_id", features.Int64, 0), "n": features.NewColumn("n", features.Int64, 0),
		"x": features.NewColumn("x", features.Float64, 0), "s": features.NewColumn("s", features.String, 0),
		"b": features.NewColumn("b", features.Bool, 0),
	}
	for _, e := range evs {
		f.Time = append(f.Time, e.t)
		_ = cols["user_id"].Append(features.IntValue(e.key))
		_ = cols["n"].Append(nullIf(e.nullN, features.IntValue(e.n)))
		_ = cols["x"].Append(nullIf(e.nullX, features.FloatValue(e.x)))
		_ = cols["s"].Append(nullIf(e.nullS, features.StringValue(e.s)))
		_ = cols["b"].Append(features.BoolValue(e.b))
	}
	for _, n := range []string{"user_id", "n", "x", "s", "b"} {
		f.Columns = append(f.Columns, cols[n])
	}
	return f
}

func nullIf(null bool, v features.Value) features.Value {
	if null {
		return features.Null
	}
	return v
}

// naive computes one aggregation for one key over all events, plainly.
func naive(a features.Aggregation, evs []event, key, end int64) features.Value {
	var in []event
	for _, e := range evs {
		if e.key == key && e.t >= end-a.Window.Microseconds() && e.t < end {
			if a.Where != nil {
				// The tests only filter on n > value.
				if e.nullN || e.n <= a.Where.Value.Int64() {
					continue
				}
			}
			in = append(in, e)
		}
	}
	val := func(e event) (features.Value, bool) {
		switch a.Column {
		case "n":
			return features.IntValue(e.n), !e.nullN
		case "x":
			return features.FloatValue(e.x), !e.nullX
		case "s":
			return features.StringValue(e.s), !e.nullS
		}
		return features.Null, false
	}
	switch a.Kind {
	case features.Count:
		return features.IntValue(int64(len(in)))
	case features.Sum, features.Mean:
		var isum int64
		var fsum float64
		n := 0
		for _, e := range in {
			if v, ok := val(e); ok {
				n++
				isum += v.Int64()
				if v.Type() == features.Int64 {
					fsum += float64(v.Int64())
				} else {
					fsum += v.Float64()
				}
			}
		}
		if a.Kind == features.Mean {
			if n == 0 {
				return features.Null
			}
			return features.FloatValue(fsum / float64(n))
		}
		if a.Column == "n" {
			return features.IntValue(isum)
		}
		return features.FloatValue(fsum)
	case features.Min, features.Max:
		best := features.Null
		for _, e := range in {
			if v, ok := val(e); ok {
				c, _ := v.Compare(best)
				if best.IsNull() || (a.Kind == features.Min && c < 0) || (a.Kind == features.Max && c > 0) {
					best = v
				}
			}
		}
		return best
	case features.Last:
		best, bt := features.Null, int64(math.MinInt64)
		for _, e := range in { // events are generated in time order; later index wins ties
			if v, ok := val(e); ok && e.t >= bt {
				best, bt = v, e.t
			}
		}
		return best
	case features.DistinctCount:
		seen := map[features.Value]bool{}
		for _, e := range in {
			if v, ok := val(e); ok {
				seen[v] = true
			}
		}
		return features.IntValue(int64(len(seen)))
	}
	panic("unknown kind")
}

func TestAggregationsMatchBruteForce(t *testing.T) {
	windows := []time.Duration{5 * time.Minute, time.Hour, 7 * 24 * time.Hour, 90 * 24 * time.Hour}
	labels := []string{"5m", "1h", "7d", "90d"}
	var aggs []features.Aggregation
	for wi, w := range windows {
		name := func(s string) string { return s + "_" + labels[wi] }
		aggs = append(aggs,
			features.Aggregation{Name: name("count"), Kind: features.Count, Window: w},
			features.Aggregation{Name: name("count_big_n"), Kind: features.Count, Window: w, Where: &features.Predicate{Column: "n", Op: features.Gt, Value: features.IntValue(50)}},
			features.Aggregation{Name: name("sum_n"), Kind: features.Sum, Column: "n", Window: w},
			features.Aggregation{Name: name("sum_x"), Kind: features.Sum, Column: "x", Window: w},
			features.Aggregation{Name: name("mean_n"), Kind: features.Mean, Column: "n", Window: w},
			features.Aggregation{Name: name("mean_x"), Kind: features.Mean, Column: "x", Window: w},
			features.Aggregation{Name: name("min_x"), Kind: features.Min, Column: "x", Window: w},
			features.Aggregation{Name: name("max_n"), Kind: features.Max, Column: "n", Window: w},
			features.Aggregation{Name: name("min_s"), Kind: features.Min, Column: "s", Window: w},
			features.Aggregation{Name: name("last_s"), Kind: features.Last, Column: "s", Window: w},
			features.Aggregation{Name: name("last_x"), Kind: features.Last, Column: "x", Window: w},
			features.Aggregation{Name: name("distinct_s"), Kind: features.DistinctCount, Column: "s", Window: w},
			features.Aggregation{Name: name("sum_big_x"), Kind: features.Sum, Column: "x", Window: w, Where: &features.Predicate{Column: "n", Op: features.Gt, Value: features.IntValue(50)}},
		)
	}
	v := &features.View{Name: "agg", Entity: "user", Source: "ev", Cadence: features.Hourly, Owner: "o", Description: "d", Aggregations: aggs}
	reg := testRegistry(t, v)

	rng := rand.New(rand.NewPCG(1, 2))
	end := time.Date(2026, 11, 20, 5, 0, 0, 0, time.UTC)
	endUS := features.Micros(end)
	span := (92 * 24 * time.Hour).Microseconds()
	var evs []event
	for range 3000 {
		e := event{key: rng.Int64N(40), n: rng.Int64N(100), x: rng.Float64() * 100, s: string(rune('a' + rng.IntN(8))), b: rng.IntN(2) == 0,
			nullN: rng.IntN(10) == 0, nullX: rng.IntN(10) == 0, nullS: rng.IntN(10) == 0}
		// Cluster some events near the window edges, where off-by-ones hide.
		switch rng.IntN(4) {
		case 0:
			e.t = endUS - int64(windows[rng.IntN(len(windows))]/time.Microsecond) + rng.Int64N(3) - 1
		case 1:
			e.t = endUS - rng.Int64N(3)
		default:
			e.t = endUS - rng.Int64N(span)
		}
		evs = append(evs, e)
	}
	// Events arrive in no particular order; naive breaks ties of Last by
	// input order, as Compute's stable sort does.
	created := end.Add(3 * time.Minute)
	out, err := features.Compute(reg, v, eventFrame(evs), end, created)
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() == 0 {
		t.Fatal("no rows computed")
	}
	seen := map[int64]bool{}
	for r := 0; r < out.Len(); r++ {
		key := out.Key.Ints[r]
		seen[key] = true
		if out.Time[r] != endUS || out.Created[r] != features.Micros(created) {
			t.Fatalf("row %d: event/created timestamps %d/%d, want %d/%d", r, out.Time[r], out.Created[r], endUS, features.Micros(created))
		}
		for i, a := range aggs {
			got, want := out.Columns[i].Value(r), naive(a, evs, key, endUS)
			if !closeEnough(got, want) {
				t.Errorf("key %d %s: got %s, want %s", key, a.Name, got, want)
			}
		}
	}
	// Every key with an event in the input range got a row; none other did.
	from := features.Micros(features.Window(v, end))
	active := map[int64]bool{}
	for _, e := range evs {
		if e.t >= from && e.t < endUS {
			active[e.key] = true
			if !seen[e.key] {
				t.Errorf("key %d has events in the window but no row", e.key)
			}
		}
	}
	for key := range seen {
		if !active[key] {
			t.Errorf("key %d got a row without an event in the input range", key)
		}
	}
}

func closeEnough(a, b features.Value) bool {
	if a.Type() == features.Float64 && b.Type() == features.Float64 {
		return math.Abs(a.Float64()-b.Float64()) <= 1e-9*math.Max(1, math.Abs(b.Float64()))
	}
	return a.Equal(b)
}

func TestComputeEmitsZeroRowWhenEventsLeaveWindow(t *testing.T) {
	v := &features.View{Name: "daily", Entity: "user", Source: "ev", Cadence: features.Daily, TTL: 48 * time.Hour, Owner: "o", Description: "d",
		Aggregations: []features.Aggregation{
			{Name: "cnt_1d", Kind: features.Count, Window: 24 * time.Hour},
			{Name: "mean_x_1d", Kind: features.Mean, Column: "x", Window: 24 * time.Hour},
			{Name: "last_s_1d", Kind: features.Last, Column: "s", Window: 24 * time.Hour},
		}}
	reg := testRegistry(t, v)
	ev := eventFrame([]event{{key: 7, t: features.Micros(t0.Add(10 * time.Hour)), x: 3, s: "q"}})
	cases := []struct {
		end     time.Time
		wantRow bool
		cnt     int64
		mean    features.Value
		last    features.Value
	}{
		{t0.Add(24 * time.Hour), true, 1, features.FloatValue(3), features.StringValue("q")},
		{t0.Add(48 * time.Hour), true, 0, features.Null, features.Null}, // left the window: one zero row
		{t0.Add(72 * time.Hour), false, 0, features.Null, features.Null},
	}
	for _, c := range cases {
		out, err := features.Compute(reg, v, ev, c.end, c.end)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Len() == 1; got != c.wantRow {
			t.Fatalf("end %s: rows %d, want row %v", c.end, out.Len(), c.wantRow)
		}
		if !c.wantRow {
			continue
		}
		if got := out.Columns[0].Value(0); !got.Equal(features.IntValue(c.cnt)) {
			t.Errorf("end %s: count %s, want %d", c.end, got, c.cnt)
		}
		if got := out.Columns[1].Value(0); !got.Equal(c.mean) {
			t.Errorf("end %s: mean %s, want %s", c.end, got, c.mean)
		}
		if got := out.Columns[2].Value(0); !got.Equal(c.last) {
			t.Errorf("end %s: last %s, want %s", c.end, got, c.last)
		}
	}
}

func TestComputeRejectsBadInput(t *testing.T) {
	v := &features.View{Name: "daily", Entity: "user", Source: "ev", Cadence: features.Daily, Owner: "o", Description: "d",
		Aggregations: []features.Aggregation{{Name: "s_x", Kind: features.Sum, Column: "x", Window: 24 * time.Hour}}}
	reg := testRegistry(t, v)
	good := eventFrame([]event{{key: 1, t: features.Micros(t0)}})
	wrongType := eventFrame([]event{{key: 1, t: features.Micros(t0)}})
	wrongType.Columns[2] = features.NewColumn("x", features.String, 1)
	_ = wrongType.Columns[2].Append(features.StringValue("1"))
	noKey := eventFrame(nil)
	noKey.Columns = noKey.Columns[1:]
	cases := []struct {
		name string
		ev   *features.Frame
		end  time.Time
		want string
	}{
		{"unaligned window end", good, t0.Add(time.Hour), "not aligned"},
		{"column of the wrong type", wrongType, t0.Add(24 * time.Hour), `column "x" is string, want float64`},
		{"missing join key", noKey, t0.Add(24 * time.Hour), `no join key column "user_id"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := features.Compute(reg, v, c.ev, c.end, c.end)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// Enough entities for Compute to share the groups among goroutines: the
// result must still hold every key once, in key order, with its own values.
func TestComputeManyEntitiesInParallel(t *testing.T) {
	v := &features.View{Name: "many", Entity: "user", Source: "ev", Cadence: features.Daily, Owner: "o", Description: "d",
		Aggregations: []features.Aggregation{
			{Name: "cnt", Kind: features.Count, Window: 24 * time.Hour},
			{Name: "sum_n", Kind: features.Sum, Column: "n", Window: 24 * time.Hour},
		}}
	reg := testRegistry(t, v)
	end := t0.Add(48 * time.Hour)
	rng := rand.New(rand.NewPCG(3, 3))
	var evs []event
	wantCnt, wantSum := map[int64]int64{}, map[int64]int64{}
	for range 60_000 {
		e := event{key: rng.Int64N(20_000), n: rng.Int64N(10), t: features.Micros(end) - 1 - rng.Int64N((24 * time.Hour).Microseconds())}
		evs = append(evs, e)
		wantCnt[e.key]++
		wantSum[e.key] += e.n
	}
	out, err := features.Compute(reg, v, eventFrame(evs), end, end)
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != len(wantCnt) {
		t.Fatalf("%d rows for %d keys", out.Len(), len(wantCnt))
	}
	for i := range out.Len() {
		k := out.Key.Ints[i]
		if i > 0 && k <= out.Key.Ints[i-1] {
			t.Fatalf("row %d: key %d after %d: output not in key order", i, k, out.Key.Ints[i-1])
		}
		if out.Columns[0].Ints[i] != wantCnt[k] || out.Columns[1].Ints[i] != wantSum[k] {
			t.Fatalf("key %d: count %d sum %d, want %d %d", k, out.Columns[0].Ints[i], out.Columns[1].Ints[i], wantCnt[k], wantSum[k])
		}
	}
}
