package workflows_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/trainingset"
	"github.com/skewfree/skewfree/trainingset/bqjoin"
	"github.com/skewfree/skewfree/workflows"
)

// The history the workflow writes to BigQuery answers training sets
// exactly as the Parquet history does, with and without --as-known-at:
// three daily windows, then a correction of the middle one from changed
// source data, run through MaterializeWorkflow with the real activities;
// then the same entity rows joined by the local engine and by BigQuery.
// Label times fall before a window is available, between availability
// and publication, after publication and after the correction, so the
// versions' publication times (the _published table) decide answers.
func TestBigQueryTrainingSetEqualsLocal(t *testing.T) {
	ctx := context.Background()
	redis := testenv.StartRedis(t)
	bq := testenv.StartBigQuery(t, "skewfree-test", "history")
	dir := t.TempDir()
	cfg := app.Config{RedisURL: redis.URL(), Offline: "file://" + filepath.Join(dir, "offline"), Source: "file://" + filepath.Join(dir, "raw"),
		RedisPrefix: "bqeq", Logger: slog.New(slog.DiscardHandler), BigQuery: bq.Project + "." + bq.Dataset, BigQueryEndpoint: bq.URL}
	reg := checkedDemo(t, nil, features.CheckPolicy{}, 0)
	stores, err := app.OpenStores(ctx, reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stores.Close()
	d0 := time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)
	frames, err := demo.Generate(demo.GenOptions{Users: 30, Products: 10, Days: 4, Start: d0, OrdersPerUserDay: 2})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := reg.Source("orders")
	if _, err := stores.Sources.Write(ctx, src, frames["orders"]); err != nil {
		t.Fatal(err)
	}
	v, _ := reg.View("user_orders")
	run := func(end, at time.Time) {
		t.Helper()
		env := newEnv()
		env.RegisterActivity(app.Activities(reg, stores, cfg.Logger))
		env.RegisterWorkflow(workflows.MaterializeWorkflow)
		env.SetStartTime(at)
		env.ExecuteWorkflow(workflows.MaterializeWorkflow, workflows.InputFor(v, end))
		if err := env.GetWorkflowError(); err != nil {
			t.Fatalf("window %s: %v", end, err)
		}
	}
	e1, e2, e3 := d0.Add(2*day), d0.Add(3*day), d0.Add(4*day)
	for _, e := range []time.Time{e1, e2, e3} {
		run(e, e.Add(3*time.Hour)) // published 3h after the window, 1h after lateness
	}
	// The source changes (a second copy of the events: every count
	// doubles) and the middle window is run again a day later.
	if _, err := stores.Sources.Write(ctx, src, frames["orders"]); err != nil {
		t.Fatal(err)
	}
	run(e2, e2.Add(30*time.Hour))

	var csv strings.Builder
	csv.WriteString("user_id,event_timestamp,label\n")
	offsets := []time.Duration{time.Hour, 2*time.Hour + 30*time.Minute, 4 * time.Hour, 29 * time.Hour, 31 * time.Hour}
	for u := range 5 {
		for i, off := range offsets {
			fmt.Fprintf(&csv, "%s,%s,%d\n", demo.UserID(u*3), e2.Add(off).Format(time.RFC3339), u*10+i)
		}
	}
	ents := filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(ents, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var refs []features.FeatureRef
	for _, f := range v.Features() {
		refs = append(refs, features.FeatureRef{View: v.Name, Feature: f.Name})
	}
	for _, asKnownAt := range []bool{false, true} {
		local := filepath.Join(dir, fmt.Sprintf("local-%v.parquet", asKnownAt))
		if _, err := trainingset.Build(ctx, reg, stores.Offline, trainingset.Options{Entities: ents, Features: refs, Out: local, AsKnownAt: asKnownAt}); err != nil {
			t.Fatal(err)
		}
		remote := filepath.Join(dir, fmt.Sprintf("bq-%v.parquet", asKnownAt))
		_, err := bqjoin.Build(ctx, bq.Client, bqjoin.Dataset{Project: bq.Project, Name: bq.Dataset}, reg,
			bqjoin.Options{Entities: ents, Features: refs, Out: remote, AsKnownAt: asKnownAt})
		if err != nil {
			t.Fatalf("as-known-at %v: %v", asKnownAt, err)
		}
		nonNull := 0
		for _, f := range v.Features() {
			name := v.Name + "__" + f.Name
			want, got := outColumn(t, local, name, f.Type), outColumn(t, remote, name, f.Type)
			if want.Len() != 25 || got.Len() != want.Len() {
				t.Fatalf("as-known-at %v %s: %d rows on BigQuery, %d local, want 25", asKnownAt, name, got.Len(), want.Len())
			}
			for r := range want.Len() {
				if !got.Value(r).Equal(want.Value(r)) {
					t.Errorf("as-known-at %v row %d %s: BigQuery %s, local %s", asKnownAt, r, name, got.Value(r), want.Value(r))
				}
				if want.Valid[r] {
					nonNull++
				}
			}
		}
		if nonNull == 0 {
			t.Fatalf("as-known-at %v: every value is null: the comparison proves nothing", asKnownAt)
		}
	}
	// The two joins differ from each other (the correction is visible
	// to the plain join before it was published): the history's versions
	// and publication times are what the BigQuery side got right.
	f0 := v.Features()[0]
	plain := outColumn(t, filepath.Join(dir, "local-false.parquet"), v.Name+"__"+f0.Name, f0.Type)
	known := outColumn(t, filepath.Join(dir, "local-true.parquet"), v.Name+"__"+f0.Name, f0.Type)
	differ := false
	for r := range plain.Len() {
		differ = differ || !plain.Value(r).Equal(known.Value(r))
	}
	if !differ {
		t.Fatal("--as-known-at and the plain join agree on every row: the fixture does not exercise publication times")
	}
}

// outColumn reads one column of a training set.
func outColumn(t *testing.T, path, name string, typ features.Type) *features.Column {
	t.Helper()
	f, err := parquet.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var col *features.Column
	for _, rg := range f.RowGroups() {
		if col, err = f.ReadColumn(rg, name, typ, col); err != nil {
			t.Fatalf("%s %s: %v", path, name, err)
		}
	}
	return col
}
