package activities_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/testsuite"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Every run (and every shard of it) leaves one run record; a retry of the
// same run rewrites it, and publication adds its time and push counts.
func TestRunRecordsWrittenOncePerRun(t *testing.T) {
	for _, shards := range []int{0, 2} {
		a, off := setup(t)
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		ctx := context.Background()
		end := start.Add(4 * 24 * time.Hour)
		created := end.Add(2*time.Hour + 123456789)
		v, _ := a.Registry.View("user_orders")

		var inputs []activities.ComputeInput
		if shards == 0 {
			inputs = append(inputs, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1})
		}
		for i := range shards {
			inputs = append(inputs, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: i, Shards: shards})
		}
		var outs []activities.ComputeOutput
		for attempt := range 2 { // the second attempt is a retry of the same run
			outs = outs[:0]
			for _, in := range inputs {
				outs = append(outs, computeWindow(t, env, a, in))
			}
			if shards > 0 {
				if _, err := env.ExecuteActivity(a.CommitShards, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1, Shards: shards}); err != nil {
					t.Fatal(err)
				}
			}
			recs, err := off.RunRecords(ctx, "user_orders", time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(inputs) {
				t.Fatalf("shards %d attempt %d: %d records, want %d", shards, attempt, len(recs), len(inputs))
			}
			for i, r := range recs {
				in, out := inputs[i], outs[i]
				if r.View != "user_orders" || !r.WindowEnd.Equal(end) || !r.WindowStart.Equal(end.Add(-24*time.Hour)) ||
					!r.Created.Equal(created.Truncate(time.Microsecond)) || r.Shard != in.Shard || r.Fingerprint != a.Registry.Fingerprint("user_orders") ||
					r.Status != features.RunOK || r.EventsRead != out.Events || r.EventsRead == 0 || r.RowsWritten != out.Partition.Rows || r.RowsWritten == 0 ||
					r.Published != nil || r.Online != nil || len(r.Features) != len(v.Features()) {
					t.Fatalf("shards %d: record %+v for %+v, output %+v", shards, r, in, out)
				}
				if st := r.Features[0]; st.Name != "order_count_7d" || st.Rows != r.RowsWritten || st.Mean == nil {
					t.Fatalf("stats %+v", st)
				}
			}
		}

		// Publication, then a retried publication with a later time: the
		// records keep the first time, like the marker.
		var parts []activities.OnlineStats
		pub := activities.PublishInput{View: "user_orders", WindowEnd: end, Created: created, Published: created.Add(time.Minute)}
		for i, o := range outs {
			pub.Partitions = append(pub.Partitions, o.Partition)
			parts = append(parts, activities.OnlineStats{Rows: int(o.Partition.Rows), Written: int(o.Partition.Rows) - i, Stale: i, Expired: 0})
		}
		pub.Online = parts
		for _, at := range []time.Duration{time.Minute, time.Hour} {
			pub.Published = created.Add(at)
			if _, err := env.ExecuteActivity(a.MarkPublished, pub); err != nil {
				t.Fatal(err)
			}
		}
		recs, err := off.RunRecords(ctx, "user_orders", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(inputs) {
			t.Fatalf("%d records after publication, want %d", len(recs), len(inputs))
		}
		for i, r := range recs {
			want := created.Add(time.Minute).UTC()
			if r.Published == nil || !r.Published.Equal(want) || r.Online == nil || r.Online.Written != int64(parts[i].Written) || r.Online.Stale != int64(parts[i].Stale) {
				t.Fatalf("shards %d: published record %+v (online %+v), want published %s", shards, r, r.Online, want)
			}
		}
	}
}

// The worker's metrics: rows, durations, check failures and the per-view
// staleness gauge, also rebuilt from run records by a fresh worker.
func TestMetricsScrape(t *testing.T) {
	a, off := setup(t)
	end := start.Add(4 * 24 * time.Hour)
	now := end.Add(5 * time.Hour)
	clock := func() time.Time { return now }
	reg := prometheus.NewRegistry()
	m, err := activities.NewMetrics(a.Registry, reg, clock)
	if err != nil {
		t.Fatal(err)
	}
	a.Metrics = m
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	created := end.Add(2 * time.Hour)
	out := computeWindow(t, env, a, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1})

	scrape := func(reg *prometheus.Registry) string {
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		defer srv.Close()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	has := func(body string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(body, l+"\n") {
				t.Errorf("metrics lack %q:\n%s", l, body)
			}
		}
	}
	lacks := func(body, s string) {
		t.Helper()
		if strings.Contains(body, s) {
			t.Errorf("metrics hold %q:\n%s", s, body)
		}
	}
	body := scrape(reg)
	has(body,
		`skewfree_rows_written_total{view="user_orders"} `+itoa(out.Partition.Rows),
		`skewfree_rows_written_total{view="user_activity"} 0`,
		`skewfree_run_duration_seconds_count{view="user_orders"} 1`,
		`skewfree_view_stale{view="user_orders"} 1`, // never published yet
	)
	lacks(body, `skewfree_view_staleness_seconds{view="user_orders"}`)

	pub := activities.PublishInput{View: "user_orders", WindowEnd: end, Created: created, Published: created.Add(time.Minute), Partitions: []parquet.Partition{out.Partition}}
	if _, err := env.ExecuteActivity(a.MarkPublished, pub); err != nil {
		t.Fatal(err)
	}
	body = scrape(reg)
	// now − newest published window end = 5 h; within cadence + lateness (26 h).
	has(body, `skewfree_view_staleness_seconds{view="user_orders"} 18000`, `skewfree_view_stale{view="user_orders"} 0`)
	now = end.Add(27 * time.Hour) // the next window is overdue
	has(scrape(reg), `skewfree_view_staleness_seconds{view="user_orders"} 97200`, `skewfree_view_stale{view="user_orders"} 1`)

	// A restarted worker reads the staleness back from the run records.
	reg2 := prometheus.NewRegistry()
	m2, err := activities.NewMetrics(a.Registry, reg2, clock)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.RefreshStaleness(context.Background(), off); err != nil {
		t.Fatal(err)
	}
	has(scrape(reg2), `skewfree_view_staleness_seconds{view="user_orders"} 97200`)

	// A failing check counts, by view, feature and check.
	v, _ := a.Registry.View("user_orders")
	v.Checks = []features.Check{features.MinRows(1_000_000), features.Range("spend_30d", 0, 0.01)}
	defer func() { v.Checks = nil }()
	if _, err := env.ExecuteActivity(a.ComputeWindow, activities.ComputeInput{View: "user_orders", WindowEnd: end.Add(-24 * time.Hour), Created: created, Shard: -1}); err == nil {
		t.Fatal("failing checks did not fail the activity")
	}
	has(scrape(reg), `skewfree_check_failures_total{check="min_rows",feature="",view="user_orders"} 1`,
		`skewfree_check_failures_total{check="range",feature="spend_30d",view="user_orders"} 1`)
}
