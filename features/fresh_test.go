package features_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

// freshSetup registers a fresh view over a source with every column type,
// and aggregations of every kind, with filters and windows of several tiles.
func freshSetup(t testing.TB) (*features.Registry, *features.View) {
	t.Helper()
	w := func(m int) time.Duration { return time.Duration(m) * time.Minute }
	qtyGt2 := &features.Predicate{Column: "qty", Op: features.Gt, Value: features.IntValue(2)}
	isOK := &features.Predicate{Column: "ok", Op: features.Eq, Value: features.BoolValue(true)}
	v := &features.View{Name: "recent", Entity: "user", Source: "clicks", Cadence: features.Hourly, Owner: "o", Description: "d",
		Fresh: &features.Fresh{Tile: time.Minute, IngestDelay: 30 * time.Second},
		Aggregations: []features.Aggregation{
			{Name: "n", Kind: features.Count, Window: w(10)},
			{Name: "n_big", Kind: features.Count, Window: w(5), Where: qtyGt2},
			{Name: "sum_amt", Kind: features.Sum, Column: "amount", Window: w(10)},
			{Name: "sum_qty", Kind: features.Sum, Column: "qty", Window: w(3)},
			{Name: "mean_amt", Kind: features.Mean, Column: "amount", Window: w(10)},
			{Name: "mean_qty", Kind: features.Mean, Column: "qty", Window: w(5), Where: isOK},
			{Name: "min_amt", Kind: features.Min, Column: "amount", Window: w(10)},
			{Name: "max_amt", Kind: features.Max, Column: "amount", Window: w(4)},
			{Name: "max_cat", Kind: features.Max, Column: "cat", Window: w(10)},
			{Name: "min_qty", Kind: features.Min, Column: "qty", Window: w(2)},
			{Name: "last_cat", Kind: features.Last, Column: "cat", Window: w(10)},
			{Name: "last_amt", Kind: features.Last, Column: "amount", Window: w(5)},
			{Name: "last_ok", Kind: features.Last, Column: "ok", Window: w(10), Where: qtyGt2},
			{Name: "dc_cat", Kind: features.DistinctCount, Column: "cat", Window: w(10)},
			{Name: "dc_amt", Kind: features.DistinctCount, Column: "amount", Window: w(6), Where: isOK},
		}}
	reg := features.NewRegistry()
	if err := reg.Register(
		&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
		&features.Source{Name: "clicks", Path: "clicks", TimestampField: "ts", Fields: []features.Field{
			{Name: "user_id", Type: features.Int64}, {Name: "amount", Type: features.Float64},
			{Name: "qty", Type: features.Int64}, {Name: "cat", Type: features.String}, {Name: "ok", Type: features.Bool}}},
		v); err != nil {
		t.Fatal(err)
	}
	return reg, v
}

var freshT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// randomStream returns n events of users 1..users over about 20 minutes,
// with ingest times at or after the event times (late events up to 15
// minutes), duplicated rows, tied times, nulls and awkward floats.
func randomStream(rng *rand.Rand, n, users int) *features.Frame {
	f := &features.Frame{Columns: []*features.Column{
		features.NewColumn("user_id", features.Int64, n), features.NewColumn("amount", features.Float64, n),
		features.NewColumn("qty", features.Int64, n), features.NewColumn("cat", features.String, n),
		features.NewColumn("ok", features.Bool, n), features.NewColumn(features.IngestTimestampColumn, features.Int64, n)}}
	base := features.Micros(freshT0)
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 2.5, 1e16, -1e16, 1e-16, 3.3333333333333335, 0.1, 0.2, 0.3, 1e300, -1e300, math.NaN()}
	cats := []string{"a", "b", "c", "dd", "", "é"}
	maybe := func(v features.Value) features.Value {
		if rng.IntN(8) == 0 {
			return features.Null
		}
		return v
	}
	for i := 0; i < n; i++ {
		if i > 0 && rng.IntN(10) == 0 { // an exact duplicate of an earlier event
			j := rng.IntN(i)
			f.Time = append(f.Time, f.Time[j])
			for _, c := range f.Columns {
				c.AppendRow(c, j)
			}
			continue
		}
		var t int64
		if i > 0 && rng.IntN(6) == 0 {
			t = f.Time[rng.IntN(i)] // a tie
		} else {
			t = base + rng.Int64N(20*60_000_000)
		}
		if rng.IntN(5) == 0 {
			t -= t % 60_000_000 // exactly on a tile boundary
		}
		f.Time = append(f.Time, t)
		amount := floats[rng.IntN(len(floats))]
		if rng.IntN(3) == 0 {
			amount = rng.NormFloat64() * 100
		}
		if amount > 1e299 || amount < -1e299 {
			amount = amount / 1e290 // keep sums finite
		}
		ingest := t
		switch rng.IntN(4) {
		case 0: // at its event time
		case 1:
			ingest += rng.Int64N(15 * 60_000_000) // late
		default:
			ingest += rng.Int64N(5_000_000)
		}
		_ = f.Columns[0].Append(features.IntValue(1 + rng.Int64N(int64(users))))
		_ = f.Columns[1].Append(maybe(features.FloatValue(amount)))
		_ = f.Columns[2].Append(maybe(features.IntValue(rng.Int64N(6) - 1)))
		_ = f.Columns[3].Append(maybe(features.StringValue(cats[rng.IntN(len(cats))])))
		_ = f.Columns[4].Append(maybe(features.BoolValue(rng.IntN(2) == 0)))
		in := features.IntValue(ingest)
		if ingest == t && rng.IntN(2) == 0 {
			in = features.Null // not pushed: ingested at its event time
		}
		_ = f.Columns[5].Append(in)
	}
	return f
}

func ingestOf(f *features.Frame, r int) int64 {
	c := f.Column(features.IngestTimestampColumn)
	if c.Valid[r] {
		return c.Ints[r]
	}
	return f.Time[r]
}

// direct computes aggregation a over rows of f from its definition, with no
// code of the package: the oracle.
func direct(a features.Aggregation, typ features.Type, f *features.Frame, rows []int) features.Value {
	var vals []features.Value
	var times []int64
	for _, r := range rows {
		if a.Where != nil && !matches(a.Where, f.Column(a.Where.Column).Value(r)) {
			continue
		}
		if a.Kind == features.Count {
			vals = append(vals, features.Null)
			continue
		}
		if x := f.Column(a.Column).Value(r); !x.IsNull() {
			vals = append(vals, x)
			times = append(times, f.Time[r])
		}
	}
	isNaN := func(v features.Value) bool { return v.Type() == features.Float64 && math.IsNaN(v.Float64()) }
	switch a.Kind {
	case features.Count:
		return features.IntValue(int64(len(vals)))
	case features.Sum, features.Mean:
		if typ == features.Int64 && a.Kind == features.Sum {
			var s int64
			for _, x := range vals {
				s += x.Int64()
			}
			return features.IntValue(s)
		}
		if a.Kind == features.Mean && len(vals) == 0 {
			return features.Null
		}
		sum := new(big.Float).SetPrec(4096)
		nan := false
		for _, x := range vals {
			fx := x.Float64()
			if x.Type() == features.Int64 {
				fx = float64(x.Int64())
			}
			if math.IsNaN(fx) {
				nan = true
				continue
			}
			sum.Add(sum, new(big.Float).SetFloat64(fx))
		}
		r, _ := sum.Float64()
		if nan {
			r = math.NaN()
		}
		if a.Kind == features.Mean {
			r /= float64(len(vals))
		}
		return features.FloatValue(r)
	case features.Min, features.Max:
		var best features.Value
		for _, x := range vals {
			if isNaN(x) {
				if a.Kind == features.Min {
					return x // NaN is the smallest float
				}
				if best.IsNull() {
					best = x
				}
				continue
			}
			if best.IsNull() || isNaN(best) {
				best = x
				continue
			}
			c, _ := x.Compare(best)
			if (a.Kind == features.Min && c < 0) || (a.Kind == features.Max && c > 0) {
				best = x
			}
		}
		return best
	case features.Last:
		best := -1
		for i, x := range vals {
			if best < 0 || times[i] > times[best] || (times[i] == times[best] && tieGreater(x, vals[best])) {
				best = i
			}
		}
		if best < 0 {
			return features.Null
		}
		return vals[best]
	case features.DistinctCount:
		seen := map[string]bool{}
		for _, x := range vals {
			k := x.String()
			if x.Type() == features.Float64 && x.Float64() == 0 {
				k = "0"
			}
			seen[k] = true
		}
		return features.IntValue(int64(len(seen)))
	}
	panic("unknown kind")
}

// tieGreater is the documented tie order of last: NaN below every float,
// -0 below +0, else by value.
func tieGreater(a, b features.Value) bool {
	if a.Type() == features.Float64 {
		x, y := a.Float64(), b.Float64()
		if math.IsNaN(x) || math.IsNaN(y) {
			return !math.IsNaN(x)
		}
		if x == y {
			return !math.Signbit(x) && math.Signbit(y)
		}
	}
	c, _ := a.Compare(b)
	return c > 0
}

func matches(p *features.Predicate, v features.Value) bool {
	if v.IsNull() {
		return false
	}
	c, err := v.Compare(p.Value)
	if err != nil {
		return false
	}
	switch p.Op {
	case features.Eq:
		return c == 0
	case features.Gt:
		return c > 0
	}
	panic("operator not used in tests")
}

// directAt is the Fresh rule from its definition: the rows of key at T.
func directAt(v *features.View, f *features.Frame, key int64, T int64, visible func(r int) int64) []features.Value {
	feats := v.Features()
	out := make([]features.Value, len(v.Aggregations))
	tile := v.Fresh.Tile.Microseconds()
	floorT := T - ((T%tile)+tile)%tile
	for i, a := range v.Aggregations {
		var rows []int
		for r := range f.Time {
			if f.Columns[0].Ints[r] == key && f.Time[r] >= floorT-a.Window.Microseconds() && visible(r) <= T {
				rows = append(rows, r)
			}
		}
		out[i] = direct(a, feats[i].Type, f, rows)
	}
	return out
}

func sameValues(t *testing.T, what string, got, want []features.Value, feats []features.Feature) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("%s: %s = %s, want %s", what, feats[i].Name, got[i], want[i])
		}
	}
}

// TestTileStateMergeAnyGrouping: adding events to one state, or to many
// states merged in any grouping and order (some through an encode/decode
// round trip), gives the same values, and those are the definition's.
func TestTileStateMergeAnyGrouping(t *testing.T) {
	_, v := freshSetup(t)
	feats := v.Features()
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 11))
		f := randomStream(rng, 1+rng.IntN(120), 1)
		whole := features.NewTileState(v)
		if err := whole.AddEvents(v, f, nil); err != nil {
			t.Fatal(err)
		}
		all := make([]int, f.Len())
		for i := range all {
			all[i] = i
		}
		want := make([]features.Value, len(v.Aggregations))
		for i, a := range v.Aggregations {
			want[i] = direct(a, feats[i].Type, f, all)
		}
		sameValues(t, "one state", whole.Values(v), want, feats)

		// Random groups, merged pairwise in random order.
		perm := rng.Perm(f.Len())
		var parts []*features.TileState
		for len(perm) > 0 {
			k := 1 + rng.IntN(len(perm))
			st := features.NewTileState(v)
			if err := st.AddEvents(v, f, perm[:k]); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(2) == 0 {
				st = roundTrip(t, v, st)
			}
			parts = append(parts, st)
			perm = perm[k:]
		}
		for len(parts) > 1 {
			i, j := rng.IntN(len(parts)), rng.IntN(len(parts)-1)
			if j >= i {
				j++
			}
			if err := parts[i].Merge(parts[j]); err != nil {
				t.Fatal(err)
			}
			parts = slices.Delete(parts, j, j+1)
		}
		sameValues(t, "merged", parts[0].Values(v), want, feats)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}

func roundTrip(t *testing.T, v *features.View, st *features.TileState) *features.TileState {
	t.Helper()
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := features.UnmarshalTileState(v, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// buildTiles groups the events of key ingested by T into tiles, several
// partial states per tile (as several push requests make), merged.
func buildTiles(t *testing.T, rng *rand.Rand, v *features.View, f *features.Frame, key, T int64) map[int64]*features.TileState {
	byTile := map[int64][]int{}
	for r := range f.Time {
		if f.Columns[0].Ints[r] == key && ingestOf(f, r) <= T {
			ts := features.TileStart(v, f.Time[r])
			byTile[ts] = append(byTile[ts], r)
		}
	}
	tiles := map[int64]*features.TileState{}
	for ts, rows := range byTile {
		st := features.NewTileState(v)
		for len(rows) > 0 {
			k := 1 + rng.IntN(len(rows))
			part := features.NewTileState(v)
			if err := part.AddEvents(v, f, rows[:k]); err != nil {
				t.Fatal(err)
			}
			if err := st.Merge(roundTrip(t, v, part)); err != nil {
				t.Fatal(err)
			}
			rows = rows[k:]
		}
		tiles[ts] = st
	}
	return tiles
}

// TestFreshValuesMatchDefinition: FreshValues at random instants over tiles
// of the events ingested by then equals the rule computed from its
// definition.
func TestFreshValuesMatchDefinition(t *testing.T) {
	_, v := freshSetup(t)
	feats := v.Features()
	for seed := range uint64(150) {
		rng := rand.New(rand.NewPCG(seed, 12))
		f := randomStream(rng, 1+rng.IntN(150), 2)
		for range 8 {
			T := features.Micros(freshT0) + rng.Int64N(40*60_000_000) - 5*60_000_000
			if rng.IntN(4) == 0 {
				T -= T % 60_000_000
			}
			key := 1 + rng.Int64N(2)
			got := features.FreshValues(v, features.FromMicros(T), buildTiles(t, rng, v, f, key, T))
			want := directAt(v, f, key, T, func(r int) int64 { return ingestOf(f, r) })
			sameValues(t, "FreshValues", got, want, feats)
			if t.Failed() {
				t.Fatalf("seed %d, key %d, T %s", seed, key, features.FromMicros(T))
			}
		}
	}
}

// TestFreshAsOfIsFreshValuesOverTiles is the library-level no-skew
// property: the training value of an entity row at T (as known at T) is
// what FreshValues returns over the tiles the push would have built by T,
// and by default the rule with visibility at event time + IngestDelay.
func TestFreshAsOfIsFreshValuesOverTiles(t *testing.T) {
	_, v := freshSetup(t)
	feats := v.Features()
	delay := v.Fresh.IngestDelay.Microseconds()
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 13))
		f := randomStream(rng, rng.IntN(200), 3)
		n := 1 + rng.IntN(40)
		keys := features.NewColumn("user_id", features.Int64, n)
		times := make([]int64, n)
		for i := range n {
			if rng.IntN(15) == 0 {
				_ = keys.Append(features.Null)
			} else {
				_ = keys.Append(features.IntValue(1 + rng.Int64N(4))) // user 4 has no events
			}
			times[i] = features.Micros(freshT0) + rng.Int64N(40*60_000_000) - 5*60_000_000
			if i > 0 && rng.IntN(5) == 0 {
				times[i] = times[rng.IntN(i)]
			}
		}
		for _, asKnownAt := range []bool{true, false} {
			cols, err := features.FreshAsOf(v, "user_id", f, keys, times, features.FreshJoinOptions{AsKnownAt: asKnownAt})
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				got := make([]features.Value, len(cols))
				for c := range cols {
					got[c] = cols[c].Value(i)
				}
				if !keys.Valid[i] {
					sameValues(t, "null key", got, make([]features.Value, len(cols)), feats)
					continue
				}
				k := keys.Ints[i]
				var want []features.Value
				if asKnownAt {
					want = features.FreshValues(v, features.FromMicros(times[i]), buildTiles(t, rng, v, f, k, times[i]))
				} else {
					want = directAt(v, f, k, times[i], func(r int) int64 { return f.Time[r] + delay })
				}
				sameValues(t, "FreshAsOf", got, want, feats)
				if t.Failed() {
					t.Fatalf("seed %d, as known at %v, row %d (key %d at %s)", seed, asKnownAt, i, k, features.FromMicros(times[i]))
				}
			}
		}
	}
}

// TestFreshBatchWindowMatchesTiles: a fresh view's batch window ending at E
// holds what FreshValues at E gives once every event is ingested.
func TestFreshBatchWindowMatchesTiles(t *testing.T) {
	reg, v := freshSetup(t)
	feats := v.Features()
	rng := rand.New(rand.NewPCG(5, 5))
	f := randomStream(rng, 400, 3)
	for i := range f.Time { // around the hour
		f.Time[i] += (45 * time.Minute).Microseconds()
	}
	end := freshT0.Add(time.Hour)
	out, err := features.Compute(reg, v, f, end, end)
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() == 0 {
		t.Fatal("no rows")
	}
	for i := range out.Len() {
		k := out.Key.Ints[i]
		tiles := buildTiles(t, rng, v, f, k, math.MaxInt64)
		// Events at E or later belong to later windows.
		for ts := range tiles {
			if ts >= features.Micros(end) {
				delete(tiles, ts)
			}
		}
		want := features.FreshValues(v, end, tiles)
		got := make([]features.Value, len(out.Columns))
		for c := range out.Columns {
			got[c] = out.Columns[c].Value(i)
		}
		sameValues(t, "batch window", got, want, feats)
	}
}

// TestFreshDistinctSketch: past the exact range, the distinct count is a
// sketch whose estimate does not depend on how tiles were grouped, and is
// close to the truth.
func TestFreshDistinctSketch(t *testing.T) {
	_, v := freshSetup(t)
	i := slices.IndexFunc(v.Aggregations, func(a features.Aggregation) bool { return a.Name == "dc_cat" })
	for _, n := range []int{10, 256, 257, 1000, 20000} {
		f := &features.Frame{Columns: []*features.Column{features.NewColumn("amount", features.Float64, 0),
			features.NewColumn("qty", features.Int64, 0), features.NewColumn("cat", features.String, 0),
			features.NewColumn("ok", features.Bool, 0)}}
		for j := range 2 * n { // every value twice
			f.Time = append(f.Time, features.Micros(freshT0))
			_ = f.Columns[0].Append(features.FloatValue(1))
			_ = f.Columns[1].Append(features.IntValue(1))
			_ = f.Columns[2].Append(features.StringValue("v" + strings.Repeat("x", j%n%3) + itoa(j%n)))
			_ = f.Columns[3].Append(features.BoolValue(true))
		}
		one := features.NewTileState(v)
		if err := one.AddEvents(v, f, nil); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		merged := features.NewTileState(v)
		perm := rng.Perm(f.Len())
		for len(perm) > 0 {
			k := 1 + rng.IntN(len(perm))
			part := features.NewTileState(v)
			if err := part.AddEvents(v, f, perm[:k]); err != nil {
				t.Fatal(err)
			}
			if err := merged.Merge(roundTrip(t, v, part)); err != nil {
				t.Fatal(err)
			}
			perm = perm[k:]
		}
		a, b := one.Values(v)[i].Int64(), merged.Values(v)[i].Int64()
		if a != b {
			t.Errorf("%d distinct: one state estimates %d, merged %d", n, a, b)
		}
		if n <= 256 && a != int64(n) {
			t.Errorf("%d distinct: estimate %d, want exact", n, a)
		}
		if rel := math.Abs(float64(a)-float64(n)) / float64(n); rel > 0.06 {
			t.Errorf("%d distinct: estimate %d is %.1f%% off", n, a, 100*rel)
		}
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func TestRegisterFreshRejects(t *testing.T) {
	base := func(mod func(v *features.View)) *features.View {
		v := &features.View{Name: "fv", Entity: "user", Source: "clicks", Cadence: features.Hourly, Owner: "o", Description: "d",
			Fresh:        &features.Fresh{Tile: time.Minute},
			Aggregations: []features.Aggregation{{Name: "n", Kind: features.Count, Window: 10 * time.Minute}}}
		mod(v)
		return v
	}
	cases := []struct {
		name string
		view *features.View
		want string // "" = accepted
	}{
		{"valid", base(func(*features.View) {}), ""},
		{"valid 5m tile, delay", base(func(v *features.View) { v.Fresh = &features.Fresh{Tile: 5 * time.Minute, IngestDelay: time.Minute} }), ""},
		{"func", base(func(v *features.View) {
			v.Func = &features.FuncTransform{Version: "1", Fn: func(features.FuncInput, []features.Value) error { return nil }}
		}), `view "fv": a fresh view takes only declarative aggregations`},
		{"zero tile", base(func(v *features.View) { v.Fresh.Tile = 0 }), `fresh tile 0s invalid: want a whole number of seconds, at least 1s`},
		{"sub-second tile", base(func(v *features.View) { v.Fresh.Tile = 1500 * time.Millisecond }), `fresh tile 1.5s invalid`},
		{"tile not dividing the cadence", base(func(v *features.View) { v.Fresh.Tile = 7 * time.Minute }), `fresh tile 7m0s does not divide the hourly cadence`},
		{"window not a multiple of the tile", base(func(v *features.View) {
			v.Fresh.Tile = 2 * time.Minute
			v.Aggregations[0].Window = 5 * time.Minute
		}), `feature n: window 5m0s is not a multiple of the fresh tile 2m0s`},
		{"too many tiles", base(func(v *features.View) {
			v.Fresh.Tile = time.Second
			v.Aggregations[0].Window = 3 * time.Hour
		}), `feature n: window 3h0m0s holds 10800 tiles of 1s, more than 10080`},
		{"negative delay", base(func(v *features.View) { v.Fresh.IngestDelay = -time.Second }), `fresh ingest delay -1s out of range`},
		{"delay too long", base(func(v *features.View) { v.Fresh.IngestDelay = 25 * time.Hour }), `fresh ingest delay 25h0m0s out of range`},
		{"source declares ingest_timestamp", base(func(v *features.View) { v.Source = "logged" }), `source logged declares a field "ingest_timestamp"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := features.NewRegistry()
			reg.MustRegister(&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
				&features.Source{Name: "clicks", Path: "clicks", TimestampField: "ts", Fields: []features.Field{{Name: "user_id", Type: features.Int64}}},
				&features.Source{Name: "logged", Path: "logged", TimestampField: "ts", Fields: []features.Field{{Name: "user_id", Type: features.Int64}, {Name: "ingest_timestamp", Type: features.Int64}}})
			err := reg.Register(c.view)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want error %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestFreshFingerprint: a fresh view's fingerprint covers its tile and
// delay; declaring a view fresh changes it.
func TestFreshFingerprint(t *testing.T) {
	print := func(fr *features.Fresh) string {
		reg := features.NewRegistry()
		reg.MustRegister(&features.Entity{Name: "user", JoinKey: "user_id", KeyType: features.Int64},
			&features.Source{Name: "clicks", Path: "clicks", TimestampField: "ts", Fields: []features.Field{{Name: "user_id", Type: features.Int64}}},
			&features.View{Name: "fv", Entity: "user", Source: "clicks", Cadence: features.Hourly, Owner: "o", Description: "d", Fresh: fr,
				Aggregations: []features.Aggregation{{Name: "n", Kind: features.Count, Window: 10 * time.Minute}}})
		return reg.Fingerprint("fv")
	}
	prints := []string{print(nil), print(&features.Fresh{Tile: time.Minute}), print(&features.Fresh{Tile: 5 * time.Minute}),
		print(&features.Fresh{Tile: time.Minute, IngestDelay: time.Second})}
	for i := range prints {
		for j := range i {
			if prints[i] == prints[j] {
				t.Errorf("definitions %d and %d share fingerprint %s", i, j, prints[i])
			}
		}
	}
}

// TestTileStateRejectsMisuse: states of another view, missing or mistyped
// columns and bad rows are errors, not panics.
func TestTileStateRejectsMisuse(t *testing.T) {
	_, v := freshSetup(t)
	f := randomStream(rand.New(rand.NewPCG(1, 1)), 5, 1)
	st := features.NewTileState(v)
	if err := st.AddEvents(v, f, []int{0, 7}); err == nil || !strings.Contains(err.Error(), "row 7 out of range") {
		t.Errorf("bad row: %v", err)
	}
	bad := *f
	bad.Columns = slices.Clone(f.Columns)
	bad.Columns[1] = features.NewNullColumn("amount", features.Int64, f.Len())
	if err := st.AddEvents(v, &bad, nil); err == nil || !strings.Contains(err.Error(), `source column "amount" is int64, want float64`) {
		t.Errorf("mistyped column: %v", err)
	}
	bad.Columns = bad.Columns[2:]
	if err := st.AddEvents(v, &bad, nil); err == nil || !strings.Contains(err.Error(), `source column "amount" missing`) {
		t.Errorf("missing column: %v", err)
	}
	if vals := st.Values(v); !vals[0].Equal(features.IntValue(0)) {
		t.Errorf("a failed AddEvents added events: count %s", vals[0])
	}
	if _, err := features.UnmarshalTileState(v, []byte{9}); err == nil || !strings.Contains(err.Error(), "format 9 unknown") {
		t.Errorf("unknown format: %v", err)
	}
}

// FuzzUnmarshalTileState: no input makes decoding panic; what decodes
// re-encodes to a state with the same values.
func FuzzUnmarshalTileState(f *testing.F) {
	_, v := freshSetup(f)
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 2))
		fr := randomStream(rng, int(seed)*40, 1)
		st := features.NewTileState(v)
		_ = st.AddEvents(v, fr, nil)
		b, _ := st.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := features.UnmarshalTileState(v, b)
		if err != nil {
			return
		}
		vals := st.Values(v)
		again := roundTrip(t, v, st)
		sameValues(t, "re-encoded", again.Values(v), vals, v.Features())
		_ = features.FreshValues(v, freshT0, map[int64]*features.TileState{features.Micros(freshT0): st})
		if err := again.Merge(st); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFreshViewFromPublishedCatalog: a reader built from the published
// catalog decodes tiles written with the code's view and merges them to
// the same values.
func TestFreshViewFromPublishedCatalog(t *testing.T) {
	reg, v := freshSetup(t)
	_, doc, err := reg.PublishedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := features.RegistryFromPublished(doc)
	if err != nil {
		t.Fatal(err)
	}
	pv, _ := pub.View(v.Name)
	if pv.Fresh == nil || *pv.Fresh != *v.Fresh {
		t.Fatalf("published view's Fresh = %+v, want %+v", pv.Fresh, v.Fresh)
	}
	if pub.Fingerprint(v.Name) != reg.Fingerprint(v.Name) {
		t.Errorf("fingerprints differ")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	f := randomStream(rng, 300, 1)
	T := features.Micros(freshT0.Add(17 * time.Minute))
	tiles := buildTiles(t, rng, v, f, 1, T)
	read := map[int64]*features.TileState{}
	for ts, st := range tiles {
		b, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if read[ts], err = features.UnmarshalTileState(pv, b); err != nil {
			t.Fatal(err)
		}
	}
	sameValues(t, "published", features.FreshValues(pv, features.FromMicros(T), read),
		features.FreshValues(v, features.FromMicros(T), tiles), v.Features())
}
