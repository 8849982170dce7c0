package features_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/features"
)

// checkedView has a number (spend), a count (cnt), a string (last_s) and a
// bool (flag) feature to hang checks on.
func checkedView(checks ...features.Check) *features.View {
	return &features.View{Name: "v", Entity: "user", Source: "ev", Cadence: features.Daily, Owner: "o", Description: "d",
		Aggregations: []features.Aggregation{
			{Name: "cnt", Kind: features.Count, Window: 24 * time.Hour},
			{Name: "spend", Kind: features.Sum, Column: "x", Window: 24 * time.Hour},
			{Name: "last_s", Kind: features.Last, Column: "s", Window: 24 * time.Hour},
			{Name: "flag", Kind: features.Last, Column: "b", Window: 24 * time.Hour},
		},
		Checks: checks}
}

func TestRegisterRejectsBadChecks(t *testing.T) {
	cases := []struct {
		name   string
		checks []features.Check
		policy features.CheckPolicy
		want   string
	}{
		{"unknown feature", []features.Check{features.MaxNullRate("ghost", 0.1)}, features.CheckPolicy{},
			`view "v": check max_null_rate 0.1 on feature "ghost": view has no feature "ghost"`},
		{"range on a string", []features.Check{features.Range("last_s", 0, 1)}, features.CheckPolicy{},
			`view "v": check range [0, 1] on feature "last_s": feature "last_s" is string: the check needs a number`},
		{"mean change on a bool", []features.Check{features.MaxMeanChange("flag", 0.5)}, features.CheckPolicy{},
			`on feature "flag": feature "flag" is bool`},
		{"null rate above 1", []features.Check{features.MaxNullRate("spend", 1.5)}, features.CheckPolicy{},
			`check max_null_rate 1.5 on feature "spend": null rate 1.5 outside [0, 1]`},
		{"negative null rate", []features.Check{features.MaxNullRate("spend", -0.1)}, features.CheckPolicy{}, `null rate -0.1 outside [0, 1]`},
		{"NaN null rate", []features.Check{features.MaxNullRate("spend", math.NaN())}, features.CheckPolicy{}, `outside [0, 1]`},
		{"min above max", []features.Check{features.Range("spend", 10, 1)}, features.CheckPolicy{},
			`check range [10, 1] on feature "spend": bounds [10, 1] are not finite numbers with min <= max`},
		{"infinite range", []features.Check{features.Range("spend", 0, math.Inf(1))}, features.CheckPolicy{}, `are not finite numbers`},
		{"negative rows", []features.Check{features.MinRows(-1)}, features.CheckPolicy{}, `view "v": check min_rows -1: row count -1 is not a whole number >= 0`},
		{"negative change", []features.Check{features.MaxRowCountChange(-0.5)}, features.CheckPolicy{}, `relative change -0.5 is not a finite number >= 0`},
		{"mean change of unknown feature", []features.Check{features.MaxMeanChange("nope", 0.5)}, features.CheckPolicy{}, `view has no feature "nope"`},
		{"view-level check with a feature", []features.Check{{Kind: features.CheckMinRows, Feature: "spend", Limit: 1}}, features.CheckPolicy{},
			`is a view-level check: it takes no feature`},
		{"feature check without a feature", []features.Check{{Kind: features.CheckMaxNullRate, Limit: 0.1}}, features.CheckPolicy{}, `needs a feature`},
		{"unknown kind", []features.Check{{Kind: "median", Feature: "spend"}}, features.CheckPolicy{}, `unknown check kind "median"`},
		{"push online what is discarded", nil, features.CheckPolicy{DiscardOffline: true, PushOnline: true},
			`view "v": OnCheckFailure cannot push online a version it discards offline`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := testRegistry(t)
			v := checkedView(c.checks...)
			v.OnCheckFailure = c.policy
			err := reg.Register(v)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Register error = %v, want it to contain %q", err, c.want)
			}
			if _, ok := reg.View("v"); ok {
				t.Fatal("a view with a bad check was registered")
			}
		})
	}
	// Good checks register, and do not change the fingerprint.
	reg := testRegistry(t, checkedView(features.MaxNullRate("spend", 0), features.MaxNullRate("last_s", 1), features.Range("cnt", 0, 1e9),
		features.MinRows(0), features.MaxMeanChange("spend", 0.5), features.MaxRowCountChange(2)))
	plain := testRegistry(t, checkedView())
	if reg.Fingerprint("v") != plain.Fingerprint("v") {
		t.Error("checks changed the fingerprint")
	}
}

func f64(x float64) *float64 { return &x }

func TestRunChecks(t *testing.T) {
	stats := []features.FeatureStats{
		{Name: "spend", Type: features.Float64, Rows: 10, Nulls: 3, Min: f64(-2), Max: f64(50), Mean: f64(12)},
		{Name: "cnt", Type: features.Int64, Rows: 10, Min: f64(0), Max: f64(7), Mean: f64(2)},
		{Name: "x_nan", Type: features.Float64, Rows: 10, NonFinite: 2, Min: f64(1), Max: f64(2), Mean: f64(1.5)},
		{Name: "all_nan", Type: features.Float64, Rows: 10, NonFinite: 10},
		{Name: "all_null", Type: features.Float64, Rows: 10, Nulls: 10},
		{Name: "empty", Type: features.Float64},
		{Name: "huge", Type: features.Float64, Rows: 10, Min: f64(1e300), Max: f64(1e300), Mean: f64(1e300)},
	}
	prev := &features.RunRecord{RowsWritten: 8, Features: []features.FeatureStats{{Name: "spend", Mean: f64(10)}, {Name: "cnt", Mean: f64(0)},
		{Name: "all_nan", Mean: f64(3)}, {Name: "all_null", Mean: f64(3)}, {Name: "empty", Mean: f64(3)}, {Name: "huge", Mean: f64(1e-300)}, {Name: "x_nan"}}}
	cases := []struct {
		name       string
		check      features.Check
		prev       *features.RunRecord
		pass       bool
		value, bnd float64
	}{
		{"null rate above", features.MaxNullRate("spend", 0.2), nil, false, 0.3, 0.2},
		{"null rate at the bound", features.MaxNullRate("spend", 0.3), nil, true, 0.3, 0.3},
		{"range below min", features.Range("spend", 0, 100), nil, false, -2, 0},
		{"range above max", features.Range("spend", -5, 10), nil, false, 50, 10},
		{"range inside", features.Range("spend", -2, 50), nil, true, 50, 50},
		{"range with NaN", features.Range("x_nan", 0, 10), nil, false, 2, 10},
		{"min rows", features.MinRows(11), nil, false, 10, 11},
		{"min rows met", features.MinRows(10), nil, true, 10, 10},
		{"mean change without previous run", features.MaxMeanChange("spend", 0.1), nil, true, 0, 0.1},
		{"mean change", features.MaxMeanChange("spend", 0.1), prev, false, 0.2, 0.1},
		{"mean change within", features.MaxMeanChange("spend", 0.2), prev, true, 0.2, 0.2},
		{"mean change from zero is absolute", features.MaxMeanChange("cnt", 1), prev, false, 2, 1},
		{"mean change of an all-NaN column", features.MaxMeanChange("all_nan", 5), prev, false, 1, 5},
		{"mean change of an all-null column", features.MaxMeanChange("all_null", 0.5), prev, false, 1, 0.5},
		{"mean change of an empty window", features.MaxMeanChange("empty", 0.5), prev, true, 0, 0.5},
		{"mean change without a previous mean", features.MaxMeanChange("x_nan", 0.5), prev, true, 0, 0.5},
		{"mean change overflowing stays finite", features.MaxMeanChange("huge", 0.5), prev, false, math.MaxFloat64, 0.5},
		{"row count change", features.MaxRowCountChange(0.2), prev, false, 0.25, 0.2},
		{"row count change within", features.MaxRowCountChange(0.25), prev, true, 0.25, 0.25},
		{"row count change without previous run", features.MaxRowCountChange(0), nil, true, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := &features.View{Checks: []features.Check{c.check}}
			rs := features.RunChecks(v, 10, stats, c.prev)
			if len(rs) != 1 {
				t.Fatalf("%d results", len(rs))
			}
			r := rs[0]
			if r.Passed != c.pass || math.Abs(r.Value-c.value) > 1e-12 || r.Bound != c.bnd || r.Check != string(c.check.Kind) || r.Feature != c.check.Feature {
				t.Fatalf("result %+v, want passed %v value %g bound %g", r, c.pass, c.value, c.bnd)
			}
			if !r.Passed && r.Message == "" {
				t.Error("a failed check has no message")
			}
		})
	}
	end := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	msg := features.CheckFailureMessage("v", end, features.FailedChecks(features.RunChecks(
		&features.View{Checks: []features.Check{features.MaxNullRate("spend", 0.2), features.MinRows(11), features.MinRows(1)}}, 10, stats, nil)))
	for _, want := range []string{"view v window 2026-11-20T00:00:00Z", "2 check(s) failed", "feature spend check max_null_rate: value 0.3, bound 0.2",
		"view check min_rows: value 10, bound 11"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

// Merging a sharded run's records gives the whole window's stats.
func TestMergeShardRecords(t *testing.T) {
	a := features.RunRecord{View: "v", Shard: 0, RowsWritten: 4, EventsRead: 10, Features: []features.FeatureStats{
		{Name: "x", Type: features.Float64, Rows: 4, Nulls: 1, NonFinite: 1, Min: f64(1), Max: f64(3), Mean: f64(2)}, // 2 finite values
		{Name: "b", Type: features.Bool, Rows: 4, Nulls: 0, TrueRatio: f64(0.5)},
	}}
	b := features.RunRecord{View: "v", Shard: 1, RowsWritten: 6, EventsRead: 5, Features: []features.FeatureStats{
		{Name: "x", Type: features.Float64, Rows: 6, Nulls: 0, Min: f64(-1), Max: f64(2), Mean: f64(5)}, // 6 finite values
		{Name: "b", Type: features.Bool, Rows: 6, Nulls: 6},
	}}
	m := features.MergeShardRecords([]features.RunRecord{a, b})
	if m.Shard != -1 || m.RowsWritten != 10 || m.EventsRead != 15 {
		t.Fatalf("merged %+v", m)
	}
	x := m.Features[0]
	if x.Rows != 10 || x.Nulls != 1 || x.NonFinite != 1 || *x.Min != -1 || *x.Max != 3 || math.Abs(*x.Mean-(2*2+5*6)/8.0) > 1e-12 {
		t.Fatalf("merged x %+v mean %v", x, *x.Mean)
	}
	if bs := m.Features[1]; bs.Nulls != 6 || *bs.TrueRatio != 0.5 {
		t.Fatalf("merged b %+v", bs)
	}
}
