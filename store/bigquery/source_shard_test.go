package bigquery_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gbigquery "cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/internal/testenv"
	"github.com/skewfree/skewfree/pipeline"
	"github.com/skewfree/skewfree/store/bigquery"
)

// rowsOf renders a source frame's rows, sorted, for set comparisons.
func rowsOf(fr *features.Frame) []string {
	var out []string
	for i := range fr.Len() {
		out = append(out, fmt.Sprintf("%s %s %d", fr.Columns[0].Value(i), fr.Columns[1].Value(i), fr.Time[i]))
	}
	slices.Sort(out)
	return out
}

// countJobs lists the project's jobs (the emulator lists no job
// configuration, so every kind counts: the test runs only queries).
func countJobs(t *testing.T, c *gbigquery.Client) int {
	t.Helper()
	it := c.Jobs(context.Background())
	it.AllUsers = true
	n := 0
	for {
		_, err := it.Next()
		if err == iterator.Done {
			return n
		}
		if err != nil {
			t.Fatalf("list jobs: %v", err)
		}
		n++
	}
}

// A sharded run of a BigQuery source scans the window once: the three
// shards of a run share one query job and each keeps its keys by
// features.ShardOf (activities.ShardOf, the Parquet sources' assignment),
// their union is the unsharded read, and they are sorted by time. A second
// run of the same window (a correction) scans afresh.
func TestSourceShardsShareOneScan(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, "raw")
	var evs []event
	for i := range 12 {
		evs = append(evs, event{fmt.Sprintf("u%d", i%7), gbigquery.NullFloat64{Float64: float64(i), Valid: i%5 != 0}, day.Add(time.Duration(11-i) * time.Hour)})
	}
	evs = append(evs, event{"late", gbigquery.NullFloat64{Float64: 1, Valid: true}, day.Add(30 * time.Hour)})
	sourceTable(t, bq, evs)
	src := ordersSource(testProject + ".raw.orders")
	s := bigquery.NewSources(bq.Client)
	var mu sync.Mutex
	var jobs []string
	bigquery.SetOnQuery(s, func(id string) { mu.Lock(); jobs = append(jobs, id); mu.Unlock() })
	ctx := context.Background()
	from, to := day, day.Add(24*time.Hour)

	whole, err := s.Read(ctx, src, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if whole.Len() != 12 {
		t.Fatalf("unsharded read: %d rows, want 12", whole.Len())
	}
	before := countJobs(t, bq.Client)
	jobs = nil

	// Through the activities' reader, as ComputeWindow calls it.
	reader := activities.TableSources{Tables: s, IsTable: bigquery.IsTable}
	run := pipeline.WithRun(ctx, "daily_user/1/2")
	var union []string
	const n = 3
	for i := range n {
		fr, err := reader.ReadShard(run, src, from, to, "user_id", i, n)
		if err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		if !slices.IsSorted(fr.Time) {
			t.Errorf("shard %d: rows not in time order: %v", i, fr.Time)
		}
		for r := range fr.Len() {
			if got := activities.ShardOf(fr.Columns[0], r, n); got != i {
				t.Errorf("shard %d holds key %s of shard %d", i, fr.Columns[0].Value(r), got)
			}
		}
		union = append(union, rowsOf(fr)...)
	}
	slices.Sort(union)
	if want := rowsOf(whole); strings.Join(union, "\n") != strings.Join(want, "\n") {
		t.Errorf("union of the shards:\n%s\nwant the unsharded read:\n%s", strings.Join(union, "\n"), strings.Join(want, "\n"))
	}
	if after := countJobs(t, bq.Client); after-before != 1 {
		t.Errorf("%d query jobs for %d shards of one run, want 1 (job listing)", after-before, n)
	}
	if len(jobs) != 1 {
		t.Errorf("query jobs created: %v, want one", jobs)
	}

	// A retried shard of the same run reuses the job; another run does not.
	if _, err := reader.ReadShard(run, src, from, to, "user_id", 1, n); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Errorf("a retried shard queried again: %v", jobs)
	}
	if _, err := reader.ReadShard(pipeline.WithRun(ctx, "daily_user/1/3"), src, from, to, "user_id", 0, n); err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 || jobs[1] == jobs[0] {
		t.Errorf("a new run of the window reused a job: %v", jobs)
	}
}

// A table whose partitioning cannot prune the window filter (not
// partitioned, by ingestion time, on another column) is read whole by
// every window: one warning per table says so and names it; a table
// partitioned on the timestamp field gives none.
func TestSourcePartitioningWarning(t *testing.T) {
	bq := testenv.StartBigQuery(t, testProject, "raw")
	ctx := context.Background()
	schema := gbigquery.Schema{
		{Name: "user_id", Type: gbigquery.StringFieldType, Required: true},
		{Name: "amount", Type: gbigquery.FloatFieldType},
		{Name: "ts", Type: gbigquery.TimestampFieldType, Required: true},
		{Name: "loaded", Type: gbigquery.TimestampFieldType},
	}
	tables := []struct {
		name string
		tp   *gbigquery.TimePartitioning
		warn string
	}{
		{"on_ts", &gbigquery.TimePartitioning{Type: gbigquery.DayPartitioningType, Field: "ts"}, ""},
		{"by_ingestion", &gbigquery.TimePartitioning{Type: gbigquery.DayPartitioningType}, "partitioned by ingestion time"},
		{"on_loaded", &gbigquery.TimePartitioning{Type: gbigquery.DayPartitioningType, Field: "loaded"}, "partitioned on loaded"},
		{"unpartitioned", nil, "is not partitioned"},
	}
	var logs bytes.Buffer
	s := bigquery.NewSources(bq.Client)
	s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	for _, tc := range tables {
		if err := bq.Client.Dataset("raw").Table(tc.name).Create(ctx, &gbigquery.TableMetadata{Schema: schema, TimePartitioning: tc.tp}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := s.Read(ctx, ordersSource(testProject+".raw."+tc.name), day, day.Add(time.Hour)); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
	}
	for _, tc := range tables {
		name := testProject + ".raw." + tc.name
		var lines []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "table "+name+" ") {
				lines = append(lines, l)
			}
		}
		switch {
		case tc.warn == "" && len(lines) > 0:
			t.Errorf("%s: unexpected warning %q", tc.name, lines)
		case tc.warn != "" && len(lines) != 1:
			t.Errorf("%s: %d warnings %q, want one", tc.name, len(lines), lines)
		case tc.warn != "" && (!strings.Contains(lines[0], tc.warn) || !strings.Contains(lines[0], "whole table") || !strings.Contains(lines[0], "level=WARN")):
			t.Errorf("%s: warning %q does not say %q and the whole-table scan", tc.name, lines[0], tc.warn)
		}
	}
}
