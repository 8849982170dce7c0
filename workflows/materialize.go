package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/skewfree/skewfree/activities"
	"github.com/skewfree/skewfree/features"
	"github.com/skewfree/skewfree/store/parquet"
)

// MaterializeInput names a window. A schedule starts the workflow with only
// View set: the window end is then the schedule's nominal time, never the
// clock, so a late run, a retry or a backfill computes the same window.
type MaterializeInput struct {
	View      string
	WindowEnd time.Time `json:",omitzero"` // zero: the nominal time of the scheduled run
	// Cadence and Lateness come from the registry through the starter or the
	// schedule, so the workflow needs no registry (it does no I/O).
	Cadence  time.Duration
	Lateness time.Duration
	// Shards splits the window by entity-key hash into that many activities,
	// each writing its own part file; 0 or 1 computes it in one.
	Shards int
	// Timeouts of the window's activities; zero: the defaults.
	Timeouts Timeouts `json:",omitzero"`
	// Project qualifies the window's canonical workflow id ("": the default
	// project), see Project.
	Project string `json:",omitempty"`
}

// MaterializeResult is what a window run wrote.
type MaterializeResult struct {
	View       string
	WindowEnd  time.Time
	Partitions []parquet.Partition
	Events     int64
	Rows       int64
	Online     activities.OnlineStats
	// Created is the run's created_timestamp: its version of the window.
	Created time.Time `json:",omitzero"`
	// Published is when the version was marked published: a workflow time
	// taken after every push returned. Zero when the run never published.
	Published time.Time `json:",omitzero"`
	// Joined is set when this run did not compute the window itself: the
	// window's canonical run (this id) was already running, see
	// runAsCanonical.
	Joined string `json:",omitempty"`
}

// InputFor builds the input of a view's window from its definition.
func InputFor(v *features.View, windowEnd time.Time) MaterializeInput {
	return MaterializeInput{View: v.Name, WindowEnd: windowEnd, Cadence: v.Cadence.Duration(), Lateness: v.Lateness, Shards: v.Shards}
}

var a *activities.Activities

// computeOptions: computing a window reads and writes files; big windows
// take minutes, so heartbeats tell a dead worker from a slow one.
var computeOptions = workflow.ActivityOptions{
	StartToCloseTimeout: DefaultActivityTimeout,
	HeartbeatTimeout:    DefaultHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		MaximumAttempts:        10,
		NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
	},
}

// MaterializeWorkflow computes one window of a view with the shared
// transform, writes the offline partition, then pushes exactly the rows of
// that partition to the online store.
//
// Allowed lateness delays the computation: the workflow starts at the
// window end (so its id is the window end) and waits on a durable timer
// until window end + lateness before reading the source. Windows are not
// re-materialized later on their own; re-running one adds a version (its own
// created_timestamp) and keeps the earlier ones.
//
// Once every push has succeeded, the run marks its version published at
// workflow.Now: as-known-at training sets see the version from then on.
func MaterializeWorkflow(ctx workflow.Context, in MaterializeInput) (MaterializeResult, error) {
	info := workflow.GetInfo(ctx)
	if in.View == "" || in.Cadence <= 0 {
		return MaterializeResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("bad input: view %q, cadence %s", in.View, in.Cadence), activities.ErrTypeBadInput, nil)
	}
	end := in.WindowEnd
	if end.IsZero() {
		if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(ScheduledStartAttr); ok {
			end = t
		} else if t, ok := windowFromID(info.WorkflowExecution.ID, Project(in.Project), in.View); ok {
			end = t
		} else {
			return MaterializeResult{}, temporal.NewNonRetryableApplicationError(
				"no window end: pass WindowEnd, or start the workflow from the view's schedule", activities.ErrTypeBadInput, nil)
		}
		// Scheduled and backfilled runs have aligned nominal times; a
		// "trigger now" from the UI does not, and means the latest window
		// that has ended.
		end = end.Truncate(in.Cadence)
	}
	end = end.UTC()
	if !end.Equal(end.Truncate(in.Cadence)) {
		return MaterializeResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("window end %s of view %s is not aligned to its %s cadence", end.Format(time.RFC3339Nano), in.View, in.Cadence),
			activities.ErrTypeBadInput, nil)
	}
	// The memo makes every run's window visible in the UI, however it was
	// started. (Search attributes are set by whoever starts the workflow:
	// an upsert of an attribute the namespace lacks would wedge the task.)
	if err := workflow.UpsertMemo(ctx, map[string]any{"view": in.View, "window_end": end.Format(time.RFC3339)}); err != nil {
		return MaterializeResult{}, err
	}
	if res, ok, err := runAsCanonical(ctx, in, end); ok {
		return res, err
	}

	if wait := end.Add(in.Lateness).Sub(workflow.Now(ctx)); wait > 0 {
		if err := workflow.Sleep(ctx, wait); err != nil {
			return MaterializeResult{}, err
		}
	}
	// One created_timestamp for every attempt and shard of this run.
	created := workflow.Now(ctx).UTC().Truncate(time.Microsecond)
	res := MaterializeResult{View: in.View, WindowEnd: end, Created: created}
	actx := workflow.WithActivityOptions(ctx, in.Timeouts.activityOptions())

	shards := max(in.Shards, 1)
	var inputs []activities.ComputeInput
	if shards == 1 {
		inputs = []activities.ComputeInput{{View: in.View, WindowEnd: end, Created: created, Shard: -1}}
	} else {
		for i := range shards {
			inputs = append(inputs, activities.ComputeInput{View: in.View, WindowEnd: end, Created: created, Shard: i, Shards: shards})
		}
	}
	futures := make([]workflow.Future, len(inputs))
	for i, ci := range inputs {
		futures[i] = workflow.ExecuteActivity(actx, a.ComputeWindow, ci)
	}
	// A failed data-quality check (a CheckFailed activity error) ends the
	// run with that error once whatever the view's policy still allows
	// (the flagged version's push and publication) is done.
	var checkErr error
	var checkFailure activities.CheckFailure
	for _, f := range futures {
		var out activities.ComputeOutput
		if err := f.Get(ctx, &out); err != nil {
			cf, ok := activities.AsCheckFailure(err)
			if !ok {
				return res, fmt.Errorf("compute %s %s: %w", in.View, end.Format(time.RFC3339), err)
			}
			checkErr, checkFailure, out = err, cf, cf.Output
			if cf.Discarded {
				res.Events += out.Events
				continue
			}
		}
		res.Partitions = append(res.Partitions, out.Partition)
		res.Events += out.Events
		res.Rows += out.Partition.Rows
	}
	if shards > 1 {
		commit := activities.ComputeInput{View: in.View, WindowEnd: end, Created: created, Shards: shards, Shard: -1}
		if err := workflow.ExecuteActivity(actx, a.CommitShards, commit).Get(ctx, nil); err != nil {
			cf, ok := activities.AsCheckFailure(err)
			if !ok {
				return res, fmt.Errorf("commit shards: %w", err)
			}
			checkErr, checkFailure = err, cf
			if cf.Discarded {
				res.Partitions, res.Rows = nil, 0
			}
		}
	}
	// The version's files are final now (checks done, shards committed):
	// the second history (BigQuery) gets exactly them, flagged ones too,
	// as the Parquet history keeps them, and the run's records (a
	// discarded run's too). Histories recorded before this step skip it.
	if workflow.GetVersion(ctx, historyChange, workflow.DefaultVersion, 1) == 1 {
		hin := activities.HistoryInput{View: in.View, WindowEnd: end, Created: created, Shards: shards, Partitions: res.Partitions}
		if err := workflow.ExecuteActivity(actx, a.AppendHistory, hin).Get(ctx, nil); err != nil {
			return res, fmt.Errorf("append history: %w", err)
		}
	}
	if checkErr != nil && (!checkFailure.PushOnline || len(res.Partitions) == 0) {
		return res, checkErr
	}
	pushes := make([]workflow.Future, len(res.Partitions))
	for i, p := range res.Partitions {
		pushes[i] = workflow.ExecuteActivity(actx, a.PushOnline, activities.PushInput{View: in.View, Partition: p})
	}
	perPush := make([]activities.OnlineStats, len(pushes))
	for i, f := range pushes {
		var st activities.OnlineStats
		if err := f.Get(ctx, &st); err != nil {
			return res, fmt.Errorf("push online: %w", err)
		}
		res.Online.Add(st)
		perPush[i] = st
	}
	// Histories recorded before publication existed end here.
	if workflow.GetVersion(ctx, publishChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return res, checkErr
	}
	published := ceilMicro(workflow.Now(ctx))
	pub := activities.PublishInput{View: in.View, WindowEnd: end, Created: created, Published: published, Partitions: res.Partitions, Online: perPush}
	if err := workflow.ExecuteActivity(actx, a.MarkPublished, pub).Get(ctx, nil); err != nil {
		return res, fmt.Errorf("mark published: %w", err)
	}
	res.Published = published
	return res, checkErr
}

// historyChange is the workflow.GetVersion change id of the step that
// appends the committed version to the second history.
const historyChange = "append-history"

// publishChange is the workflow.GetVersion change id of the publication step.
const publishChange = "mark-published"

// ceilMicro rounds t up to the microsecond: a publication time is never
// before the moment it stands for.
func ceilMicro(t time.Time) time.Time {
	t = t.UTC()
	if c := t.Truncate(time.Microsecond); !c.Equal(t) {
		return c.Add(time.Microsecond)
	}
	return t
}
