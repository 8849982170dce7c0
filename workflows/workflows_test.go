package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/workflows"
)

// newEnv returns a test environment that logs nothing: the tests assert.
func newEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	return s.NewTestWorkflowEnvironment()
}

var (
	day = 24 * time.Hour
	e0  = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
)

type recorder struct {
	mu       sync.Mutex
	computes []activities.ComputeInput
	// computedBy holds the id of the workflow that ran each compute.
	computedBy []string
	pushes     []activities.PushInput
	commits    []activities.ComputeInput
	// histories: the versions appended to the second history, and how
	// many pushes had started by then.
	histories       []activities.HistoryInput
	pushesAtHistory []int
	// publishes, with the workflow clock when each push and publish ran.
	publishes []activities.PublishInput
	pushDelay time.Duration // workflow time each push takes
	pushErr   error         // every push fails with it
}

func (r *recorder) env(t *testing.T) *testsuite.TestWorkflowEnvironment {
	env := newEnv()
	var a *activities.Activities
	env.RegisterActivity(a)
	// Runs under another id start the window's canonical run as a child.
	env.RegisterWorkflow(workflows.MaterializeWorkflow)
	env.OnActivity(a.ComputeWindow, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.ComputeInput) (activities.ComputeOutput, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.computes = append(r.computes, in)
		r.computedBy = append(r.computedBy, activity.GetInfo(ctx).WorkflowExecution.ID)
		return activities.ComputeOutput{Partition: parquet.Partition{Path: parquet.WindowFile(in.View, in.WindowEnd, in.Shard), Rows: 10}, Events: 100}, nil
	})
	env.OnActivity(a.PushOnline, mock.Anything, mock.Anything).After(r.pushDelay).Return(func(_ context.Context, in activities.PushInput) (activities.OnlineStats, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.pushes = append(r.pushes, in)
		if r.pushErr != nil {
			return activities.OnlineStats{}, r.pushErr
		}
		return activities.OnlineStats{Rows: int(in.Partition.Rows), Written: int(in.Partition.Rows)}, nil
	})
	env.OnActivity(a.MarkPublished, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PublishInput) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.publishes = append(r.publishes, in)
		return nil
	})
	env.OnActivity(a.AppendHistory, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.HistoryInput) (int64, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.histories = append(r.histories, in)
		r.pushesAtHistory = append(r.pushesAtHistory, len(r.pushes))
		return 0, nil
	})
	env.OnActivity(a.CommitShards, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ComputeInput) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.commits = append(r.commits, in)
		return nil
	})
	return env
}

func TestMaterializeWindowDerivation(t *testing.T) {
	cases := []struct {
		name    string
		in      workflows.MaterializeInput
		id      string
		sa      time.Time
		start   time.Time
		wantEnd time.Time
		// created is when the computation ran: after lateness has passed.
		wantCreated time.Time
		wantErr     string
	}{
		{name: "explicit window end", in: workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: day},
			start: e0.Add(5 * day), wantEnd: e0, wantCreated: e0.Add(5 * day)},
		{name: "scheduled: nominal time from the search attribute, not the clock", in: workflows.MaterializeInput{View: "v", Cadence: day},
			sa: e0, id: "materialize-v-" + e0.Format(time.RFC3339), start: e0.Add(37 * time.Minute), wantEnd: e0, wantCreated: e0.Add(37 * time.Minute)},
		{name: "scheduled: nominal time from the workflow id", in: workflows.MaterializeInput{View: "v", Cadence: time.Hour},
			id: "materialize-v-2026-11-20T03:00:00Z", start: e0.Add(9 * time.Hour), wantEnd: e0.Add(3 * time.Hour), wantCreated: e0.Add(9 * time.Hour)},
		{name: "triggered now: the latest window that has ended", in: workflows.MaterializeInput{View: "v", Cadence: time.Hour},
			sa: e0.Add(5*time.Hour + 17*time.Minute), start: e0.Add(5*time.Hour + 17*time.Minute), wantEnd: e0.Add(5 * time.Hour), wantCreated: e0.Add(5*time.Hour + 17*time.Minute)},
		{name: "lateness delays the computation by a durable timer", in: workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: day, Lateness: 2 * time.Hour},
			start: e0, wantEnd: e0, wantCreated: e0.Add(2 * time.Hour)},
		{name: "a late run does not wait again", in: workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: day, Lateness: 2 * time.Hour},
			start: e0.Add(30 * day), wantEnd: e0, wantCreated: e0.Add(30 * day)},
		{name: "unaligned window end", in: workflows.MaterializeInput{View: "v", WindowEnd: e0.Add(time.Minute), Cadence: day},
			start: e0, wantErr: "not aligned"},
		{name: "no window end at all", in: workflows.MaterializeInput{View: "v", Cadence: day}, id: "adhoc", start: e0, wantErr: "no window end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r recorder
			env := r.env(t)
			env.SetStartTime(c.start)
			if c.id != "" {
				env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: c.id})
			}
			if !c.sa.IsZero() {
				if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(workflows.ScheduledStartAttr.ValueSet(c.sa))); err != nil {
					t.Fatal(err)
				}
			}
			env.ExecuteWorkflow(workflows.MaterializeWorkflow, c.in)
			if !env.IsWorkflowCompleted() {
				t.Fatal("not completed")
			}
			err := env.GetWorkflowError()
			if c.wantErr != "" {
				var app *temporal.ApplicationError
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.As(err, &app) || !app.NonRetryable() {
					t.Fatalf("error %v, want a non-retryable one containing %q", err, c.wantErr)
				}
				if len(r.computes) != 0 {
					t.Fatal("computed despite bad input")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var res workflows.MaterializeResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if len(r.computes) != 1 || !r.computes[0].WindowEnd.Equal(c.wantEnd) || r.computes[0].Shard != -1 {
				t.Fatalf("computes %+v, want one of window %s", r.computes, c.wantEnd)
			}
			// Whatever id the run was started under, the window is computed
			// under its own (so it never runs twice at once).
			if want := workflows.MaterializeID("v", c.wantEnd); r.computedBy[0] != want {
				t.Errorf("computed by workflow %s, want the window's id %s", r.computedBy[0], want)
			}
			if got := r.computes[0].Created; !got.Equal(c.wantCreated) {
				t.Errorf("created %s, want %s", got, c.wantCreated)
			}
			if len(r.pushes) != 1 || r.pushes[0].Partition.Path != parquet.WindowFile("v", c.wantEnd, -1) {
				t.Fatalf("pushes %+v: online must get exactly the partition written", r.pushes)
			}
			if res.Rows != 10 || res.Online.Written != 10 || !res.WindowEnd.Equal(c.wantEnd) {
				t.Errorf("result %+v", res)
			}
		})
	}
}

func TestMaterializeShards(t *testing.T) {
	var r recorder
	env := r.env(t)
	env.SetStartTime(e0)
	env.ExecuteWorkflow(workflows.MaterializeWorkflow, workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: day, Shards: 3})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(r.computes) != 3 || len(r.pushes) != 3 || len(r.commits) != 1 {
		t.Fatalf("computes %d, pushes %d, commits %d; want 3, 3, 1", len(r.computes), len(r.pushes), len(r.commits))
	}
	seen := map[int]bool{}
	for _, c := range r.computes {
		if c.Shards != 3 || c.Created != r.computes[0].Created {
			t.Errorf("shard input %+v: every shard must share shard count and created time", c)
		}
		seen[c.Shard] = true
	}
	if !seen[0] || !seen[1] || !seen[2] || r.commits[0].Shards != 3 {
		t.Errorf("shards %v, commit %+v", seen, r.commits[0])
	}
}

func TestMaterializeBadInputIsNotRetried(t *testing.T) {
	env := newEnv()
	var a *activities.Activities
	env.RegisterActivity(a)
	calls := 0
	env.OnActivity(a.ComputeWindow, mock.Anything, mock.Anything).Return(func(context.Context, activities.ComputeInput) (activities.ComputeOutput, error) {
		calls++
		return activities.ComputeOutput{}, temporal.NewNonRetryableApplicationError("source orders: column amount has type STRING, want float64", activities.ErrTypeBadInput, nil)
	})
	env.ExecuteWorkflow(workflows.MaterializeWorkflow, workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: day})
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "column amount has type STRING") || calls != 1 {
		t.Fatalf("err %v after %d calls; want the schema error after exactly one", err, calls)
	}
}

func TestMaterializeTransientFailureIsRetried(t *testing.T) {
	var r recorder
	env := newEnv()
	var a *activities.Activities
	env.RegisterActivity(a)
	calls := 0
	env.OnActivity(a.ComputeWindow, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ComputeInput) (activities.ComputeOutput, error) {
		calls++
		if calls < 3 {
			return activities.ComputeOutput{}, errors.New("disk hiccup")
		}
		r.computes = append(r.computes, in)
		return activities.ComputeOutput{Partition: parquet.Partition{Path: "p", Rows: 1}}, nil
	})
	env.OnActivity(a.PushOnline, mock.Anything, mock.Anything).Return(activities.OnlineStats{Rows: 1, Written: 1}, nil)
	env.OnActivity(a.MarkPublished, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(a.AppendHistory, mock.Anything, mock.Anything).Return(int64(0), nil)
	env.ExecuteWorkflow(workflows.MaterializeWorkflow, workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: day})
	if err := env.GetWorkflowError(); err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

// backfillEnv mocks the child materializations, failing the windows in fail,
// and the offline store, where no window exists yet.
func backfillEnv(t *testing.T, fail map[time.Time]bool, ran *[]time.Time) *testsuite.TestWorkflowEnvironment {
	return backfillEnvWith(t, fail, nil, ran)
}

// backfillEnvWith is backfillEnv with the windows in existing already
// stored offline.
func backfillEnvWith(t *testing.T, fail, existing map[time.Time]bool, ran *[]time.Time) *testsuite.TestWorkflowEnvironment {
	env := newEnv()
	var a *activities.Activities
	env.RegisterActivity(a)
	env.OnActivity(a.ExistingWindows, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.WindowsInput) ([]bool, error) {
		out := make([]bool, len(in.Ends))
		for i, e := range in.Ends {
			out[i] = existing[e]
		}
		return out, nil
	}).Maybe()
	env.RegisterWorkflow(workflows.MaterializeWorkflow)
	env.OnWorkflow(workflows.MaterializeWorkflow, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in workflows.MaterializeInput) (workflows.MaterializeResult, error) {
		if want := workflows.Project(in.Project).MaterializeID(in.View, in.WindowEnd); workflow.GetInfo(ctx).WorkflowExecution.ID != want {
			return workflows.MaterializeResult{}, fmt.Errorf("child id %s, want %s", workflow.GetInfo(ctx).WorkflowExecution.ID, want)
		}
		*ran = append(*ran, in.WindowEnd)
		if fail[in.WindowEnd] {
			return workflows.MaterializeResult{}, temporal.NewNonRetryableApplicationError("source missing", activities.ErrTypeBadInput, nil)
		}
		return workflows.MaterializeResult{View: in.View, WindowEnd: in.WindowEnd, Rows: 5}, nil
	})
	return env
}

func TestBackfillFansOutEveryWindowOnce(t *testing.T) {
	var ran []time.Time
	env := backfillEnv(t, nil, &ran)
	in := workflows.BackfillInput{View: "v", From: e0, To: e0.Add(7 * day), Cadence: day, Concurrency: 3}
	env.ExecuteWorkflow(workflows.BackfillWorkflow, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 7 {
		t.Fatalf("ran %d windows, want 7: %v", len(ran), ran)
	}
	seen := map[time.Time]bool{}
	for _, e := range ran {
		if seen[e] || !e.After(e0) || e.After(e0.Add(7*day)) {
			t.Fatalf("window %s run twice or outside (from, to]", e)
		}
		seen[e] = true
	}
	v, err := env.QueryWorkflow(workflows.ProgressQuery)
	if err != nil {
		t.Fatal(err)
	}
	var p workflows.Progress
	if err := v.Get(&p); err != nil {
		t.Fatal(err)
	}
	if p.Total != 7 || p.Done != 7 || p.Failed != 0 || p.Running != 0 {
		t.Fatalf("progress %+v", p)
	}
}

func TestBackfillReportsFailedWindows(t *testing.T) {
	var ran []time.Time
	bad := e0.Add(2 * day)
	env := backfillEnv(t, map[time.Time]bool{bad: true}, &ran)
	env.ExecuteWorkflow(workflows.BackfillWorkflow, workflows.BackfillInput{View: "v", From: e0, To: e0.Add(4 * day), Cadence: day})
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "1 of 4 windows failed") || !strings.Contains(err.Error(), bad.Format(time.RFC3339)) {
		t.Fatalf("err %v", err)
	}
	if len(ran) != 4 {
		t.Fatalf("a failed window stopped the others: ran %d", len(ran))
	}
}

func TestBackfillContinuesAsNewOnLongRanges(t *testing.T) {
	var ran []time.Time
	env := backfillEnv(t, nil, &ran)
	env.ExecuteWorkflow(workflows.BackfillWorkflow, workflows.BackfillInput{View: "v", From: e0, To: e0.Add(300 * time.Hour), Cadence: time.Hour, Concurrency: 8})
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("err %v, want continue-as-new", err)
	}
	if len(ran) != 100 {
		t.Fatalf("first run did %d windows, want 100", len(ran))
	}
	// The next run resumes at the cursor with the counts so far.
	var next workflows.BackfillInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Next != 100 || next.Progress.Done != 100 || next.Progress.Total != 300 {
		t.Fatalf("continued with %+v", next)
	}
	var ran2 []time.Time
	env2 := backfillEnv(t, nil, &ran2)
	env2.ExecuteWorkflow(workflows.BackfillWorkflow, next)
	first := slices.MinFunc(ran2, func(a, b time.Time) int { return a.Compare(b) })
	if err := env2.GetWorkflowError(); !errors.As(err, &can) || len(ran2) != 100 || !first.Equal(e0.Add(101*time.Hour)) {
		t.Fatalf("second run: err %v, %d windows, first %v", err, len(ran2), first)
	}
}

func TestBackfillRejectsEmptyRange(t *testing.T) {
	var ran []time.Time
	env := backfillEnv(t, nil, &ran)
	env.ExecuteWorkflow(workflows.BackfillWorkflow, workflows.BackfillInput{View: "v", From: e0, To: e0, Cadence: day})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "bad backfill") {
		t.Fatalf("err %v", err)
	}
}
