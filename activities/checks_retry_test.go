package activities_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// flakyRecorder fails the n-th run record write once, like a store that
// drops a connection mid-commit.
type flakyRecorder struct {
	activities.Offline
	n, calls int
}

func (f *flakyRecorder) WriteRunRecord(ctx context.Context, r features.RunRecord) error {
	f.calls++
	if f.calls == f.n {
		return errors.New("transient: connection reset")
	}
	return f.Offline.WriteRunRecord(ctx, r)
}

// withChecks sets the demo user_orders view's checks and policy for one
// test.
func withChecks(t *testing.T, a *activities.Activities, policy features.CheckPolicy, checks ...features.Check) {
	t.Helper()
	v, _ := a.Registry.View("user_orders")
	old, oldPolicy := v.Checks, v.OnCheckFailure
	v.Checks, v.OnCheckFailure = checks, policy
	t.Cleanup(func() { v.Checks, v.OnCheckFailure = old, oldPolicy })
}

// A retried CommitShards keeps the decision of the attempt that failed
// after discarding the shards: the shard files are gone, and the records
// it already rewrote (rows written 0) must not be judged again as a
// smaller window that passes.
func TestCommitShardsRetryKeepsDiscard(t *testing.T) {
	a, off := setup(t)
	ctx := context.Background()
	end := start.Add(4 * 24 * time.Hour)
	created := end.Add(2 * time.Hour)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	withChecks(t, a, features.CheckPolicy{}) // none while computing the shards
	var outs []activities.ComputeOutput
	for i := range 2 {
		outs = append(outs, computeWindow(t, env, a, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: i, Shards: 2}))
	}
	// The previous window published as many rows as shard 1 holds: the
	// whole window (both shards) grew far more than 10%.
	prevEnd := end.Add(-24 * time.Hour)
	pub := prevEnd.Add(3 * time.Hour)
	if err := off.WriteRunRecord(ctx, features.RunRecord{View: "user_orders", WindowEnd: prevEnd, Created: prevEnd.Add(2 * time.Hour), Published: &pub,
		Shard: -1, Status: features.RunOK, RowsWritten: outs[1].Partition.Rows}); err != nil {
		t.Fatal(err)
	}
	withChecks(t, a, features.CheckPolicy{DiscardOffline: true}, features.MaxRowCountChange(0.1))

	flaky := *a
	flaky.Offline = &flakyRecorder{Offline: off, n: 2} // shard 0's record is rewritten, shard 1's write fails
	fenv := s.NewTestActivityEnvironment()
	fenv.RegisterActivity(&flaky)
	commit := activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1, Shards: 2}
	_, err := fenv.ExecuteActivity(flaky.CommitShards, commit)
	if _, ok := activities.AsCheckFailure(err); err == nil || ok {
		t.Fatalf("first attempt: %v, want the transient error", err)
	}
	// The retry.
	_, err = env.ExecuteActivity(a.CommitShards, commit)
	cf, ok := activities.AsCheckFailure(err)
	if !ok || !cf.Discarded || len(cf.Failed) != 1 || cf.Failed[0].Check != string(features.CheckMaxRowCountChange) {
		t.Fatalf("retry: %v (%+v), want the discarding max_row_count_change failure", err, cf)
	}
	recs, err := off.RunRecords(ctx, "user_orders", end, end.Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Status != features.RunFailed || r.RowsWritten != 0 || len(features.FailedChecks(r.Checks)) != 1 {
			t.Errorf("shard %d record: status %s, %d rows, checks %+v; want failed, 0 rows, 1 failed check", r.Shard, r.Status, r.RowsWritten, r.Checks)
		}
	}
	files, err := off.ViewFiles(ctx, "user_orders", end, end.Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Errorf("files of a discarded run: %v", files)
	}
}

// A retry whose checks fail under the discard policy removes what an
// earlier attempt of the same run wrote (the checks can change between
// attempts: late source rows, a previous window published meanwhile), so
// "failed" means nothing of the run is offline.
func TestComputeWindowDiscardRemovesEarlierAttempt(t *testing.T) {
	a, off := setup(t)
	ctx := context.Background()
	end := start.Add(4 * 24 * time.Hour)
	created := end.Add(2 * time.Hour)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	in := activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1}
	withChecks(t, a, features.CheckPolicy{DiscardOffline: true})
	if out := computeWindow(t, env, a, in); out.Partition.Rows == 0 {
		t.Fatal("the first attempt wrote nothing")
	}
	withChecks(t, a, features.CheckPolicy{DiscardOffline: true}, features.MinRows(1_000_000))
	_, err := env.ExecuteActivity(a.ComputeWindow, in)
	if cf, ok := activities.AsCheckFailure(err); !ok || !cf.Discarded {
		t.Fatalf("retry: %v, want a discarding check failure", err)
	}
	files, err := off.ViewFiles(ctx, "user_orders", end, end.Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Errorf("a discarded run left %v offline", files)
	}
	recs, err := off.RunRecords(ctx, "user_orders", end, end.Add(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Status != features.RunFailed || recs[0].RowsWritten != 0 {
		t.Errorf("records %+v, want one failed with 0 rows", recs)
	}
}

// A sharded run in flight across a deploy: its shards were computed by a
// worker that wrote no run records. CommitShards cannot check the window,
// and lets the run go on instead of failing it after vain retries.
func TestCommitShardsWithoutShardRecords(t *testing.T) {
	a, off := setup(t)
	end := start.Add(4 * 24 * time.Hour)
	created := end.Add(2 * time.Hour)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	for i := range 2 {
		computeWindow(t, env, a, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: i, Shards: 2})
	}
	if err := os.RemoveAll(filepath.Join(off.Root(), "user_orders", "date="+end.Format(time.DateOnly), parquet.RunsDir)); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ExecuteActivity(a.CommitShards, activities.ComputeInput{View: "user_orders", WindowEnd: end, Created: created, Shard: -1, Shards: 2}); err != nil {
		t.Fatalf("commit of shards without records: %v", err)
	}
	files, err := off.ViewFiles(context.Background(), "user_orders", end, end.Add(time.Microsecond))
	if err != nil || len(files) != 2 {
		t.Fatalf("files %v (%v), want both shards kept", files, err)
	}
}
