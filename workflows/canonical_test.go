package workflows_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/store/parquet"
	"github.com/skewfree/skewfree/workflows"
)

// twoRuns starts the window's canonical run, then, while it computes, a run
// of the same window under another id (as "Trigger now" does).
func twoRuns(ctx workflow.Context, in workflows.MaterializeInput, otherID string) ([]workflows.MaterializeResult, error) {
	canonical := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: workflows.Project(in.Project).MaterializeID(in.View, in.WindowEnd)})
	f1 := workflow.ExecuteChildWorkflow(canonical, workflows.MaterializeWorkflow, in)
	if err := f1.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return nil, err
	}
	f2 := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: otherID}), workflows.MaterializeWorkflow, in)
	out := make([]workflows.MaterializeResult, 2)
	if err := f2.Get(ctx, &out[1]); err != nil {
		return nil, err
	}
	if err := f1.Get(ctx, &out[0]); err != nil {
		return nil, err
	}
	return out, nil
}

// A run under a foreign id joins the window's run in progress: the window is
// computed once.
func TestTriggeredRunJoinsTheRunningWindow(t *testing.T) {
	for _, project := range []string{"", "team-a"} {
		t.Run("project "+project, func(t *testing.T) {
			env := newEnv()
			var a *activities.Activities
			env.RegisterActivity(a)
			env.RegisterWorkflow(workflows.MaterializeWorkflow)
			env.RegisterWorkflow(twoRuns)
			var computedBy []string
			env.OnActivity(a.ComputeWindow, mock.Anything, mock.Anything).After(time.Hour).Return(func(ctx context.Context, in activities.ComputeInput) (activities.ComputeOutput, error) {
				computedBy = append(computedBy, activity.GetInfo(ctx).WorkflowExecution.ID)
				return activities.ComputeOutput{Partition: parquet.Partition{Path: "p", Rows: 10}}, nil
			})
			env.OnActivity(a.PushOnline, mock.Anything, mock.Anything).Return(activities.OnlineStats{Rows: 10, Written: 10}, nil)
			env.OnActivity(a.MarkPublished, mock.Anything, mock.Anything).Return(nil)
			env.OnActivity(a.AppendHistory, mock.Anything, mock.Anything).Return(int64(0), nil)
			env.SetStartTime(e0.Add(time.Minute))
			in := workflows.MaterializeInput{View: "v", WindowEnd: e0, Cadence: time.Hour, Project: project}
			env.ExecuteWorkflow(twoRuns, in, "materialize-v-2026-11-20T00:01:00Z")
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res []workflows.MaterializeResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			canonical := workflows.Project(project).MaterializeID("v", e0)
			if !slices.Equal(computedBy, []string{canonical}) {
				t.Fatalf("window computed by %v, want once by %s", computedBy, canonical)
			}
			if res[0].Rows != 10 || res[0].Joined != "" || res[1].Joined != canonical || res[1].Rows != 0 || !res[1].WindowEnd.Equal(e0) {
				t.Fatalf("results %+v", res)
			}
		})
	}
}

func TestProjectIDs(t *testing.T) {
	cases := []struct {
		project                        workflows.Project
		queue, schedule, window, bfill string
	}{
		{"", "skewfree", "materialize-v", "materialize-v-2026-11-20T00:00:00Z", "backfill-v-2026-11-20T00:00:00Z-2026-11-21T00:00:00Z"},
		{"skewfree", "skewfree", "materialize-v", "materialize-v-2026-11-20T00:00:00Z", "backfill-v-2026-11-20T00:00:00Z-2026-11-21T00:00:00Z"},
		{"team-a", "team-a.skewfree", "team-a.materialize-v", "team-a.materialize-v-2026-11-20T00:00:00Z", "team-a.backfill-v-2026-11-20T00:00:00Z-2026-11-21T00:00:00Z"},
	}
	for _, c := range cases {
		p := c.project
		got := []string{p.TaskQueue(), p.ScheduleID("v"), p.MaterializeID("v", e0), p.BackfillID("v", e0, e0.Add(day))}
		if want := []string{c.queue, c.schedule, c.window, c.bfill}; !slices.Equal(got, want) {
			t.Errorf("project %q: %v, want %v", p, got, want)
		}
	}
}

// A scheduled run of another project finds its window in its own ids.
func TestProjectScheduledRunWindowFromID(t *testing.T) {
	var r recorder
	env := r.env(t)
	env.SetStartTime(e0.Add(9 * time.Hour))
	id := workflows.Project("team-a").MaterializeID("v", e0.Add(3*time.Hour))
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: id})
	env.ExecuteWorkflow(workflows.MaterializeWorkflow, workflows.MaterializeInput{View: "v", Cadence: time.Hour, Project: "team-a"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(r.computes) != 1 || !r.computes[0].WindowEnd.Equal(e0.Add(3*time.Hour)) || r.computedBy[0] != id {
		t.Fatalf("computes %+v by %v", r.computes, r.computedBy)
	}
}

// Windows already stored are skipped unless Rerun; skipped ones are counted.
func TestBackfillSkipsExistingWindows(t *testing.T) {
	existing := map[time.Time]bool{e0.Add(day): true, e0.Add(3 * day): true, e0.Add(4 * day): true}
	for _, rerun := range []bool{false, true} {
		var ran []time.Time
		env := backfillEnvWith(t, nil, existing, &ran)
		env.ExecuteWorkflow(workflows.BackfillWorkflow, workflows.BackfillInput{View: "v", From: e0, To: e0.Add(5 * day), Cadence: day, Rerun: rerun})
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		var p workflows.Progress
		if err := env.GetWorkflowResult(&p); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ran, func(a, b time.Time) int { return a.Compare(b) })
		want, skipped := []time.Time{e0.Add(2 * day), e0.Add(5 * day)}, 3
		if rerun {
			want, skipped = []time.Time{e0.Add(day), e0.Add(2 * day), e0.Add(3 * day), e0.Add(4 * day), e0.Add(5 * day)}, 0
		}
		if !slices.Equal(ran, want) || p.Skipped != skipped || p.Done != len(want) || p.Total != 5 {
			t.Fatalf("rerun %v: ran %v, progress %+v; want %v run, %d skipped", rerun, ran, p, want, skipped)
		}
	}
}

// A long backfill over stored windows skips them across continue-as-new.
func TestBackfillSkipsAcrossContinueAsNew(t *testing.T) {
	existing := map[time.Time]bool{}
	for h := 1; h <= 12000; h++ {
		if h%1000 != 0 {
			existing[e0.Add(time.Duration(h)*time.Hour)] = true
		}
	}
	in := workflows.BackfillInput{View: "v", From: e0, To: e0.Add(12000 * time.Hour), Cadence: time.Hour}
	var all []time.Time
	for run := 0; ; run++ {
		var ran []time.Time
		env := backfillEnvWith(t, nil, existing, &ran)
		env.ExecuteWorkflow(workflows.BackfillWorkflow, in)
		all = append(all, ran...)
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if err == nil {
			var p workflows.Progress
			if err := env.GetWorkflowResult(&p); err != nil {
				t.Fatal(err)
			}
			if p.Skipped != 11988 || p.Done != 12 || len(all) != 12 || run == 0 {
				t.Fatalf("after %d runs: progress %+v, ran %d", run+1, p, len(all))
			}
			return
		}
		if !errors.As(err, &can) || run > 5 {
			t.Fatalf("run %d: %v", run, err)
		}
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
			t.Fatal(err)
		}
	}
}

// Failed and joined window lists keep counts and only their first windows.
func TestBackfillStateIsBounded(t *testing.T) {
	fail := map[time.Time]bool{}
	for h := 1; h <= 150; h++ {
		fail[e0.Add(time.Duration(h)*time.Hour)] = true
	}
	in := workflows.BackfillInput{View: "v", From: e0, To: e0.Add(150 * time.Hour), Cadence: time.Hour, Concurrency: 8}
	var ran []time.Time
	env := backfillEnv(t, fail, &ran)
	env.ExecuteWorkflow(workflows.BackfillWorkflow, in)
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("err %v, want continue-as-new", err)
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.Progress.Failed != 100 || len(in.Progress.FailedWindows) != workflows.MaxListedWindows {
		t.Fatalf("carried %d failed windows listed for %d failed, want %d", len(in.Progress.FailedWindows), in.Progress.Failed, workflows.MaxListedWindows)
	}
	env = backfillEnv(t, fail, &ran)
	env.ExecuteWorkflow(workflows.BackfillWorkflow, in)
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "150 of 150 windows failed") || !strings.Contains(err.Error(), "and 130 more") {
		t.Fatalf("err %v", err)
	}
	if n := strings.Count(err.Error(), "source missing"); n != workflows.MaxListedWindows {
		t.Fatalf("error lists %d windows, want %d", n, workflows.MaxListedWindows)
	}
}
