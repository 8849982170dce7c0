package workflows_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	goredis "github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/temporal"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/app"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/features/demo"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/workflows"
)

// checkedDemo is the demo repository whose user_orders view declares
// checks (none when checks is nil), with the given policy and shards.
func checkedDemo(t *testing.T, checks []features.Check, policy features.CheckPolicy, shards int) *features.Registry {
	t.Helper()
	d := demo.Registry()
	r := features.NewRegistry()
	user, _ := d.Entity("user")
	orders, _ := d.Source("orders")
	v, _ := d.View("user_orders")
	cp := *v
	cp.Aggregations = slices.Clone(v.Aggregations)
	cp.Checks, cp.OnCheckFailure, cp.Shards = checks, policy, shards
	if err := r.Register(user, orders, &cp); err != nil {
		t.Fatal(err)
	}
	return r
}

// redisSnapshot is every key and value of a Redis.
func redisSnapshot(t *testing.T, addr string) map[string]string {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		v, err := c.Get(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// A failing check ends the run with a non-retryable CheckFailed error
// naming view, window, feature, check, value and bound, after doing what
// the view's policy allows: keep the version offline flagged (or nothing),
// and push it online or leave Redis as it was. The BigQuery history holds
// exactly what the Parquet one does: the flagged version's rows, nothing
// of a discarded run (sharded ones included), a publication only for a
// version pushed online.
func TestMaterializeCheckPolicies(t *testing.T) {
	redis := testenv.StartRedis(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	e1, e2 := today.Add(-24*time.Hour), today
	failing := []features.Check{features.MinRows(1_000_000), features.Range("spend_30d", 0, 0.01), features.MaxNullRate("order_count_7d", 1)}
	cases := []struct {
		name          string
		policy        features.CheckPolicy
		shards        int
		wantOffline   bool
		wantPublished bool
		wantStatus    features.RunStatus
	}{
		{"default: flagged offline, online skipped", features.CheckPolicy{}, 0, true, false, features.RunFlagged},
		{"default, sharded", features.CheckPolicy{}, 3, true, false, features.RunFlagged},
		{"discard: nothing written", features.CheckPolicy{DiscardOffline: true}, 0, false, false, features.RunFailed},
		{"discard, sharded", features.CheckPolicy{DiscardOffline: true}, 3, false, false, features.RunFailed},
		{"push the flagged version", features.CheckPolicy{PushOnline: true}, 0, true, true, features.RunFlagged},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			bq := testenv.StartBigQuery(t, "skewfree-test", "history")
			cfg := app.Config{RedisURL: redis.URL(), Offline: "file://" + filepath.Join(dir, "offline"), Source: "file://" + filepath.Join(dir, "raw"),
				RedisPrefix: "t" + string(rune('a'+i)), Logger: slog.New(slog.DiscardHandler),
				BigQuery: bq.Project + "." + bq.Dataset, BigQueryEndpoint: bq.URL}
			frames, err := demo.Generate(demo.GenOptions{Users: 200, Products: 30, Days: 5, Start: today.Add(-4 * 24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			plain := checkedDemo(t, nil, features.CheckPolicy{}, c.shards)
			checked := checkedDemo(t, failing, c.policy, c.shards)
			stores, err := app.OpenStores(ctx, checked, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer stores.Close()
			src, _ := plain.Source("orders")
			if _, err := stores.Sources.Write(ctx, src, frames["orders"]); err != nil {
				t.Fatal(err)
			}
			run := func(reg *features.Registry, end time.Time) error {
				env := newEnv()
				env.RegisterActivity(app.Activities(reg, stores, cfg.Logger))
				env.RegisterWorkflow(workflows.MaterializeWorkflow)
				env.SetStartTime(end.Add(3 * time.Hour))
				v, _ := reg.View("user_orders")
				env.ExecuteWorkflow(workflows.MaterializeWorkflow, workflows.InputFor(v, end))
				if !env.IsWorkflowCompleted() {
					t.Fatal("workflow did not complete")
				}
				return env.GetWorkflowError()
			}
			// A good window first: what serving holds before the bad one.
			if err := run(plain, e1); err != nil {
				t.Fatal(err)
			}
			before := redisSnapshot(t, redis.Addr)
			if len(before) == 0 {
				t.Fatal("the good window pushed nothing")
			}

			err = run(checked, e2)
			var app *temporal.ApplicationError
			if err == nil || !errors.As(err, &app) || app.Type() != activities.ErrTypeCheckFailed || !app.NonRetryable() {
				t.Fatalf("workflow error %v, want a non-retryable %s", err, activities.ErrTypeCheckFailed)
			}
			// What the Temporal UI shows as the workflow's failure.
			t.Logf("workflow error (%T, type %s, non-retryable %v): %v", err, app.Type(), app.NonRetryable(), err)
			for _, want := range []string{"view user_orders window " + e2.Format(time.RFC3339), "view check min_rows: value ", "bound 1e+06",
				"feature spend_30d check range: value ", "bound 0.01"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "max_null_rate") {
				t.Errorf("error %q names a check that passed", err)
			}

			files, err := stores.Offline.ViewFiles(ctx, "user_orders", e2, e2.Add(time.Microsecond))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(files) > 0; got != c.wantOffline {
				t.Fatalf("offline files of the failing window: %v, want some: %v", files, c.wantOffline)
			}
			recs, err := stores.Offline.RunRecords(ctx, "user_orders", e2, e2.Add(time.Microsecond))
			if err != nil {
				t.Fatal(err)
			}
			if want := max(c.shards, 1); len(recs) != want {
				t.Fatalf("%d run records, want %d", len(recs), want)
			}
			var rows int64
			for _, r := range recs {
				rows += r.RowsWritten
				if r.Status != c.wantStatus || (r.Published != nil) != c.wantPublished || len(features.FailedChecks(r.Checks)) != 2 || len(r.Checks) != 3 {
					t.Fatalf("run record %+v, want status %s, published %v, 2 of 3 checks failed", r, c.wantStatus, c.wantPublished)
				}
				if (r.Online != nil) != c.wantPublished {
					t.Fatalf("run record online counts %+v", r.Online)
				}
			}
			if (rows > 0) != c.wantOffline {
				t.Fatalf("records say %d rows written", rows)
			}
			_, marker := os.Stat(filepath.Join(stores.Offline.Root(), parquet.PublishedFile("user_orders", e2, recs[0].Created)))
			if (marker == nil) != c.wantPublished {
				t.Fatalf("publication marker: %v, want published %v", marker, c.wantPublished)
			}
			bqCount := func(sql string) int64 {
				it, err := bq.Client.Query(sql).Read(ctx)
				if err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
				var row []gbigquery.Value
				if err := it.Next(&row); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
				return row[0].(int64)
			}
			for _, w := range []struct {
				end       time.Time
				rows      int64
				published bool
			}{{e1, -1, true}, {e2, rows, c.wantPublished}} {
				at := w.end.Format(time.RFC3339)
				n := bqCount("SELECT COUNT(*) FROM `skewfree-test.history.user_orders` WHERE event_timestamp = TIMESTAMP '" + at + "'")
				if w.rows >= 0 && n != w.rows || w.rows < 0 && n == 0 {
					t.Fatalf("BigQuery holds %d rows of window %s, Parquet %d (-1: some)", n, at, w.rows)
				}
				p := bqCount("SELECT COUNT(*) FROM `skewfree-test.history._published` WHERE window_end = TIMESTAMP '" + at + "'")
				if want := map[bool]int64{false: 0, true: 1}[w.published]; p != want {
					t.Fatalf("BigQuery _published holds %d rows of window %s, want %d", p, at, want)
				}
			}
			// The run's records: each shard's once at commit (a discarded
			// run's too, with its status), once more when published.
			at := e2.Format(time.RFC3339)
			records := int64(max(c.shards, 1))
			runs := func(stage string) int64 {
				return bqCount("SELECT COUNT(*) FROM `skewfree-test.history._runs` WHERE window_end = TIMESTAMP '" + at + "' AND stage = '" + stage +
					"' AND status = '" + string(c.wantStatus) + "'")
			}
			if n := runs("committed"); n != records {
				t.Fatalf("BigQuery _runs holds %d committed %s records of window %s, want %d", n, c.wantStatus, at, records)
			}
			if n, want := runs("published"), map[bool]int64{false: 0, true: records}[c.wantPublished]; n != want {
				t.Fatalf("BigQuery _runs holds %d published records of window %s, want %d", n, at, want)
			}
			after := redisSnapshot(t, redis.Addr)
			if unchanged := maps(before, after); unchanged == c.wantPublished {
				t.Fatalf("Redis unchanged: %v, want changed: %v", unchanged, c.wantPublished)
			}
			clean(t, redis.Addr)
		})
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func clean(t *testing.T, addr string) {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}
