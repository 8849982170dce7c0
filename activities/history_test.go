package activities_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/api/iterator"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/pipeline"
	bqstore "github.com/skewfree/skewfree/store/bigquery"
	"github.com/skewfree/skewfree/store/parquet"
)

// halfSources reads every other event while half is set: a first
// attempt that saw less of the source than its retry.
type halfSources struct {
	pipeline.SourceReader
	half bool
}

func (h *halfSources) Read(ctx context.Context, src *features.Source, from, to time.Time) (*features.Frame, error) {
	fr, err := h.SourceReader.Read(ctx, src, from, to)
	if err != nil || !h.half {
		return fr, err
	}
	var rows []int
	for i := 0; i < fr.Len(); i += 2 {
		rows = append(rows, i)
	}
	return fr.Take(rows), nil
}

// With a BigQuery history, a committed version goes to BigQuery exactly as
// the Parquet history holds it: a retried computation that saw more of
// the source (the Parquet file is replaced) reaches BigQuery as its last
// attempt wrote it, not as its first; a retried append or publication adds
// nothing; the publication lands in _published with the marker's time. A
// run whose table is incompatible fails non-retryably, naming table and
// column, and writes nothing in either store.
func TestBigQueryHistoryHoldsTheCommittedVersion(t *testing.T) {
	bq := testenv.StartBigQuery(t, "skewfree-test", "history")
	a, off := setup(t)
	ctx := context.Background()
	h, err := bqstore.Open(ctx, bq.Client, a.Registry, bqstore.Dataset{Project: bq.Project, Dataset: bq.Dataset}, bqstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.History = h
	src := &halfSources{SourceReader: a.Sources, half: true}
	a.Sources = src
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	end := start.Add(4 * 24 * time.Hour)
	created := end.Add(time.Hour + 123456*time.Microsecond)
	in := activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1}
	first := computeWindow(t, env, a, in)
	firstKeys := keysOf(t, filepath.Join(off.Root(), first.Partition.Path))
	query := func(sql string) [][]gbigquery.Value {
		it, err := bq.Client.Query(sql).Read(ctx)
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
				t.Fatal(err)
			}
			out = append(out, row)
		}
	}
	bqKeys := func() []string {
		var keys []string
		for _, row := range query("SELECT user_id, created_timestamp FROM `skewfree-test.history.user_orders` ORDER BY user_id") {
			if ct := row[1].(time.Time); !ct.Equal(created) {
				t.Fatalf("created_timestamp %v, want %v", ct, created)
			}
			keys = append(keys, row[0].(string))
		}
		return keys
	}
	if got := bqKeys(); len(got) != 0 {
		t.Fatalf("BigQuery holds %d rows of a version not yet committed, want none", len(got))
	}
	// The retry sees the whole source: more keys, the file replaced.
	src.half = false
	out := computeWindow(t, env, a, in)
	want := keysOf(t, filepath.Join(off.Root(), out.Partition.Path))
	slices.Sort(want)
	if len(want) <= len(firstKeys) {
		t.Fatalf("the retry wrote %d keys, the first attempt %d: the test needs the retry to differ", len(want), len(firstKeys))
	}
	hin := activities.HistoryInput{View: "user_orders", WindowEnd: end, Created: created, Partitions: []parquet.Partition{out.Partition}}
	for attempt := range 2 {
		if _, err := env.ExecuteActivity(a.AppendHistory, hin); err != nil {
			t.Fatalf("append history attempt %d: %v", attempt, err)
		}
		if got := bqKeys(); !slices.Equal(got, want) {
			t.Fatalf("attempt %d: BigQuery holds %d keys, Parquet %d: they must be the same rows", attempt, len(got), len(want))
		}
	}
	published := created.Add(7*time.Second + 500*time.Microsecond)
	pin := activities.PublishInput{View: "user_orders", WindowEnd: end, Created: created, Published: published, Partitions: []parquet.Partition{out.Partition}}
	for range 2 {
		if _, err := env.ExecuteActivity(a.MarkPublished, pin); err != nil {
			t.Fatal(err)
		}
	}
	pubs := query("SELECT view, window_end, created, published FROM `skewfree-test.history._published`")
	if got, want := fmt.Sprint(pubs), fmt.Sprint([][]gbigquery.Value{{"user_orders", end, created, published}}); got != want {
		t.Fatalf("_published %s, want %s (one row, the marker's time)", got, want)
	}
	if p, ok, err := off.Publication(ctx, "user_orders", end, created); err != nil || !ok || !p.Published.Equal(published) {
		t.Fatalf("Parquet marker %+v %v %v, want %s", p, ok, err, published)
	}
	// The run's record, once per stage, as the Parquet store holds it.
	runs := query("SELECT stage, shard, status, published, rows_written, JSON_VALUE(record, '$.view') FROM `skewfree-test.history._runs` ORDER BY stage")
	wantRuns := fmt.Sprint([][]gbigquery.Value{
		{"committed", int64(-1), "ok", nil, int64(len(want)), "user_orders"},
		{"published", int64(-1), "ok", published, int64(len(want)), "user_orders"},
	})
	if got := fmt.Sprint(runs); got != wantRuns {
		t.Fatalf("_runs %s, want %s", got, wantRuns)
	}

	// user_activity's table exists with user_id as INTEGER.
	err = bq.Client.Dataset("history").Table("user_activity").Create(ctx, &gbigquery.TableMetadata{Schema: gbigquery.Schema{
		{Name: "user_id", Type: gbigquery.IntegerFieldType, Required: true},
		{Name: "event_timestamp", Type: gbigquery.TimestampFieldType, Required: true},
		{Name: "created_timestamp", Type: gbigquery.TimestampFieldType, Required: true},
	}, TimePartitioning: &gbigquery.TimePartitioning{Type: gbigquery.HourPartitioningType, Field: "event_timestamp"}})
	if err != nil {
		t.Fatal(err)
	}
	hourEnd := end.Add(-5 * time.Hour)
	_, err = env.ExecuteActivity(a.ComputeWindow, activities.ComputeInput{View: "user_activity", WindowEnd: hourEnd, Created: created, Shard: -1})
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || !ae.NonRetryable() || !strings.Contains(err.Error(), "skewfree-test.history.user_activity") || !strings.Contains(err.Error(), "user_id") {
		t.Fatalf("incompatible table: %v, want a non-retryable error naming the table and user_id", err)
	}
	if entries, err := os.ReadDir(filepath.Join(off.Root(), "user_activity")); err == nil && len(entries) > 0 {
		t.Errorf("the refused run wrote Parquet: %v", entries)
	}
	rows, err := bq.Client.Query("SELECT COUNT(*) FROM `skewfree-test.history.user_activity`").Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n []gbigquery.Value
	if err := rows.Next(&n); err != nil || fmt.Sprint(n[0]) != "0" {
		t.Errorf("the refused run left %v rows in BigQuery (%v)", n, err)
	}
}

// A _runs table that cannot take the run records (someone made it with
// other columns) costs the records' copy in BigQuery, not the data: the
// version is appended and published all the same.
func TestBadRunsTableDoesNotStopTheData(t *testing.T) {
	bq := testenv.StartBigQuery(t, "skewfree-test", "history")
	a, _ := setup(t)
	ctx := context.Background()
	err := bq.Client.Dataset("history").Table("_runs").Create(ctx, &gbigquery.TableMetadata{Schema: gbigquery.Schema{
		{Name: "view", Type: gbigquery.IntegerFieldType},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := bqstore.Open(ctx, bq.Client, a.Registry, bqstore.Dataset{Project: bq.Project, Dataset: bq.Dataset}, bqstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.History = h
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	end := start.Add(4 * 24 * time.Hour)
	created := end.Add(time.Hour)
	out := computeWindow(t, env, a, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1})
	parts := []parquet.Partition{out.Partition}
	if _, err := env.ExecuteActivity(a.AppendHistory, activities.HistoryInput{View: "user_orders", WindowEnd: end, Created: created, Partitions: parts}); err != nil {
		t.Fatalf("append history with a bad _runs table: %v", err)
	}
	if _, err := env.ExecuteActivity(a.MarkPublished, activities.PublishInput{View: "user_orders", WindowEnd: end, Created: created, Published: created.Add(time.Second), Partitions: parts}); err != nil {
		t.Fatalf("publish with a bad _runs table: %v", err)
	}
	it, err := bq.Client.Query("SELECT COUNT(*) FROM `skewfree-test.history.user_orders`").Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var row []gbigquery.Value
	if err := it.Next(&row); err != nil || row[0].(int64) != out.Partition.Rows {
		t.Fatalf("BigQuery holds %v rows (%v), want the version's %d", row, err, out.Partition.Rows)
	}
}
