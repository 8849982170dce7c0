package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/catalog"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/store/parquet"
)

var day0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// rec is a run record of window end e, created and published an offset after it.
func rec(view string, e time.Time, created time.Duration, published bool) features.RunRecord {
	r := features.RunRecord{View: view, WindowStart: e.Add(-24 * time.Hour), WindowEnd: e, Created: e.Add(created),
		Shard: -1, Status: features.RunOK, RowsWritten: 100, EventsRead: 400, DurationMS: 1200,
		Features: []features.FeatureStats{{Name: "spend_30d", Type: features.Float64, Rows: 100, Nulls: 10, Mean: ptr(50.0)}}}
	if published {
		r.Published = ptr(e.Add(created + time.Minute))
	}
	return r
}

func store(t *testing.T, recs ...features.RunRecord) *parquet.Store {
	t.Helper()
	s, err := parquet.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := s.WriteRunRecord(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func build(t *testing.T, runs catalog.RunLister, now time.Time) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Build(context.Background(), demo.Registry(), catalog.Options{Now: now, Runs: runs})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFeatureInWords(t *testing.T) {
	c := build(t, nil, day0)
	for _, tc := range []struct{ ref, want string }{
		{"user_orders:completed_orders_30d", "count of orders with status = completed over the last 30 days, per user, daily at 00:00 UTC + 2 h lateness"},
		{"user_orders:order_count_7d", "count of orders over the last 7 days, per user, daily at 00:00 UTC + 2 h lateness"},
		{"user_orders:spend_30d", "sum of amount over orders over the last 30 days, per user, daily at 00:00 UTC + 2 h lateness"},
		{"user_orders:avg_order_value_30d", "mean of amount over orders over the last 30 days, per user, daily at 00:00 UTC + 2 h lateness"},
		{"user_orders:last_order_status", "latest non-null status of orders over the last 30 days, per user, daily at 00:00 UTC + 2 h lateness"},
		{"user_orders:distinct_products_30d", "number of distinct product_id values in orders over the last 30 days, per user, daily at 00:00 UTC + 2 h lateness"},
		{"user_orders:has_returned_30d", "Go function (version v1) over the last 30 days of orders, per user, daily at 00:00 UTC + 2 h lateness: whether any order in the last 30 days was returned"},
		{"user_activity:page_views_1h", "count of page_views over the last hour, per user, hourly at :00 UTC, no lateness"},
		{"user_activity:page_views_24h", "count of page_views over the last day, per user, hourly at :00 UTC, no lateness"},
		{"product_sales:large_orders_7d", "count of orders with amount >= 100 over the last 7 days, per product, daily at 00:00 UTC, no lateness"},
		{"product_sales:min_order_value_7d", "minimum of amount over orders over the last 7 days, per product, daily at 00:00 UTC, no lateness"},
		{"product_sales:is_bestseller", "Go function (version v1) of the view's aggregations, per product, daily at 00:00 UTC, no lateness: sold 20 units or more in the last 7 days"},
	} {
		f, err := c.Feature(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		if f.InWords != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.ref, f.InWords, tc.want)
		}
	}
}

func TestFreshness(t *testing.T) {
	const view = "user_orders" // daily, 2 h lateness: stale 26 h after its newest window end
	now := day0.Add(10 * time.Hour)
	for _, tc := range []struct {
		name      string
		recs      []features.RunRecord
		status    string
		stale     bool
		lastEnd   time.Time
		age       time.Duration
		windows   int
		newestPub bool
	}{
		{name: "no records", status: catalog.NeverPublished, stale: true},
		{name: "recorded but never published", recs: []features.RunRecord{rec(view, day0, 3*time.Hour, false)},
			status: catalog.NeverPublished, stale: true, windows: 1},
		{name: "fresh", recs: []features.RunRecord{rec(view, day0.Add(-24*time.Hour), 3*time.Hour, true), rec(view, day0, 3*time.Hour, true)},
			status: catalog.Fresh, lastEnd: day0, age: 10 * time.Hour, windows: 2, newestPub: true},
		{name: "on the edge: 26 h is not yet stale", recs: []features.RunRecord{rec(view, now.Add(-26*time.Hour), time.Hour, true)},
			status: catalog.Fresh, lastEnd: now.Add(-26 * time.Hour), age: 26 * time.Hour, windows: 1, newestPub: true},
		{name: "stale", recs: []features.RunRecord{rec(view, day0.Add(-48*time.Hour), 3*time.Hour, true)},
			status: catalog.Stale, stale: true, lastEnd: day0.Add(-48 * time.Hour), age: 58 * time.Hour, windows: 1, newestPub: true},
		{name: "newest window never pushed: age from the one before, overdue since 02:00",
			recs:   []features.RunRecord{rec(view, day0.Add(-24*time.Hour), 3*time.Hour, true), rec(view, day0, 3*time.Hour, false)},
			status: catalog.Stale, stale: true, lastEnd: day0.Add(-24 * time.Hour), age: 34 * time.Hour, windows: 2},
		{name: "a re-run in flight keeps the published version's freshness",
			recs:   []features.RunRecord{rec(view, day0, 3*time.Hour, true), rec(view, day0, 5*time.Hour, false)},
			status: catalog.Fresh, lastEnd: day0, age: 10 * time.Hour, windows: 1},
		{name: "published long ago, before the recent windows",
			recs:   []features.RunRecord{rec(view, day0.Add(-90*24*time.Hour), time.Hour, true)},
			status: catalog.Stale, stale: true, lastEnd: day0.Add(-90 * 24 * time.Hour), age: 90*24*time.Hour + 10*time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := build(t, store(t, tc.recs...), now)
			v, err := c.View(view)
			if err != nil {
				t.Fatal(err)
			}
			f := v.Freshness
			if f.Status != tc.status || f.Stale != tc.stale {
				t.Fatalf("freshness %+v, want %s (stale %v)", f, tc.status, tc.stale)
			}
			if tc.lastEnd.IsZero() != (f.LastPublishedWindowEnd == nil) || (f.LastPublishedWindowEnd != nil && !f.LastPublishedWindowEnd.Equal(tc.lastEnd)) {
				t.Fatalf("last published window %v, want %v", f.LastPublishedWindowEnd, tc.lastEnd)
			}
			if f.Age != tc.age || f.AgeSeconds != int64(tc.age/time.Second) {
				t.Errorf("age %s (%d s), want %s", f.Age, f.AgeSeconds, tc.age)
			}
			if len(v.Runs) != tc.windows {
				t.Fatalf("%d recent windows, want %d", len(v.Runs), tc.windows)
			}
			if tc.windows > 0 && (v.Runs[0].Published != nil) != tc.newestPub {
				t.Errorf("newest run published %v, want %v", v.Runs[0].Published, tc.newestPub)
			}
			// The same rule as the worker's gauge.
			def, _ := demo.Registry().View(view)
			if _, stale := features.Age(def, tc.lastEnd, now); stale != f.Stale {
				t.Errorf("stale %v disagrees with features.Age (%v)", f.Stale, stale)
			}
		})
	}
}

// TestRunSummary checks what a window shows: the newest version, its
// shards summed, the null rate and a mean weighted by non-null rows, and
// the worst status with its checks.
func TestRunSummary(t *testing.T) {
	const view = "user_orders"
	old := rec(view, day0, time.Hour, true)
	old.RowsWritten = 999
	shard := func(i int, rows, nulls int64, mean float64, status features.RunStatus, checks ...features.CheckResult) features.RunRecord {
		r := rec(view, day0, 2*time.Hour, true)
		r.Shard, r.RowsWritten, r.Status, r.Checks = i, rows, status, checks
		r.Features = []features.FeatureStats{{Name: "spend_30d", Type: features.Float64, Rows: rows, Nulls: nulls, Mean: ptr(mean), Min: ptr(mean - 1), Max: ptr(mean + float64(i))}}
		return r
	}
	failed := features.CheckResult{Feature: "spend_30d", Check: "max_null_rate", Value: 0.5, Bound: 0.1, Passed: false, Message: "too many nulls"}
	passed := features.CheckResult{Check: "min_rows", Value: 10, Bound: 1, Passed: true}
	// As CommitShards leaves them: every shard carries the window's checks
	// and status, which count once.
	c := build(t, store(t, old, shard(0, 10, 0, 1, features.RunFlagged, passed, failed), shard(1, 30, 10, 4, features.RunFlagged, passed, failed)), day0.Add(5*time.Hour))
	v, _ := c.View(view)
	if len(v.Runs) != 1 {
		t.Fatalf("%d windows, want 1", len(v.Runs))
	}
	r := v.Runs[0]
	if r.Versions != 2 || r.Shards != 2 || r.Rows != 40 || r.Status != features.RunFlagged || r.FailedChecks != 1 || len(r.Checks) != 2 {
		t.Fatalf("run %+v", r)
	}
	fr := r.Features["spend_30d"]
	// Mean over 10 + 20 non-null values: (10*1 + 20*4) / 30 = 3.
	if fr.Rows != 40 || fr.Nulls != 10 || fr.NullRate() != 0.25 || fr.Mean == nil || *fr.Mean != 3 || *fr.Min != 0 || *fr.Max != 5 {
		t.Fatalf("feature run %+v", fr)
	}
	if got := catalog.RunChecks(r, "spend_30d"); len(got) != 2 {
		t.Errorf("checks on spend_30d and the view: %v", got)
	}
	if got := catalog.RunChecks(r, "order_count_7d"); len(got) != 1 || got[0].Check != "min_rows" {
		t.Errorf("checks on another feature: %v", got)
	}
	var b bytes.Buffer
	if err := catalog.DescribeFeature(&b, mustFeature(t, c, "spend_30d"), 5); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"25.0%", "flagged", "1/2 passed", "FAILED max_null_rate on spend_30d: value 0.5, bound 0.1 (too many nulls)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, b.String())
		}
	}
}

func mustFeature(t *testing.T, c *catalog.Catalog, name string) *catalog.Feature {
	t.Helper()
	f, err := c.Feature(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestUnknownNamesSuggestClosest(t *testing.T) {
	reg := demo.Registry()
	// A second view with a feature of the same name makes bare names ambiguous.
	if err := reg.Register(&features.View{Name: "user_orders_v2", Entity: "user", Source: "orders", Cadence: features.Daily,
		Owner: "o", Description: "d", Aggregations: []features.Aggregation{{Name: "spend_30d", Kind: features.Sum, Column: "amount", Window: 24 * time.Hour}}}); err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Build(context.Background(), reg, catalog.Options{Now: day0})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, name string
		first      string // the first suggestion
		ambiguous  bool
	}{
		{"view", "user_order", "user_orders", false},
		{"view", "prodcut_sales", "product_sales", false},
		{"view", "sales", "product_sales", false},
		{"feature", "user_orders:spend_31d", "user_orders:spend_30d", false},
		{"feature", "order_count_7", "user_orders:order_count_7d", false},
		{"feature", "spend_30d", "user_orders:spend_30d", true},
		{"service", "fraud", "fraud_model", false},
		{"service", "recomender", "recommender", false},
	} {
		var err error
		switch tc.kind {
		case "view":
			_, err = c.View(tc.name)
		case "feature":
			_, err = c.Feature(tc.name)
		case "service":
			_, err = c.Service(tc.name)
		}
		var nf *catalog.NotFoundError
		if !errors.As(err, &nf) {
			t.Fatalf("%s %q: err %v, want a NotFoundError", tc.kind, tc.name, err)
		}
		if len(nf.Closest) == 0 || nf.Closest[0] != tc.first || nf.Ambiguous != tc.ambiguous {
			t.Errorf("%s %q: closest %v (ambiguous %v), want %s first", tc.kind, tc.name, nf.Closest, nf.Ambiguous, tc.first)
		}
		if !strings.Contains(err.Error(), tc.first) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("message %q names neither the input nor the suggestion", err)
		}
	}
	if f, err := c.Feature("order_count_7d"); err != nil || f.Ref != "user_orders:order_count_7d" {
		t.Errorf("a unique bare name: %v, %v", f, err)
	}
}

// TestJSONExtendsRegistryExport: every field of the registry's catalog
// export (the --json contract) is still there with the same value; lineage
// and freshness are added.
func TestJSONExtendsRegistryExport(t *testing.T) {
	reg := demo.Registry()
	old, err := json.Marshal(reg.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	c := build(t, store(t, rec("user_orders", day0, time.Hour, true)), day0.Add(3*time.Hour))
	ext, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	if err := json.Unmarshal(old, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ext, &b); err != nil {
		t.Fatal(err)
	}
	if path, ok := subset(a, b, ""); !ok {
		t.Fatalf("extended export lost or changed %s", path)
	}
	var got struct {
		Views []struct {
			Name      string `json:"name"`
			Freshness struct {
				Status string `json:"status"`
				Stale  bool   `json:"stale"`
				Last   string `json:"last_published_window_end"`
			} `json:"freshness"`
			Lineage struct {
				Source   string   `json:"source"`
				Services []string `json:"services"`
			} `json:"lineage"`
			Features []struct {
				Ref     string `json:"ref"`
				InWords string `json:"in_words"`
			} `json:"features"`
		} `json:"views"`
		Lineage []catalog.Edge `json:"lineage"`
	}
	if err := json.Unmarshal(ext, &got); err != nil {
		t.Fatal(err)
	}
	uo := got.Views[0]
	if uo.Name != "user_orders" || uo.Freshness.Status != catalog.Fresh || uo.Freshness.Last != "2026-11-20T00:00:00Z" ||
		uo.Lineage.Source != "orders" || !reflect.DeepEqual(uo.Lineage.Services, []string{"fraud_model", "recommender"}) ||
		uo.Features[0].Ref != "user_orders:order_count_7d" || uo.Features[0].InWords == "" {
		t.Fatalf("user_orders: %+v", uo)
	}
	if got.Views[1].Freshness.Status != catalog.NeverPublished || !got.Views[1].Freshness.Stale {
		t.Errorf("user_activity freshness %+v", got.Views[1].Freshness)
	}
	want := []catalog.Edge{{From: "source:orders", To: "view:user_orders"}, {From: "view:user_orders", To: "feature:user_orders:order_count_7d"},
		{From: "feature:user_orders:order_count_7d", To: "service:fraud_model"}}
	if !reflect.DeepEqual(got.Lineage[:3], want) {
		t.Errorf("lineage starts %v, want %v", got.Lineage[:3], want)
	}
}

// subset reports whether every value in a is in b (objects may have more
// keys in b; arrays match element by element).
func subset(a, b any, path string) (string, bool) {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return path, false
		}
		for k, v := range a {
			if p, ok := subset(v, bm[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(bs) != len(a) {
			return path, false
		}
		for i := range a {
			if p, ok := subset(a[i], bs[i], path+"[]"); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(a, b)
}

func TestSearch(t *testing.T) {
	c := build(t, nil, day0)
	for _, tc := range []struct {
		q                       string
		views, feats, services  int
		firstFeature, firstView string
	}{
		{q: "", views: 4, feats: 28, services: 2},
		{q: "dwell", feats: 2, services: 1, firstFeature: "user_activity:avg_dwell_seconds_1h"},
		{q: "RISK-team", views: 1, feats: 9, services: 1, firstView: "user_orders", firstFeature: "user_orders:order_count_7d"},
		{q: "status = completed", feats: 1, firstFeature: "user_orders:completed_orders_30d"},
		{q: "nothing-like-this"},
	} {
		r := c.Search(tc.q)
		if len(r.Views) != tc.views || len(r.Features) != tc.feats || len(r.Services) != tc.services {
			t.Errorf("%q: %d views, %d features, %d services; want %d, %d, %d", tc.q, len(r.Views), len(r.Features), len(r.Services), tc.views, tc.feats, tc.services)
			continue
		}
		if tc.firstFeature != "" && r.Features[0].Ref != tc.firstFeature {
			t.Errorf("%q: first feature %s", tc.q, r.Features[0].Ref)
		}
		if tc.firstView != "" && r.Views[0].Name != tc.firstView {
			t.Errorf("%q: first view %s", tc.q, r.Views[0].Name)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	if _, err := catalog.Build(context.Background(), demo.Registry(), catalog.Options{}); err == nil || !strings.Contains(err.Error(), "Now") {
		t.Errorf("no Now: %v", err)
	}
	if _, err := catalog.Build(context.Background(), demo.Registry(), catalog.Options{Now: day0, Runs: failing{}}); err == nil || !strings.Contains(err.Error(), "user_orders") {
		t.Errorf("a failing run lister: %v", err)
	}
}

type failing struct{}

func (failing) RunRecords(context.Context, string, time.Time, time.Time) ([]features.RunRecord, error) {
	return nil, errors.New("disk on fire")
}

// A sharded run's window-level checks count once, whatever the shards; a
// half-committed run (one shard's record not yet updated) shows the worst
// status.
func TestShardChecksCountOnce(t *testing.T) {
	const view = "user_orders"
	check := []features.CheckResult{
		{Check: "min_rows", Value: 30, Bound: 1, Passed: true},
		{Feature: "spend_30d", Check: "range", Value: 1e9, Bound: 1e5, Passed: false},
	}
	for _, shards := range []int{2, 3, 5} {
		var recs []features.RunRecord
		for i := range shards {
			r := rec(view, day0, 2*time.Hour, false)
			r.Shard, r.Status, r.Checks = i, features.RunFlagged, check
			recs = append(recs, r)
		}
		c := build(t, store(t, recs...), day0.Add(5*time.Hour))
		v, _ := c.View(view)
		r := v.Runs[0]
		if r.FailedChecks != 1 || len(r.Checks) != 2 || r.Status != features.RunFlagged || r.Rows != int64(100*shards) || r.Published != nil {
			t.Errorf("%d shards: run %+v, want 1 of 2 checks failed, flagged, %d rows, unpublished", shards, r, 100*shards)
		}
		var b bytes.Buffer
		if err := catalog.DescribeView(&b, v, 5); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "1/2 passed") {
			t.Errorf("%d shards: describe counts checks per shard:\n%s", shards, b.String())
		}
	}
	// Shard 0 committed (flagged), shard 1 still says ok: flagged.
	a, b := rec(view, day0, 2*time.Hour, false), rec(view, day0, 2*time.Hour, false)
	a.Shard, a.Status, a.Checks = 0, features.RunFlagged, check
	b.Shard, b.Status = 1, ""
	v, _ := build(t, store(t, a, b), day0.Add(5*time.Hour)).View(view)
	if r := v.Runs[0]; r.Status != features.RunFlagged || r.FailedChecks != 1 {
		t.Errorf("half-committed run %+v", r)
	}
}

// A catalog judged at an instant before a version's publication does not
// count that version as published.
func TestFreshnessIgnoresLaterPublications(t *testing.T) {
	const view = "user_orders"
	r := rec(view, day0, 2*time.Hour, true) // published at day0 + 2h01
	for _, tc := range []struct {
		at    time.Time
		fresh bool
	}{
		{day0.Add(2 * time.Hour), false},
		{day0.Add(2*time.Hour + time.Minute), true},
		{day0.Add(3 * time.Hour), true},
	} {
		v, _ := build(t, store(t, r), tc.at).View(view)
		got := v.Freshness.LastPublishedWindowEnd != nil
		if got != tc.fresh || v.Freshness.Stale == tc.fresh {
			t.Errorf("at %s: freshness %+v, want published %v", tc.at, v.Freshness, tc.fresh)
		}
	}
}

// Each view's declared checks and policy are in the JSON export, describe
// and the catalog model, with the latest result next to each.
func TestDeclaredChecks(t *testing.T) {
	const view = "user_orders"
	reg := demo.Registry()
	def, _ := reg.View(view)
	r := rec(view, day0, 2*time.Hour, true)
	r.Status = features.RunFlagged
	r.Checks = features.RunChecks(def, 0, nil, nil) // min_rows fails on 0 rows
	c, err := catalog.Build(context.Background(), reg, catalog.Options{Now: day0.Add(5 * time.Hour), Runs: store(t, r)})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := c.View(view)
	if len(v.Checks) != len(def.Checks) {
		t.Fatalf("declared checks %+v, want %d", v.Checks, len(def.Checks))
	}
	for i, d := range v.Checks {
		if d.Check != def.Checks[i].String() || d.Latest == nil || d.Latest.Check != string(def.Checks[i].Kind) || !d.LatestWindowEnd.Equal(day0) {
			t.Errorf("declared check %d: %+v", i, d)
		}
	}
	if v.Checks[0].Latest.Passed || v.OnCheckFailure.Offline != "flagged" || v.OnCheckFailure.Online != "skipped" {
		t.Errorf("min_rows %+v, policy %+v", v.Checks[0].Latest, v.OnCheckFailure)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Views []struct {
			Name   string `json:"name"`
			Checks []struct {
				Check  string
				Latest *struct{ Passed bool }
			} `json:"checks"`
			Policy struct{ Offline, Online string } `json:"on_check_failure"`
		} `json:"views"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, jv := range doc.Views {
		dv, _ := reg.View(jv.Name)
		if len(jv.Checks) != len(dv.Checks) || jv.Policy.Offline == "" || jv.Policy.Online == "" {
			t.Errorf("JSON view %s: checks %+v, policy %+v", jv.Name, jv.Checks, jv.Policy)
		}
		if jv.Name == view && (jv.Checks[0].Check != "min_rows 1" || jv.Checks[0].Latest == nil || jv.Checks[0].Latest.Passed) {
			t.Errorf("JSON check %+v", jv.Checks[0])
		}
	}
	var out bytes.Buffer
	if err := catalog.DescribeFeature(&out, mustFeature(t, c, "spend_30d"), 5); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"skips the online push", "min_rows 1", `range [0, 100000] on feature "spend_30d"`, "FAILED min_rows: value 0, bound 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe feature lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "avg_order_value_30d") {
		t.Errorf("describe feature shows another feature's check:\n%s", out.String())
	}
}
