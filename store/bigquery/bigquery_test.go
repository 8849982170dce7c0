package bigquery_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/store/bigquery"
)

const (
	testProject = "skewfree-test"
	testDataset = "history"
)

// day is a daily window end; micros has sub-second digits that must come
// back exactly.
var (
	day    = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	micros = time.Date(2026, 11, 20, 3, 4, 5, 123456000, time.UTC)
)

// feats are one feature of each type.
var feats = []features.Feature{
	{Name: "orders", Type: features.Int64},
	{Name: "spend", Type: features.Float64},
	{Name: "last_item", Type: features.String},
	{Name: "vip", Type: features.Bool},
}

// registry has the entity user (string key user_id) and one view per
// cadence, "daily_user" and "hourly_user", with fs as features.
func registry(t testing.TB, joinKey string, fs []features.Feature) *features.Registry {
	t.Helper()
	r := features.NewRegistry()
	err := r.Register(
		&features.Entity{Name: "user", JoinKey: joinKey, KeyType: features.String},
		&features.Source{Name: "events", Path: "events", TimestampField: "ts",
			Fields: []features.Field{{Name: joinKey, Type: features.String}}},
	)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []features.Cadence{features.Daily, features.Hourly} {
		err := r.Register(&features.View{Name: string(c) + "_user", Entity: "user", Source: "events",
			Cadence: c, Owner: "test", Description: "test view",
			Func: &features.FuncTransform{Version: "v1", Features: fs, Fn: func(features.FuncInput, []features.Value) error { return nil }}})
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func open(t testing.TB, bq *testenv.BigQuery, reg *features.Registry) *bigquery.Store {
	t.Helper()
	ds, err := bigquery.ParseDataset(bq.Project + "." + bq.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bigquery.Open(context.Background(), bq.Client, reg, ds, bigquery.Options{Project: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// frame is n rows of view: keys u0..u<n-1>, testenv.Sample(mark) values.
func frame(t testing.TB, reg *features.Registry, view string, n int, event, created time.Time, mark int64) *features.Frame {
	keys := make([]features.Value, n)
	for i := range keys {
		keys[i] = features.StringValue(fmt.Sprintf("u%d", i))
	}
	return testenv.Frame(t, reg, view, keys, event, created, testenv.Sample(mark))
}

// query runs sql and returns its rows.
func query(t testing.TB, c *gbigquery.Client, sql string) [][]gbigquery.Value {
	t.Helper()
	it, err := c.Query(sql).Read(context.Background())
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out [][]gbigquery.Value
	for {
		var row []gbigquery.Value
		err := it.Next(&row)
		if err == iterator.Done {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		out = append(out, row)
	}
}

func count(t testing.TB, bq *testenv.BigQuery, table string) int64 {
	t.Helper()
	rows := query(t, bq.Client, fmt.Sprintf("SELECT COUNT(*) FROM `%s.%s.%s`", bq.Project, bq.Dataset, table))
	return rows[0][0].(int64)
}

// A first run creates the view's table: the contract's columns with their
// types, partitioned by event_timestamp (DAY or HOUR by cadence),
// clustered by the join key; its rows hold exactly the frame's values,
// timestamps to the microsecond.
func TestAppendCreatesTable(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, testDataset)
	reg := registry(t, "user_id", feats)
	s := open(t, bq, reg)
	ctx := context.Background()
	for _, tc := range []struct {
		view string
		end  time.Time
		part gbigquery.TimePartitioningType
	}{
		{"daily_user", day, gbigquery.DayPartitioningType},
		{"hourly_user", day.Add(5 * time.Hour), gbigquery.HourPartitioningType},
	} {
		f := frame(t, reg, tc.view, 7, tc.end, micros, 3)
		n, err := s.AppendVersion(ctx, tc.view, tc.end, micros, -1, bigquery.FramesOf(f))
		if err != nil {
			t.Fatalf("%s: %v", tc.view, err)
		}
		if n != 7 {
			t.Errorf("%s: appended %d rows, want 7", tc.view, n)
		}
		md, err := bq.Client.Dataset(testDataset).Table(tc.view).Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tp := md.TimePartitioning; tp == nil || tp.Type != tc.part || tp.Field != "event_timestamp" {
			t.Errorf("%s: partitioning %+v, want %s on event_timestamp", tc.view, tp, tc.part)
		}
		if md.Clustering == nil || len(md.Clustering.Fields) != 1 || md.Clustering.Fields[0] != "user_id" {
			t.Errorf("%s: clustering %+v, want user_id", tc.view, md.Clustering)
		}
		var got []string
		for _, fs := range md.Schema {
			mode := "NULLABLE"
			if fs.Required {
				mode = "REQUIRED"
			}
			got = append(got, fs.Name+" "+string(fs.Type)+" "+mode)
		}
		want := []string{"user_id STRING REQUIRED", "event_timestamp TIMESTAMP REQUIRED", "created_timestamp TIMESTAMP REQUIRED",
			"orders INTEGER NULLABLE", "spend FLOAT NULLABLE", "last_item STRING NULLABLE", "vip BOOLEAN NULLABLE"}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s: schema\n got %v\nwant %v", tc.view, got, want)
		}
		rows := query(t, bq.Client, fmt.Sprintf("SELECT user_id, event_timestamp, created_timestamp, orders, spend, last_item, vip FROM `%s.%s.%s` ORDER BY user_id",
			testProject, testDataset, tc.view))
		if len(rows) != 7 {
			t.Fatalf("%s: %d rows, want 7", tc.view, len(rows))
		}
		for i, r := range rows {
			k := int(r[0].(string)[1] - '0')
			if et := r[1].(time.Time); !et.Equal(tc.end) {
				t.Errorf("%s row %d: event_timestamp %v, want %v", tc.view, i, et, tc.end)
			}
			if ct := r[2].(time.Time); !ct.Equal(micros) {
				t.Errorf("%s row %d: created_timestamp %v, want %v (microseconds must round-trip)", tc.view, i, ct, micros)
			}
			for j, c := range f.Columns {
				want := c.Value(k)
				var gotV any = r[3+j]
				if want.IsNull() {
					if gotV != nil {
						t.Errorf("%s row %s %s: %v, want NULL", tc.view, r[0], c.Name, gotV)
					}
					continue
				}
				if gotV != want.Any() {
					t.Errorf("%s row %s %s: %v, want %v", tc.view, r[0], c.Name, gotV, want)
				}
			}
		}
	}
}

// A retried append adds nothing: the first attempt's load job runs, then
// the attempt "dies" (an injected failure after the job was created); the
// retry finds the version's job by its id and only waits for it. A new
// version of the window (another created time) adds its own rows: history
// is append-only.
func TestAppendRetryExactlyOnce(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, testDataset)
	reg := registry(t, "user_id", feats)
	s := open(t, bq, reg)
	ctx := context.Background()
	died := errors.New("worker died after the load was submitted")
	var inserted []string
	bigquery.SetAfterLoadInsert(s, func(id string) error {
		inserted = append(inserted, id)
		if len(inserted) == 1 {
			return died
		}
		return nil
	})
	// The version is two frames (two Parquet files of one run).
	rows := bigquery.FramesOf(frame(t, reg, "daily_user", 3, day, micros, 1), frame(t, reg, "daily_user", 2, day, micros, 4))
	if _, err := s.AppendVersion(ctx, "daily_user", day, micros, 5, rows); !errors.Is(err, died) {
		t.Fatalf("first attempt: %v, want the injected failure", err)
	}
	for attempt := range 2 {
		if _, err := s.AppendVersion(ctx, "daily_user", day, micros, 5, rows); err != nil {
			t.Fatalf("retry %d: %v", attempt, err)
		}
	}
	if len(inserted) != 1 {
		t.Errorf("load jobs created: %v, want only the first attempt's", inserted)
	}
	if n := count(t, bq, "daily_user"); n != 5 {
		t.Fatalf("after a failed attempt and two retries: %d rows, want 5 (exactly once)", n)
	}
	// A correction: a new version of the same window.
	later := micros.Add(time.Hour)
	if _, err := s.AppendVersion(ctx, "daily_user", day, later, -1, bigquery.FramesOf(frame(t, reg, "daily_user", 4, day, later, 2))); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(query(t, bq.Client, fmt.Sprintf("SELECT created_timestamp, COUNT(*) FROM `%s.%s.daily_user` GROUP BY 1 ORDER BY 1", testProject, testDataset)))
	want := fmt.Sprint([][]gbigquery.Value{{micros, int64(5)}, {later, int64(4)}})
	if got != want {
		t.Errorf("versions %s, want %s", got, want)
	}
}

// A load job that ran and failed adds no rows: the attempt fails
// (retryable, so Temporal's backoff spaces the next one) and the next
// attempt loads under the next job id; the version's rows are then there
// once. A job refused for its rows ("invalid") fails for good, and so does
// a version whose every job id failed.
func TestAppendAfterFailedLoad(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, testDataset)
	reg := registry(t, "user_id", feats)
	s := open(t, bq, reg)
	ctx := context.Background()
	// The emulator never fails a load: the first job of each version
	// reports a failure (after running, so its rows would be there
	// if the store believed it: the rows counted below must be the
	// second job's alone). Its rows are deleted to stand for a load that
	// added nothing.
	failing := map[string]bool{}
	reason := "backendError"
	bigquery.SetJobErr(s, func(id string) error {
		if reason != "invalid" && !failing[id] && strings.Contains(id, "-r") {
			return nil
		}
		failing[id] = true
		return &gbigquery.Error{Reason: reason, Message: "injected"}
	})
	first := s.JobID("daily_user", day, micros)
	rows := bigquery.FramesOf(frame(t, reg, "daily_user", 3, day, micros, 1))
	_, err := s.AppendVersion(ctx, "daily_user", day, micros, 3, rows)
	if err == nil || errors.Is(err, features.ErrInput) || !strings.Contains(err.Error(), first) {
		t.Fatalf("failed job: %v, want a retryable error naming job %s", err, first)
	}
	query(t, bq.Client, fmt.Sprintf("DELETE FROM `%s.%s.daily_user` WHERE TRUE", testProject, testDataset))
	for attempt := range 2 {
		if _, err := s.AppendVersion(ctx, "daily_user", day, micros, 3, rows); err != nil {
			t.Fatalf("attempt %d after the failed job: %v", attempt, err)
		}
	}
	if n := count(t, bq, "daily_user"); n != 3 {
		t.Fatalf("%d rows, want 3 (the second job's, once)", n)
	}

	// Invalid rows: the first refusal is retried once (a column just
	// added may not be visible to the load yet), the second ends the run.
	reason = "invalid"
	next := day.Add(24 * time.Hour)
	_, err = s.AppendVersion(ctx, "daily_user", next, micros, -1, bigquery.FramesOf(frame(t, reg, "daily_user", 3, next, micros, 1)))
	if err == nil || errors.Is(err, features.ErrInput) {
		t.Fatalf("first refusal of the rows: %v, want a retryable error", err)
	}
	for attempt := range 2 {
		_, err = s.AppendVersion(ctx, "daily_user", next, micros, -1, bigquery.FramesOf(frame(t, reg, "daily_user", 3, next, micros, 1)))
		if !errors.Is(err, bigquery.ErrLoadFailed) || !errors.Is(err, features.ErrInput) {
			t.Fatalf("attempt %d after a refusal: %v, want ErrLoadFailed (not retried)", attempt, err)
		}
	}

	// Rows that are not the version's (another event_timestamp) are
	// refused before any job.
	_, err = s.AppendVersion(ctx, "daily_user", next.Add(24*time.Hour), micros, -1, bigquery.FramesOf(frame(t, reg, "daily_user", 3, next, micros, 1)))
	if !errors.Is(err, features.ErrInput) || !strings.Contains(err.Error(), "event_timestamp") {
		t.Fatalf("rows of another window: %v, want an input error naming event_timestamp", err)
	}
}

// Job ids: one per (deployment, dataset, kind, view, window, version),
// names holding '_' included.
func TestJobID(t *testing.T) {
	a, b := bigquery.Dataset{Project: "proj-one", Dataset: "d"}, bigquery.Dataset{Project: "proj-two", Dataset: "d"}
	ids := map[string]string{}
	add := func(name, id string) {
		if prev, dup := ids[id]; dup {
			t.Errorf("%s and %s share job id %s", prev, name, id)
		}
		ids[id] = name
		if len(id) > 1024 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
			t.Errorf("%s: job id %q is not a valid BigQuery job id", name, id)
		}
	}
	for _, c := range []struct {
		name    string
		ds      bigquery.Dataset
		project string
		kind    string
		view    string
		end     time.Time
		created time.Time
	}{
		{"base", a, "p", "history", "daily_user", day, micros},
		{"other dataset project", b, "p", "history", "daily_user", day, micros},
		{"other deployment", a, "q", "history", "daily_user", day, micros},
		{"deployment with _", a, "p_daily", "history", "user", day, micros},
		{"other view", a, "p", "history", "hourly_user", day, micros},
		{"other window", a, "p", "history", "daily_user", day.Add(24 * time.Hour), micros},
		{"other version", a, "p", "history", "daily_user", day, micros.Add(time.Microsecond)},
		{"publication", a, "p", "published", "daily_user", day, micros},
		{"view with odd characters", a, "p", "history", "daily user/ü", day, micros},
	} {
		add(c.name, bigquery.JobIDOf(c.ds, c.project, c.kind, c.view, c.end, c.created))
	}
	if x, y := bigquery.JobIDOf(a, "p", "history", "daily_user", day, micros), bigquery.JobIDOf(a, "p", "history", "daily_user", day, micros); x != y {
		t.Errorf("job id not deterministic: %s, %s", x, y)
	}
}
