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
	"github.com/skewfree/skewfree/internal/testenv"
	bqstore "github.com/skewfree/skewfree/store/bigquery"
)

// With a BigQuery history, a run appends the same rows to BigQuery as it
// writes to Parquet; a retried run adds nothing there; a run whose table
// is incompatible fails non-retryably, naming table and column, and
// writes nothing in either store.
func TestComputeWindowWritesBigQueryHistory(t *testing.T) {
	bq := testenv.StartBigQuery(t, "skewfree-test", "history")
	a, off := setup(t)
	ctx := context.Background()
	h, err := bqstore.Open(ctx, bq.Client, a.Registry, bqstore.Dataset{Project: bq.Project, Dataset: bq.Dataset}, bqstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.History = h
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	end := start.Add(4 * 24 * time.Hour)
	created := end.Add(time.Hour + 123456*time.Microsecond)
	in := activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1}
	out := computeWindow(t, env, a, in)
	want := keysOf(t, filepath.Join(off.Root(), out.Partition.Path))
	slices.Sort(want)
	if len(want) == 0 {
		t.Fatal("the window has no rows")
	}
	bqKeys := func() []string {
		it, err := bq.Client.Query("SELECT user_id, created_timestamp FROM `skewfree-test.history.user_orders` ORDER BY user_id").Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for {
			var row []gbigquery.Value
			err := it.Next(&row)
			if err == iterator.Done {
				return keys
			}
			if err != nil {
				t.Fatal(err)
			}
			if ct := row[1].(time.Time); !ct.Equal(created) {
				t.Fatalf("created_timestamp %v, want %v", ct, created)
			}
			keys = append(keys, row[0].(string))
		}
	}
	if got := bqKeys(); !slices.Equal(got, want) {
		t.Fatalf("BigQuery holds %d keys, Parquet %d: they must be the same rows", len(got), len(want))
	}
	// The activity is retried (same run): BigQuery gains nothing.
	computeWindow(t, env, a, in)
	if got := bqKeys(); !slices.Equal(got, want) {
		t.Fatalf("after a retry BigQuery holds %d rows, want %d", len(got), len(want))
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
